//! Load simulation for Quiver's online path: `quiver simulate`.
//!
//! Read [`run`] first: it takes a [`SimPlan`] — [`SimSettings`] (target,
//! workload, load model), a prepared [`Target`] and a [`KeySpace`] — drives
//! one [`Connection`] per worker in a closed or an open loop and returns a
//! [`SimResult`] of HdrHistograms, per-second rows and error counts.
//! [`report`] turns a result into the terminal table, a result JSON, a CSV,
//! PNG charts and one HTML page; [`SimResult::merge`] combines the results of
//! several generators exactly. Reporting sits above the engine: `report`
//! reads results, and nothing that runs a simulation (`engine`, `target`,
//! `workload`, `record`, `live`, `result`) imports `report` (a test checks).
//!
//! Two decisions a reader might question. The open loop measures response
//! time from each request's *scheduled* time, so a stall of the target shows
//! in the tail rather than as requests the generator quietly never sent
//! (coordinated omission; see [`engine`]). And nothing is shared between
//! workers on the hot path: each owns its connection, id picker and
//! [`record::Recorder`], merged only when the run ends.
#![deny(missing_docs)]

pub mod engine;
mod error;
pub mod live;
pub mod record;
pub mod report;
pub mod result;
mod settings;
pub mod target;
mod units;
pub mod workload;

pub use engine::{KeySource, SimPlan, run, simulate};
pub use error::SimError;
pub use result::{Latency, SimResult, Summary, Totals};
pub use settings::{
    Access, FeatureSelection, GrpcRpc, KeyDistribution, LoadModel, RequestHeader, SimSettings,
    StopCondition, TargetSpec, parse_duration,
};
pub use target::{Connection, Target};
pub use workload::{IdPicker, KeySpace};

#[cfg(test)]
mod tests {
    /// The engine's modules must not import `report` (or `live` and `record`
    /// each other's way back): reporting is a layer above running.
    #[test]
    fn the_engine_does_not_import_the_report() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for (file, forbidden) in [
            ("engine.rs", "report"),
            ("target/mod.rs", "report"),
            ("target/http.rs", "report"),
            ("target/grpc.rs", "report"),
            ("target/tls.rs", "report"),
            ("workload.rs", "report"),
            ("record.rs", "report"),
            ("record.rs", "live"),
            ("live.rs", "report"),
            ("result.rs", "report"),
            ("settings.rs", "report"),
        ] {
            let text = std::fs::read_to_string(src.join(file)).unwrap();
            for pattern in [format!("crate::{forbidden}"), format!("super::{forbidden}")] {
                assert!(
                    !text.contains(&pattern),
                    "{file} uses {pattern}: the engine must not depend on it"
                );
            }
        }
    }
}

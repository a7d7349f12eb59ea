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
//!
//! # Example
//!
//! A closed loop of two workers against the in-process no-op target (what
//! `quiver simulate --target noop` measures: the generator itself), stopped
//! after 1,000 requests:
//!
//! ```
//! use quiver_sim::{
//!     FeatureSelection, KeyDistribution, KeySpace, LoadModel, SimPlan, SimSettings,
//!     StopCondition, Target, TargetSpec,
//! };
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = SimSettings {
//!     target: TargetSpec::Noop,
//!     features: FeatureSelection::Features(vec!["energy_features:energy_sum".to_string()]),
//!     entity_key: "id".to_string(),
//!     batch_size: 10,
//!     distribution: KeyDistribution::Zipf { exponent: 1.0 },
//!     load: LoadModel::Closed { workers: 2 },
//!     warmup: Duration::ZERO,
//!     stop: StopCondition::Requests(1_000),
//!     timeout: Duration::from_secs(1),
//!     seed: 7,
//!     access: Default::default(),
//! };
//! let keys = KeySpace::new((2..102).map(|i| format!("MAC{i:06}")).collect(), false)?;
//! let target = Target::prepare(&settings, None, &keys).await?;
//! let plan = SimPlan { settings, target, keys, live_line: false };
//! let result = quiver_sim::run(plan).await?;
//! assert_eq!(result.totals.requests, 1_000);
//! assert_eq!(result.totals.errors, 0);
//! # Ok(())
//! # }
//! ```
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

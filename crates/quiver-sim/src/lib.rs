//! Load simulation for Quiver's online path: `quiver simulate`.
//!
//! Read [`run`] first: it takes a [`SimPlan`] — [`SimSettings`] (target,
//! workload, load model), a prepared [`Target`] and a [`KeySpace`] — drives
//! one [`Connection`] per worker in a closed or an open loop and returns a
//! [`SimResult`] of HdrHistograms, per-second rows and error counts.
//! [`report`] turns a result into the terminal table, a result JSON, a CSV,
//! PNG charts and one HTML page; [`SimResult::merge`] combines the results of
//! several generators exactly.
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

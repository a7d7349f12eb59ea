//! The online store: the latest feature row of every entity, read-optimised.
//!
//! Read [`OnlineStore`] first. It is the one seam between the feature job and
//! the server on one side and a storage backend on the other; every backend
//! (the embedded store here, Redis and Cassandra in their own crates) passes
//! the same conformance suite in `quiver-test`.
//!
//! Rows cross the seam as [`FeatureRow`]s — an event time and typed values in
//! the view's declared order — and are stored as the bytes of [`codec`], so a
//! backend never needs to understand Arrow or the feature definitions.
#![deny(missing_docs)]

pub mod codec;
pub mod embedded;
mod error;
mod row;
mod store;
pub mod value_json;

pub use embedded::{EmbeddedStore, EmbeddedStoreConfig};
pub use error::{BoxError, OnlineError, error_chain};
/// For backends: a driver error that ends a chain (see its doc).
pub use quiver_core::Foreign;
pub use row::{EntityRow, FeatureRow, FeatureValue, ViewLayout};
pub use store::{OnlineStore, WriteOutcome};

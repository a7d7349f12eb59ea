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
//!
//! # Example
//!
//! The embedded store in a folder of its own: prepare a view's layout, write
//! rows, read them back. The later event time wins, and a key without a row
//! is `None`, not an error.
//!
//! ```
//! use quiver_core::ValueType;
//! use quiver_online::{
//!     EmbeddedStore, EmbeddedStoreConfig, EntityRow, FeatureRow, FeatureValue, OnlineStore,
//!     ViewLayout,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = EmbeddedStore::open(&EmbeddedStoreConfig::at(dir.path()))?;
//! let layout = ViewLayout {
//!     view: "energy_features".to_string(),
//!     entity_key: "id".to_string(),
//!     event_time: "day_date".to_string(),
//!     features: vec![("energy_sum".to_string(), ValueType::Float64)],
//! };
//! store.prepare(std::slice::from_ref(&layout)).await?;
//!
//! let row = |day: i64, sum: f64| FeatureRow {
//!     event_time_micros: day * 86_400_000_000,
//!     values: vec![FeatureValue::Float64(sum)],
//! };
//! let household = |row| EntityRow { key: "MAC000002".to_string(), row };
//! store.write(&layout, &[household(row(2, 7.5))], None).await?;
//! // A backfill of an older day never rolls the store back.
//! let outcome = store.write(&layout, &[household(row(1, 3.0))], None).await?;
//! assert_eq!((outcome.written, outcome.skipped_older), (0, 1));
//!
//! let found = store.read("energy_features", &["MAC000002", "MAC000003"]).await?;
//! assert_eq!(found, vec![Some(row(2, 7.5)), None]);
//! # Ok(())
//! # }
//! ```
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

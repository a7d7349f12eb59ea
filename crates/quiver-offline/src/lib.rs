//! The offline store: every feature row ever computed, as one Delta Lake table
//! per feature view, partitioned by the view's event-time column.
//!
//! Read [`OfflineStore`] first. Tables are written with delta-rs and follow
//! the Delta protocol as Spark reads it, so Spark, pandas, polars and DuckDB
//! read them directly; every job is one atomic Delta commit, which is what
//! lets a failed job leave the table exactly as it was and gives time travel
//! (`--as-of-version N`, `--as-of TIME`) for free. [`TrainingSet`] joins a
//! file of entity rows to the tables point in time correctly.
//!
//! # Example
//!
//! Two rows of a one-feature view written as the table's first version,
//! which the table's log then describes:
//!
//! ```
//! use quiver_core::FeatureRepo;
//! use quiver_offline::arrow::array::{
//!     ArrayRef, Date32Array, Float64Array, RecordBatch, StringArray,
//! };
//! use quiver_offline::{OfflineStore, WriteMode};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! std::fs::write(
//!     dir.path().join("quiver.toml"),
//!     r#"
//! [project]
//! name = "example"
//! [entities.household]
//! join_key = "id"
//! [sources.daily]
//! format = "csv"
//! location = "data/daily.csv"
//! [sources.daily.schema]
//! id = "string"
//! day = "date"
//! energy_sum = "float64"
//! [feature_views.energy]
//! source = "daily"
//! entity = "household"
//! event_time = "day"
//! sql = "SELECT id, day, energy_sum FROM daily"
//! [feature_views.energy.features]
//! energy_sum = "float64"
//! "#,
//! )?;
//! let repo = FeatureRepo::load(dir.path())?;
//! let view = repo.feature_view("energy")?;
//! let rows = RecordBatch::try_from_iter([
//!     ("id", Arc::new(StringArray::from(vec!["MAC000002", "MAC000003"])) as ArrayRef),
//!     ("day", Arc::new(Date32Array::from(vec![15_000, 15_000])) as ArrayRef),
//!     ("energy_sum", Arc::new(Float64Array::from(vec![7.5, 3.0])) as ArrayRef),
//! ])?;
//!
//! let offline = OfflineStore::for_repo(&repo)?;
//! assert_eq!(offline.version("energy").await?, None);
//! offline.write(view, "id", vec![rows], WriteMode::Append).await?;
//! assert_eq!(offline.version("energy").await?, Some(0));
//! let log = offline.log("energy").await?;
//! assert_eq!(log[0].rows_added, Some(2));
//! assert!(dir.path().join("data/offline/energy/_delta_log").is_dir());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod data_files;
mod error;
mod maintenance;
mod memory;
mod partition_order;
mod storage;
mod store;
mod table_log;
mod training_set;

pub use error::OfflineError;
pub use maintenance::{OptimizeSummary, VacuumSummary};
pub use storage::{SUPPORTED_SCHEMES, StorageOptions, register_cloud_handlers};
pub use store::{LatestRows, OfflineCommit, OfflineStore, Selection, StagedFiles, WriteMode};
pub use table_log::{AsOf, TableCommit};
pub use training_set::{
    TableFormat, TrainingSet, TrainingSetSummary, ViewFeatures, ViewMatch, read_table,
};

/// Arrow, as used by delta-rs and DataFusion.
pub use deltalake::arrow;
/// DataFusion, as used by delta-rs. Re-exported so that every Quiver crate
/// builds plans with the one version the Delta writer understands.
pub use deltalake::datafusion;

//! The offline store: every feature row ever computed, as one Delta Lake table
//! per feature view, partitioned by the view's event-time column.
//!
//! Read [`OfflineStore`] first. Tables are written with delta-rs and follow
//! the Delta protocol as Spark reads it, so Spark, pandas, polars and DuckDB
//! read them directly; every job is one atomic Delta commit, which is what
//! lets a failed job leave the table exactly as it was and gives time travel
//! (`--as-of-version N`, `--as-of TIME`) for free. [`TrainingSet`] joins a
//! file of entity rows to the tables point in time correctly.
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

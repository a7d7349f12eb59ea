//! The offline store: every feature row ever computed, as one Delta Lake table
//! per feature view, partitioned by the view's event-time column.
//!
//! Read [`OfflineStore`] first. Tables are written with delta-rs and follow
//! the Delta protocol as Spark reads it, so Spark, pandas, polars and DuckDB
//! read them directly; every job is one atomic Delta commit, which is what
//! lets a failed job leave the table exactly as it was and gives time travel
//! (`history --version N`) for free.
#![deny(missing_docs)]

mod data_files;
mod error;
mod memory;
mod partition_order;
mod store;

pub use error::OfflineError;
pub use store::{OfflineCommit, OfflineStore, WriteMode};

/// Arrow, as used by delta-rs and DataFusion.
pub use deltalake::arrow;
/// DataFusion, as used by delta-rs. Re-exported so that every Quiver crate
/// builds plans with the one version the Delta writer understands.
pub use deltalake::datafusion;

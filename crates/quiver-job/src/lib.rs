//! The feature job: one view's SQL, computed once, written to both stores.
//!
//! Read [`run_view`] first. It reads the view's batch source with Apache
//! DataFusion, runs the view's SQL, checks the result (declared columns, no
//! duplicate entity-and-time pairs), and hands the *same* Arrow record batches
//! to the offline store (one atomic Delta commit) and, reduced to the latest
//! row per entity, to the online store (one atomic write that also records the
//! Delta version it reflects). If the online half fails, the Delta commit is
//! undone; if the process dies between the two, the next run sees the online
//! store's recorded version lag behind the table's and rewrites the online
//! rows from the table before doing anything else.
//!
//! The rows stream: DataFusion computes the view and sorts its output by
//! event time and key under a memory limit (sorts and sort-merge joins spill
//! to disk beyond it), and one pass over the sorted stream checks for
//! duplicates, drops rows the table already holds, keeps each entity's latest
//! row and writes each event-time partition as its rows arrive. The job's
//! memory is the limit plus one row per entity, not its data.
//!
//! [`validate_view`] is the SQL half of `quiver apply`: it plans the query
//! without reading data and reports every mismatch with the declaration.
//!
//! # Example
//!
//! The demo's repository with ten days of two households: one run writes
//! every row offline and each household's latest row online; a rerun over
//! the same input writes nothing.
//!
//! ```
//! use chrono::NaiveDate;
//! use quiver_core::{FeatureRepo, scaffold};
//! use quiver_datagen::energy::{self, EnergyConfig};
//! use quiver_job::{RunOptions, run_view};
//! use quiver_offline::OfflineStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! scaffold::init_energy_repo(dir.path())?;
//! let data = EnergyConfig {
//!     households: 2,
//!     first_day: NaiveDate::from_ymd_opt(2013, 1, 1).unwrap(),
//!     last_day: NaiveDate::from_ymd_opt(2013, 1, 10).unwrap(),
//!     max_start_offset: 0,
//!     ..EnergyConfig::default()
//! };
//! let csv = dir.path().join(scaffold::ENERGY_SOURCE_FILE);
//! let generated = energy::write_csv_file(&data, &csv, |_| {})?;
//!
//! let repo = FeatureRepo::load(dir.path())?;
//! let online = quiver_backends::open_online_store(&repo).await?;
//! let offline = OfflineStore::for_repo(&repo)?;
//! let view = scaffold::ENERGY_VIEW;
//!
//! let first = run_view(&repo, view, online.as_ref(), &offline, RunOptions::default()).await?;
//! assert_eq!(generated.rows, 20);
//! assert_eq!(first.offline_rows_written, generated.rows);
//! assert_eq!(first.online_rows_written, 2);
//!
//! let again = run_view(&repo, view, online.as_ref(), &offline, RunOptions::default()).await?;
//! assert_eq!(again.offline_rows_written, 0);
//! assert_eq!(again.offline_version, first.offline_version);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod arrow_types;
mod error;
mod materialize;
mod online_rows;
mod progress;
mod run;
mod sliding_windows;
mod sources;
mod validate;

pub use arrow_types::arrow_type;
pub use error::{DuplicateRows, JobError};
pub use materialize::{MaterializeOptions, MaterializeSummary, materialize};
pub use online_rows::{LatestRowCollector, entity_rows, latest_rows_per_entity};
pub use progress::Progress;
pub use run::{DEFAULT_MEMORY_LIMIT, RunOptions, RunSummary, run_view};
pub use sliding_windows::SlidingRowsWindows;
pub use sources::session_with_source;
pub use validate::{ValidatedView, validate_repo, validate_view};

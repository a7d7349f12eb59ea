//! Errors of the feature job.

use quiver_core::DefinitionError;
use quiver_online::error_chain;
use std::path::PathBuf;

/// Why a job did not complete. Whatever the variant, both stores are as they
/// were before the job (see the crate docs for the one recoverable exception).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The definitions are wrong.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// The view asked for is not defined.
    #[error(transparent)]
    Reference(#[from] quiver_core::ReferenceError),
    /// The source's data is not where the definition says.
    #[error("source `{source_name}`: no data at {location}")]
    SourceMissing {
        /// The source.
        source_name: String,
        /// Where it was expected.
        location: String,
    },
    /// The source has no rows.
    #[error("source `{source_name}` ({location}) has no rows; nothing was written")]
    EmptySource {
        /// The source.
        source_name: String,
        /// Where it is.
        location: String,
    },
    /// Reading the source or running the SQL failed (a malformed CSV row, a
    /// value of the wrong type …); the message names the file and line.
    #[error(
        "feature view `{view}`: reading source `{source_name}` ({location}) or running the view's SQL failed"
    )]
    Compute {
        /// The view.
        view: String,
        /// The source.
        source_name: String,
        /// Where the source is.
        location: String,
        /// DataFusion's report.
        #[source]
        source: quiver_core::Foreign,
    },
    /// Two output rows share an entity key and an event time (boxed: the
    /// details would make every `Result<_, JobError>` twice as large).
    #[error(transparent)]
    DuplicateRows(Box<DuplicateRows>),
    /// A `--start`/`--end` value is not a date or time.
    #[error("`{value}` is not a valid {what}: write YYYY-MM-DD or an RFC 3339 time")]
    BadRange {
        /// The value given.
        value: String,
        /// `start` or `end`.
        what: &'static str,
    },
    /// The offline store failed; nothing was committed.
    #[error(transparent)]
    Offline(#[from] quiver_offline::OfflineError),
    /// Another job holds the view's lock.
    #[error("another `quiver run {view}` is running (lock {}); wait for it to finish", lock.display())]
    Busy {
        /// The view.
        view: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// The offline table changed while this job computed (another writer).
    #[error(
        "the offline table of `{view}` moved from version {expected} to {found} while this job ran; nothing was written, run it again"
    )]
    TableMoved {
        /// The view.
        view: String,
        /// Version the job started from.
        expected: u64,
        /// Version found before committing.
        found: u64,
    },
    /// The view's declared columns no longer match its offline table.
    #[error(
        "feature view `{view}`: its offline table {table} has other columns than the view now declares (added: {added}; removed: {removed}). Quiver does not migrate tables yet: to rebuild the view from its source, delete {table} and run it again"
    )]
    SchemaChanged {
        /// The view.
        view: String,
        /// The table.
        table: String,
        /// Declared columns the table lacks.
        added: String,
        /// Table columns no longer declared.
        removed: String,
    },
    /// `--start` is after `--end`.
    #[error("the range is empty: --start {start} is after --end {end}")]
    EmptyRange {
        /// The start.
        start: String,
        /// The end.
        end: String,
    },
    /// The view's SQL produced no rows on a first run.
    #[error(
        "feature view `{view}` computed no rows from source `{source_name}`; nothing was written"
    )]
    NoRows {
        /// The view.
        view: String,
        /// The source.
        source_name: String,
    },
    /// The online store would refuse the view's rows (a key it cannot hold,
    /// a write too large for it); found before the offline commit.
    #[error(
        "feature view `{view}` (source `{source_name}`, {location}): the online store would refuse its rows, so nothing was written"
    )]
    OnlineRefuses {
        /// The view.
        view: String,
        /// The source.
        source_name: String,
        /// Where the source is.
        location: String,
        /// The online store's report (boxed: it would double every `JobError`'s size).
        #[source]
        source: Box<quiver_online::OnlineError>,
    },
    /// The online store failed; the offline commit of this job was undone.
    #[error(
        "feature view `{view}`: the online store write failed, so the offline commit (version {undone_version}) was undone by restoring the previous contents"
    )]
    OnlineUndone {
        /// The view.
        view: String,
        /// The Delta version that was rolled back.
        undone_version: u64,
        /// The online store's report.
        #[source]
        source: quiver_online::OnlineError,
    },
    /// The online write failed and undoing the offline commit failed too.
    #[error(
        "feature view `{view}`: the online store write failed ({}) and undoing offline version {committed} failed too ({}); the offline table is ahead of the online store, and the next `quiver run {view}` repairs the online store from it",
        error_chain(online),
        error_chain(&**undo)
    )]
    UndoFailed {
        /// The view.
        view: String,
        /// The offline version left committed.
        committed: u64,
        /// Why the online write failed.
        online: quiver_online::OnlineError,
        /// Why the undo failed.
        undo: Box<JobError>,
    },
    /// The view's query needed more memory than the job's limit, even spilling.
    #[error(
        "feature view `{view}` needs more than its memory limit of {limit_mib} MiB even when spilling to disk (raise it with --memory-limit-mib); nothing was written: {detail}"
    )]
    MemoryLimit {
        /// The view.
        view: String,
        /// The limit, in MiB.
        limit_mib: usize,
        /// DataFusion's report.
        detail: String,
    },
    /// A source that could not be opened.
    #[error("source `{source_name}` ({location})")]
    Source {
        /// The source.
        source_name: String,
        /// Where it is.
        location: String,
        /// DataFusion's or delta-rs's report.
        #[source]
        source: quiver_core::Foreign,
    },
    /// The online store failed outside a job's commit (opening, reading, repairing).
    #[error(transparent)]
    Online(#[from] quiver_online::OnlineError),
    /// A file or folder the job needs could not be used.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// Two output rows of a feature view share an entity key and an event time.
#[derive(Debug, thiserror::Error)]
#[error(
    "feature view `{view}`: {count} rows have {key} = {key_value} and {time} = {time_value} (and {more} more duplicated pairs); source `{source_name}` ({location}) must have one row per {key} and {time}"
)]
pub struct DuplicateRows {
    /// The view.
    pub view: String,
    /// The source.
    pub source_name: String,
    /// Where the source is.
    pub location: String,
    /// Entity key column.
    pub key: String,
    /// One duplicated key.
    pub key_value: String,
    /// Event-time column.
    pub time: String,
    /// Its event time.
    pub time_value: String,
    /// How many rows share that pair.
    pub count: i64,
    /// How many other pairs are duplicated.
    pub more: usize,
}

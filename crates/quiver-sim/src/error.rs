//! [`SimError`]: everything that stops a simulation from starting or a report
//! from being written. Failed *requests* are not errors here: they are counted
//! by kind in the result (see [`crate::record::ErrorKind`]).

use std::path::PathBuf;

/// Why a simulation, a merge or a report could not be done.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A setting is out of range or settings contradict each other.
    #[error("invalid setting {setting}: {problem}")]
    Setting {
        /// The flag or field.
        setting: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The ids to ask for are missing or unusable (none, not numbers for
    /// an int64 key, one listed twice).
    #[error("the ids to ask for: {0}")]
    NoKeys(String),
    /// A feature reference or service the repository does not define.
    #[error(transparent)]
    Reference(#[from] quiver_core::ReferenceError),
    /// A view the store target reads has never been written to the online store.
    #[error("feature view `{view}` has no rows in the online store; run `quiver run {view}` first")]
    NotMaterialized {
        /// The view.
        view: String,
    },
    /// The target could not be reached before the run started.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// The target's address.
        target: String,
        /// The transport's error.
        reason: String,
    },
    /// The online store failed while preparing the run.
    #[error(transparent)]
    Online(#[from] quiver_online::OnlineError),
    /// The offline store failed while reading the key space.
    #[cfg(feature = "offline")]
    #[error(transparent)]
    Offline(#[from] quiver_offline::OfflineError),
    /// A file could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A result file is not a `quiver simulate` result.
    #[error("{path} is not a quiver simulate result: {reason}")]
    BadResult {
        /// The file.
        path: PathBuf,
        /// What did not parse.
        reason: String,
    },
    /// A histogram could not be serialised, parsed or merged.
    #[error("histogram: {0}")]
    Histogram(String),
    /// A worker task failed (a bug: workers count request failures, they do not stop).
    #[error("a load-generating worker stopped: {0}")]
    Worker(String),
    /// A chart could not be drawn.
    #[error("chart {chart}: {reason}")]
    Chart {
        /// The chart's file name.
        chart: String,
        /// The drawing error.
        reason: String,
    },
}

impl SimError {
    /// An I/O error about `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SimError {
        let path = path.into();
        move |source| SimError::Io { path, source }
    }
}

//! Errors of online stores.

pub use quiver_core::error_chain;

/// The cause of a backend's failure, as its driver reported it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Something an online store could not do.
#[derive(Debug, thiserror::Error)]
pub enum OnlineError {
    /// The view has never been written to this store.
    #[error("feature view `{view}` has no rows in the online store yet; run `quiver run {view}`")]
    UnknownView {
        /// The view.
        view: String,
    },
    /// A row does not match the view's layout (a bug in the caller, reported not panicked).
    #[error("row for entity `{key}` of view `{view}` does not match its layout: {reason}")]
    RowMismatch {
        /// The view.
        view: String,
        /// The entity key.
        key: String,
        /// What differs.
        reason: String,
    },
    /// A stored value could not be decoded.
    #[error("stored value for entity `{key}` of view `{view}` is damaged: {reason}")]
    Corrupt {
        /// The view.
        view: String,
        /// The entity key.
        key: String,
        /// What the decoder found.
        reason: String,
    },
    /// The embedded store's files could not be opened or used.
    #[error("embedded online store at {path}")]
    Embedded {
        /// The store's folder.
        path: String,
        /// LMDB's report.
        source: heed::Error,
    },
    /// The embedded store's map is full: the write needs more pages than
    /// `map_size_mib` leaves. Nothing of the write was stored.
    #[error(
        "embedded online store at {path} is full: its map of {map_size_mib} MiB cannot hold this write; \
         raise `map_size_mib` in the [online_store] table of quiver.toml (a write needs room for every \
         page it changes beside the previous version, which stays readable until it commits, so \
         rewriting all of a view's rows needs about twice the space they take)"
    )]
    Full {
        /// The store's folder.
        path: String,
        /// The size of the map this process has open, in MiB.
        map_size_mib: usize,
    },
    /// Folder creation and similar.
    #[error("embedded online store at {path}")]
    Io {
        /// The store's folder.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A store behind a network connection could not be reached, or did not
    /// answer in time. A server answers 503 and retries by itself.
    #[error("online store {store} is unavailable")]
    Unavailable {
        /// The backend and its address (`redis at 127.0.0.1:6379`).
        store: String,
        /// The driver's report.
        #[source]
        source: BoxError,
    },
    /// The store answered an operation with an error.
    #[error("online store {store}: {operation} failed")]
    Backend {
        /// The backend and its address.
        store: String,
        /// What was being done (`reading view energy_features`).
        operation: String,
        /// The driver's report.
        #[source]
        source: BoxError,
    },
    /// A setting of `[online_store]` is missing or invalid.
    #[error("[online_store] `{key}`: {problem}")]
    Config {
        /// The setting (`contact_points`).
        key: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A view's new definition cannot be applied to the store's existing
    /// schema (a feature changed type, say); nothing was changed.
    #[error("feature view `{view}`, column `{column}`: {problem}")]
    IncompatibleSchema {
        /// The view.
        view: String,
        /// The column at fault.
        column: String,
        /// What differs, and what to do about it.
        problem: String,
    },
}

//! Errors of online stores.

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
    #[error("embedded online store at {path}: {source}")]
    Embedded {
        /// The store's folder.
        path: String,
        /// LMDB's report.
        source: heed::Error,
    },
    /// Folder creation and similar.
    #[error("embedded online store at {path}: {source}")]
    Io {
        /// The store's folder.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}

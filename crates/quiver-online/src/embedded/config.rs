//! Settings of the embedded store.

use std::path::PathBuf;

/// Where the embedded store keeps its files, and how large it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedStoreConfig {
    /// Folder holding `data.mdb` and `lock.mdb`.
    pub path: PathBuf,
    /// Largest size of the store, in MiB. LMDB reserves this much address
    /// space, not disk; writes fail with a clear error once it is full.
    pub map_size_mib: usize,
}

impl EmbeddedStoreConfig {
    /// The defaults for a store in `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            map_size_mib: 4096,
        }
    }
}

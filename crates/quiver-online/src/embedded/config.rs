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
    /// Slots of LMDB's reader table, shared by every process using the
    /// store: the most read transactions open at once. A thread holds a
    /// slot only while it reads, so a server needs at most one per thread
    /// that reads (its HTTP threads and its runtime's workers). The first
    /// process to open the store sizes the table for all of them.
    pub max_readers: u32,
}

/// The default [`EmbeddedStoreConfig::max_readers`]: a server at its most
/// HTTP threads (1,024) and its runtime's workers, with room for the jobs
/// and `quiver get`s beside it. A slot is 64 bytes of `lock.mdb`.
pub const DEFAULT_MAX_READERS: u32 = 4096;

impl EmbeddedStoreConfig {
    /// The defaults for a store in `path`.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            map_size_mib: 4096,
            max_readers: DEFAULT_MAX_READERS,
        }
    }
}

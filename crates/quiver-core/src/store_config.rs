//! Where a repository keeps its offline and online data.

use serde::{Deserialize, Serialize};

/// The offline store: Delta Lake tables, one per feature view, under `location`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineStoreConfig {
    /// A folder (relative to the repository) or URI holding one table per view.
    #[serde(default = "default_offline_location")]
    pub location: String,
}

impl Default for OfflineStoreConfig {
    fn default() -> Self {
        Self {
            location: default_offline_location(),
        }
    }
}

fn default_offline_location() -> String {
    "data/offline".to_string()
}

/// The online store backend. One variant per backend; the job and the server
/// turn it into a store in a single `match`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum OnlineStoreConfig {
    /// The embedded store: an LMDB environment on local disk, no server.
    Embedded {
        /// Folder (relative to the repository) holding the LMDB files.
        #[serde(default = "default_online_path")]
        path: String,
        /// Largest size the store may grow to, in MiB (address space, not disk).
        #[serde(default = "default_map_size_mib")]
        map_size_mib: usize,
    },
}

impl Default for OnlineStoreConfig {
    fn default() -> Self {
        OnlineStoreConfig::Embedded {
            path: default_online_path(),
            map_size_mib: default_map_size_mib(),
        }
    }
}

fn default_online_path() -> String {
    "data/online".to_string()
}

fn default_map_size_mib() -> usize {
    4096
}

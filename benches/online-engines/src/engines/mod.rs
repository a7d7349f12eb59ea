//! One adapter per candidate engine, all behind the same small trait.

use crate::workload::WritePlan;
use std::path::Path;

mod fjall_engine;
mod lmdb;
mod redb_engine;
#[cfg(feature = "rocksdb")]
mod rocks;
mod sqlite;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

pub trait Engine {
    /// Runs `plan` in ONE write transaction and commits durably.
    /// `before_commit` is called after the last put and before the commit
    /// starts (the crash and multi-process tests hook in there).
    fn write(&self, plan: &WritePlan, before_commit: &mut dyn FnMut()) -> Result<()>;

    /// Point read from a read transaction/snapshot opened for this lookup only;
    /// the value is copied into a caller-owned Vec.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Reads `keys` from a single read transaction/snapshot.
    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<Option<Vec<u8>>>) -> Result<()>;
}

/// Engine names accepted on the command line, in report order.
pub fn all_names() -> Vec<&'static str> {
    let mut names = vec!["lmdb", "redb", "redb-singlewriter", "fjall", "sqlite", "sqlite-full"];
    if cfg!(feature = "rocksdb") {
        names.push("rocksdb");
    }
    names
}

pub fn open(name: &str, dir: &Path, access: Access) -> Result<Box<dyn Engine>> {
    std::fs::create_dir_all(dir)?;
    Ok(match name {
        "lmdb" => Box::new(lmdb::Lmdb::open(dir, access)?),
        "redb" => Box::new(redb_engine::Redb::open(dir, access, redb::ConcurrencyMode::ExclusiveWriter)?),
        "redb-singlewriter" => {
            Box::new(redb_engine::Redb::open(dir, access, redb::ConcurrencyMode::SingleWriter)?)
        }
        "fjall" => Box::new(fjall_engine::Fjall::open(dir, access)?),
        "sqlite" => Box::new(sqlite::Sqlite::open(dir, access, "NORMAL")?),
        "sqlite-full" => Box::new(sqlite::Sqlite::open(dir, access, "FULL")?),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Box::new(rocks::Rocks::open(dir, access)?),
        other => return Err(format!("unknown engine {other:?}; known: {:?}", all_names()).into()),
    })
}

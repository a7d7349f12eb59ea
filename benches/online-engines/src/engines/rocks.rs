//! RocksDB through the `rocksdb` crate (optional cargo feature `rocksdb`).
//! A write transaction is an atomic WriteBatch written with sync=true.

use super::{Access, Engine, Result};
use crate::workload::WritePlan;
use rocksdb::{Options, WriteBatch, WriteOptions, DB};
use std::path::Path;

pub struct Rocks {
    db: DB,
}

impl Rocks {
    pub fn open(dir: &Path, access: Access) -> Result<Self> {
        let mut options = Options::default();
        options.create_if_missing(true);
        let db = match access {
            Access::ReadWrite => DB::open(&options, dir)?,
            // A read-only instance sees the data as of open time (no tailing).
            Access::ReadOnly => DB::open_for_read_only(&options, dir, false)?,
        };
        Ok(Rocks { db })
    }
}

impl Engine for Rocks {
    fn write(&self, plan: &WritePlan, before_commit: &mut dyn FnMut()) -> Result<()> {
        let mut batch = WriteBatch::default();
        for kv in plan.iter() {
            let (k, v) = kv?;
            batch.put(k, v);
        }
        before_commit();
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        self.db.write_opt(batch, &sync)?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let snapshot = self.db.snapshot();
        Ok(snapshot.get(key)?)
    }

    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<Option<Vec<u8>>>) -> Result<()> {
        let snapshot = self.db.snapshot();
        for key in keys {
            out.push(snapshot.get(key)?);
        }
        Ok(())
    }
}

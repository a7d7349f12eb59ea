//! fjall (LSM). A write transaction is an atomic WriteBatch committed with
//! PersistMode::SyncAll; fjall's own default would not fsync the journal.

use super::{Access, Engine, Result};
use crate::workload::WritePlan;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use std::path::Path;

pub struct Fjall {
    db: Database,
    keyspace: Keyspace,
}

impl Fjall {
    pub fn open(dir: &Path, _access: Access) -> Result<Self> {
        // fjall has no read-only mode: a second process must open it fully.
        let db = Database::builder(dir).open()?;
        let keyspace = db.keyspace("online", KeyspaceCreateOptions::default)?;
        Ok(Fjall { db, keyspace })
    }
}

impl Engine for Fjall {
    fn write(&self, plan: &WritePlan, before_commit: &mut dyn FnMut()) -> Result<()> {
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        for kv in plan.iter() {
            let (k, v) = kv?;
            batch.insert(&self.keyspace, k, v);
        }
        before_commit();
        batch.commit()?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let snapshot = self.db.snapshot();
        Ok(snapshot.get(&self.keyspace, key)?.map(|v| v.to_vec()))
    }

    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<Option<Vec<u8>>>) -> Result<()> {
        let snapshot = self.db.snapshot();
        for key in keys {
            out.push(snapshot.get(&self.keyspace, key)?.map(|v| v.to_vec()));
        }
        Ok(())
    }
}

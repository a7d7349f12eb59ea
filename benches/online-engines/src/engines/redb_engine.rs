//! redb with its default durability (Immediate: fsync on commit).

use super::{Access, Engine, Result};
use crate::workload::WritePlan;
use redb::{
    ConcurrencyMode, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase,
    TableDefinition,
};
use std::path::Path;

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("online");

enum Handle {
    ReadWrite(Database),
    ReadOnly(ReadOnlyDatabase),
}

pub struct Redb {
    handle: Handle,
}

impl Redb {
    pub fn open(dir: &Path, access: Access, mode: ConcurrencyMode) -> Result<Self> {
        let path = dir.join("online.redb");
        let mut builder = Database::builder();
        builder.set_concurrency_mode(mode);
        let handle = match access {
            Access::ReadWrite => {
                let db = builder.create(&path)?;
                let txn = db.begin_write()?;
                txn.open_table(TABLE)?;
                txn.commit()?;
                Handle::ReadWrite(db)
            }
            Access::ReadOnly => Handle::ReadOnly(builder.open_read_only(&path)?),
        };
        Ok(Redb { handle })
    }

    fn begin_read(&self) -> Result<ReadTransaction> {
        Ok(match &self.handle {
            Handle::ReadWrite(db) => db.begin_read()?,
            Handle::ReadOnly(db) => db.begin_read()?,
        })
    }
}

impl Engine for Redb {
    fn write(&self, plan: &WritePlan, before_commit: &mut dyn FnMut()) -> Result<()> {
        let Handle::ReadWrite(db) = &self.handle else {
            return Err("redb opened read-only".into());
        };
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(TABLE)?;
            for kv in plan.iter() {
                let (k, v) = kv?;
                table.insert(k, v)?;
            }
        }
        before_commit();
        txn.commit()?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let table = self.begin_read()?.open_table(TABLE)?;
        Ok(table.get(key)?.map(|v| v.value().to_vec()))
    }

    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<Option<Vec<u8>>>) -> Result<()> {
        let table = self.begin_read()?.open_table(TABLE)?;
        for key in keys {
            out.push(table.get(*key)?.map(|v| v.value().to_vec()));
        }
        Ok(())
    }
}

//! LMDB through heed. Default flags: every commit is fsync'd.

use super::{Access, Engine, Result};
use crate::workload::WritePlan;
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, WithoutTls};
use std::path::Path;

pub struct Lmdb {
    env: &'static Env<WithoutTls>,
    db: Database<'static, Bytes, Bytes>,
}

impl Lmdb {
    pub fn open(dir: &Path, access: Access) -> Result<Self> {
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(4 << 30).max_dbs(1);
        if access == Access::ReadOnly {
            // SAFETY: READ_ONLY only restricts what this handle may do.
            unsafe { options.flags(EnvFlags::READ_ONLY) };
        }
        // SAFETY: each benchmark process opens a given environment once.
        let env = unsafe { options.open(dir)? };
        // heed 0.23 ties database handles to a borrow of the Env. A server keeps
        // its Env for the whole process lifetime, so leaking it models that.
        let env: &'static Env<WithoutTls> = Box::leak(Box::new(env));
        let db = match access {
            Access::ReadWrite => env
                .create_databases_and_commit(env.write_txn()?, |opener, wtxn| -> heed::Result<_> {
                    Ok(CommitOrAbort::<_, ()>::Commit(opener.create_database(wtxn, None)?))
                })?
                .unwrap_commit(),
            Access::ReadOnly => env
                .open_databases_and_commit(env.read_txn()?, |opener, rtxn| -> heed::Result<_> {
                    Ok(CommitOrAbort::<_, ()>::Commit(opener.open_database(rtxn, None)?))
                })?
                .unwrap_commit()
                .ok_or("unnamed LMDB database missing")?,
        };
        Ok(Lmdb { env, db })
    }
}

impl Engine for Lmdb {
    fn write(&self, plan: &WritePlan, before_commit: &mut dyn FnMut()) -> Result<()> {
        let mut wtxn = self.env.write_txn()?;
        for kv in plan.iter() {
            let (k, v) = kv?;
            self.db.put(&mut wtxn, k, v)?;
        }
        before_commit();
        wtxn.commit()?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let rtxn = self.env.read_txn()?;
        Ok(self.db.get(&rtxn, key)?.map(<[u8]>::to_vec))
    }

    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<Option<Vec<u8>>>) -> Result<()> {
        let rtxn = self.env.read_txn()?;
        for key in keys {
            out.push(self.db.get(&rtxn, key)?.map(<[u8]>::to_vec));
        }
        Ok(())
    }
}

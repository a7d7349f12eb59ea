//! SQLite (bundled) in WAL mode with synchronous=NORMAL, prepared statements.
//! Note: in WAL mode synchronous=NORMAL does not fsync on commit (only at
//! checkpoints); commits survive a process crash but not necessarily power loss.

use super::{Access, Engine, Result};
use crate::workload::WritePlan;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::cell::RefCell;
use std::path::Path;

const GET: &str = "SELECT v FROM online WHERE k = ?1";
const PUT: &str = "INSERT INTO online (k, v) VALUES (?1, ?2) \
                   ON CONFLICT (k) DO UPDATE SET v = excluded.v";

pub struct Sqlite {
    // rusqlite::Connection is !Sync; the benchmark is single-threaded per process.
    conn: RefCell<Connection>,
}

impl Sqlite {
    /// `synchronous` is "NORMAL" (the requested configuration) or "FULL"
    /// (fsync on every commit, comparable to the other engines' durability).
    pub fn open(dir: &Path, access: Access, synchronous: &str) -> Result<Self> {
        let path = dir.join("online.sqlite");
        let conn = match access {
            Access::ReadWrite => {
                let conn = Connection::open(&path)?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.execute_batch(
                    "CREATE TABLE IF NOT EXISTS online (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID",
                )?;
                conn
            }
            Access::ReadOnly => Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?,
        };
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.set_prepared_statement_cache_capacity(16);
        Ok(Sqlite { conn: RefCell::new(conn) })
    }
}

impl Engine for Sqlite {
    fn write(&self, plan: &WritePlan, before_commit: &mut dyn FnMut()) -> Result<()> {
        let mut conn = self.conn.borrow_mut();
        let txn = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut put = txn.prepare_cached(PUT)?;
            for kv in plan.iter() {
                let (k, v) = kv?;
                put.execute((k, v))?;
            }
        }
        before_commit();
        txn.commit()?;
        Ok(())
    }

    /// A lone SELECT in autocommit mode is its own read transaction.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let conn = self.conn.borrow();
        let mut get = conn.prepare_cached(GET)?;
        Ok(get.query_row([key], |row| row.get::<_, Vec<u8>>(0)).optional()?)
    }

    fn get_many(&self, keys: &[&[u8]], out: &mut Vec<Option<Vec<u8>>>) -> Result<()> {
        let mut conn = self.conn.borrow_mut();
        let txn = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        {
            let mut get = txn.prepare_cached(GET)?;
            for key in keys {
                out.push(get.query_row([key], |row| row.get::<_, Vec<u8>>(0)).optional()?);
            }
        }
        txn.commit()?;
        Ok(())
    }
}

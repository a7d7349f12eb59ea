//! [`EmbeddedStore`]: the [`OnlineStore`] on LMDB.
//!
//! Layout of the environment: database `rows` maps `view \0 entity-key` to a
//! row in the [`codec`] format; database `meta` holds per view its layout
//! (JSON), a layout generation counter, and the offline version last written.
//!
//! Three things about sharing one LMDB file between processes:
//!
//! - **Reader slots.** Every read transaction takes a slot of the reader
//!   table in `lock.mdb`, which all processes share. The environment is
//!   opened without thread-local slots (`MDB_NOTLS`), so a thread holds a
//!   slot only while it reads, not for as long as it lives: a server with
//!   1,024 HTTP threads needs at most that many, and only if they all read
//!   at the same instant. The table has `max_readers` slots (4,096 by
//!   default, [`EmbeddedStoreConfig::max_readers`]), and every open clears
//!   the slots of processes that died while reading, which LMDB otherwise
//!   keeps until the last process closes the file.
//! - **A map that grows.** Another process (a job opened with a larger
//!   `map_size_mib`) may grow the file past the map this process opened.
//!   LMDB then refuses new transactions with `MDB_MAP_RESIZED` until the
//!   process adopts the new size, which it may only do with no transaction
//!   of its own open; so every transaction holds a shared lock
//!   (`Inner::open_txns`) and the first one refused takes it exclusively,
//!   adopts the size and lets all of them retry.
//! - **A map that is full.** LMDB copies every page a write changes and
//!   keeps the old one until the write commits, so a write needs free space
//!   for its new pages beside the old ones. A row whose stored bytes are
//!   already the same is left alone (an idempotent rewrite, such as the
//!   job's repair of a store one version behind, then costs no space), and
//!   [`OnlineStore::check_write`] tries the whole write and throws it away,
//!   so that a job learns that its rows do not fit before it commits
//!   anything offline. A full map is [`OnlineError::Full`].

use crate::codec;
use crate::{
    EmbeddedStoreConfig, EntityRow, FeatureRow, OnlineError, OnlineStore, ViewLayout, WriteOutcome,
};
use heed::types::{Bytes, Str};
use heed::{Database, Env, EnvOpenOptions, RoTxn, RwTxn, WithoutTls};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock, RwLockReadGuard, Weak};

/// The embedded online store. Cheap to clone; all clones share one LMDB environment.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    env: Env<WithoutTls>,
    rows: Database<Bytes, Bytes>,
    meta: Database<Str, Bytes>,
    /// Parsed layouts by view.
    layouts: RwLock<HashMap<String, CachedLayout>>,
    /// Held shared by every open transaction of this process, and
    /// exclusively to adopt a map another process grew (LMDB allows that
    /// only with no transaction open).
    open_txns: RwLock<()>,
    /// Slots of dead processes' readers cleared when the store was opened.
    stale_readers_cleared: usize,
}

/// A view's parsed layout, the generation it was parsed at, and the last
/// read snapshot known to hold that generation.
struct CachedLayout {
    generation: u64,
    layout: Arc<ViewLayout>,
    /// The id of a read transaction (LMDB's id of the commit it sees) whose
    /// generation was this one. A later read of the same snapshot sees the
    /// same commit, so it may skip looking the generation up; any write
    /// since gives readers a new id. `NO_SNAPSHOT` until a read confirms it.
    confirmed_at: AtomicUsize,
}

/// No read transaction has this id (LMDB counts commits up from 0).
const NO_SNAPSHOT: usize = usize::MAX;

/// A transaction together with the shared lock that keeps the map from
/// being resized under it. Fields drop in order: the transaction first.
struct Txn<'s, T> {
    txn: T,
    _open: RwLockReadGuard<'s, ()>,
}

impl<T> std::ops::Deref for Txn<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.txn
    }
}

impl<T> std::ops::DerefMut for Txn<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.txn
    }
}

/// LMDB allows one environment per file per process, so opening the same
/// folder twice in one process must hand back the environment already open.
static OPEN_STORES: LazyLock<Mutex<HashMap<PathBuf, Weak<Inner>>>> =
    LazyLock::new(Default::default);

impl EmbeddedStore {
    /// Opens the store in `config.path`, creating it if needed, and clears
    /// the reader slots of processes that died while reading it.
    pub fn open(config: &EmbeddedStoreConfig) -> Result<EmbeddedStore, OnlineError> {
        // quiver-core refuses such sizes in quiver.toml; this guards callers
        // that build the config themselves.
        let map_size = config
            .map_size_mib
            .max(1)
            .checked_mul(1024 * 1024)
            .ok_or_else(|| OnlineError::Config {
                key: "map_size_mib".to_string(),
                problem: format!(
                    "{} MiB is more bytes than this machine can address",
                    config.map_size_mib
                ),
            })?;
        let io_err = |source| OnlineError::Io {
            path: config.path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&config.path).map_err(io_err)?;
        let path = std::fs::canonicalize(&config.path).map_err(io_err)?;
        let mut open = OPEN_STORES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(inner) = open.get(&path).and_then(Weak::upgrade) {
            return Ok(EmbeddedStore { inner });
        }
        let lmdb_err = |source| OnlineError::Embedded {
            path: path.display().to_string(),
            source,
        };
        // SAFETY: the files are only ever opened through LMDB (whose lock file
        // coordinates processes), and OPEN_STORES keeps one environment per
        // path in this process, as LMDB requires.
        let env = unsafe {
            EnvOpenOptions::new()
                .read_txn_without_tls()
                .map_size(map_size)
                .max_readers(config.max_readers.max(1))
                .max_dbs(2)
                .open(&path)
        }
        .map_err(lmdb_err)?;
        // A process killed while reading keeps its slot until every process
        // has closed the file; a server that runs for months would see them
        // pile up. LMDB checks each slot's process id.
        let stale_readers_cleared = env.clear_stale_readers().map_err(lmdb_err)?;
        // Open without writing when the databases exist, so that merely
        // opening the store (a reader, a job that then fails) changes no byte.
        // No other thread has this environment yet, so no resize can race.
        let rtxn = env.read_txn().map_err(lmdb_err)?;
        let existing = (
            env.open_database(&rtxn, Some("rows")).map_err(lmdb_err)?,
            env.open_database(&rtxn, Some("meta")).map_err(lmdb_err)?,
        );
        rtxn.commit().map_err(lmdb_err)?;
        let (rows, meta) = match existing {
            (Some(rows), Some(meta)) => (rows, meta),
            _ => {
                let mut wtxn = env.write_txn().map_err(lmdb_err)?;
                let rows = env
                    .create_database(&mut wtxn, Some("rows"))
                    .map_err(lmdb_err)?;
                let meta = env
                    .create_database(&mut wtxn, Some("meta"))
                    .map_err(lmdb_err)?;
                wtxn.commit().map_err(lmdb_err)?;
                (rows, meta)
            }
        };
        let inner = Arc::new(Inner {
            path: path.clone(),
            env,
            rows,
            meta,
            layouts: RwLock::new(HashMap::new()),
            open_txns: RwLock::new(()),
            stale_readers_cleared,
        });
        open.insert(path, Arc::downgrade(&inner));
        Ok(EmbeddedStore { inner })
    }

    /// The folder the store lives in.
    pub fn path(&self) -> &std::path::Path {
        &self.inner.path
    }

    /// Slots of LMDB's reader table. The first process to open the store
    /// sized it, so it can be fewer than this process's `max_readers` while
    /// an older process keeps the store open.
    pub fn max_readers(&self) -> u32 {
        self.inner.env.max_readers()
    }

    /// Reader slots of dead processes that opening the store cleared.
    pub fn stale_readers_cleared(&self) -> usize {
        self.inner.stale_readers_cleared
    }

    fn lmdb_err(&self, source: heed::Error) -> OnlineError {
        let path = self.inner.path.display().to_string();
        match source {
            heed::Error::Mdb(heed::MdbError::MapFull) => OnlineError::Full {
                path,
                map_size_mib: self.inner.env.info().map_size / (1024 * 1024),
            },
            source => OnlineError::Embedded { path, source },
        }
    }

    /// Begins a transaction with `begin`; if another process grew the map
    /// beyond this process's, adopts its size and begins again.
    fn begin<'s, T>(
        &'s self,
        begin: impl Fn(&'s Env<WithoutTls>) -> heed::Result<T>,
    ) -> Result<Txn<'s, T>, OnlineError> {
        loop {
            let open = self
                .inner
                .open_txns
                .read()
                .unwrap_or_else(|e| e.into_inner());
            match begin(&self.inner.env) {
                Ok(txn) => return Ok(Txn { txn, _open: open }),
                Err(heed::Error::Mdb(heed::MdbError::MapResized)) => {
                    drop(open);
                    let _alone = self
                        .inner
                        .open_txns
                        .write()
                        .unwrap_or_else(|e| e.into_inner());
                    // SAFETY: with `open_txns` held exclusively no transaction
                    // of this process is open; size 0 adopts the size the
                    // file's meta page records (LMDB's documented remedy).
                    // Another thread may have adopted it already; doing it
                    // again is harmless.
                    unsafe { self.inner.env.resize(0) }.map_err(|e| self.lmdb_err(e))?;
                }
                Err(e) => return Err(self.lmdb_err(e)),
            }
        }
    }

    fn read_txn(&self) -> Result<Txn<'_, RoTxn<'_, WithoutTls>>, OnlineError> {
        self.begin(|env| env.read_txn())
    }

    fn write_txn(&self) -> Result<Txn<'_, RwTxn<'_>>, OnlineError> {
        self.begin(|env| env.write_txn())
    }

    /// The layout of `view` as committed, parsing it only when its
    /// generation changed. `snapshot` is the id of `txn` when it is a read
    /// transaction, `None` inside a write (whose id the next writer reuses
    /// if it aborts, so it names no commit).
    fn current_layout(
        &self,
        txn: &RoTxn<'_, WithoutTls>,
        view: &str,
        snapshot: Option<usize>,
    ) -> Result<Option<Arc<ViewLayout>>, OnlineError> {
        let inner = &self.inner;
        if let Some(snapshot) = snapshot
            && let Some(cached) = inner.layouts.read().unwrap().get(view)
            && cached.confirmed_at.load(Ordering::Relaxed) == snapshot
        {
            return Ok(Some(cached.layout.clone()));
        }
        let Some(generation) = inner
            .meta
            .get(txn, &meta_key("generation", view))
            .map_err(|e| self.lmdb_err(e))?
        else {
            return Ok(None);
        };
        let generation = u64::from_le_bytes(generation.try_into().unwrap_or_default());
        if let Some(cached) = inner.layouts.read().unwrap().get(view)
            && cached.generation == generation
        {
            if let Some(snapshot) = snapshot {
                cached.confirmed_at.store(snapshot, Ordering::Relaxed);
            }
            return Ok(Some(cached.layout.clone()));
        }
        let json = inner
            .meta
            .get(txn, &meta_key("layout", view))
            .map_err(|e| self.lmdb_err(e))?
            .unwrap_or_default();
        let layout: ViewLayout =
            serde_json::from_slice(json).map_err(|e| OnlineError::Corrupt {
                view: view.to_string(),
                key: "(layout)".to_string(),
                reason: e.to_string(),
            })?;
        let layout = Arc::new(layout);
        inner.layouts.write().unwrap().insert(
            view.to_string(),
            CachedLayout {
                generation,
                layout: layout.clone(),
                confirmed_at: AtomicUsize::new(snapshot.unwrap_or(NO_SNAPSHOT)),
            },
        );
        Ok(Some(layout))
    }
}

/// LMDB's largest key (its default `MDB_MAXKEYSIZE`).
const MAX_KEY_BYTES: usize = 511;

fn meta_key(kind: &str, view: &str) -> String {
    // Built by hand, not with `format!`: every read looks up its view's
    // generation, and the formatting machinery showed in the profile.
    let mut key = String::with_capacity(kind.len() + 1 + view.len());
    key.push_str(kind);
    key.push('/');
    key.push_str(view);
    key
}

/// `view \0`: every row key of the view starts with it. View names are
/// identifiers, so they never contain the separator.
fn row_prefix(view: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(view.len() + 24);
    key.extend_from_slice(view.as_bytes());
    key.push(0);
    key
}

impl EmbeddedStore {
    /// Every row must fit the layout, and its key LMDB's: keys are
    /// `view \0 entity`, at most [`MAX_KEY_BYTES`] long.
    fn check_rows(layout: &ViewLayout, rows: &[EntityRow]) -> Result<(), OnlineError> {
        let max_key = MAX_KEY_BYTES.saturating_sub(layout.view.len() + 1);
        rows.iter()
            .try_for_each(|row| layout.check_row(row, Some(max_key)))
    }

    /// The write of [`OnlineStore::write`] inside `wtxn`, for the caller to
    /// commit or (to see whether it fits) abort.
    fn write_in(
        &self,
        wtxn: &mut RwTxn<'_>,
        layout: &ViewLayout,
        rows: &[EntityRow],
        offline_version: Option<u64>,
    ) -> Result<WriteOutcome, OnlineError> {
        let inner = &self.inner;
        let err = |e| self.lmdb_err(e);
        let view = layout.view.as_str();
        let prefix = row_prefix(view);
        let stored = self.current_layout(wtxn, view, None)?;
        if stored.as_deref() != Some(layout) {
            // Rows written under another layout would be read with the wrong names.
            // Collected first: LMDB cursors cannot delete while a read borrows them.
            let stale: Vec<Vec<u8>> = inner
                .rows
                .prefix_iter(wtxn, &prefix)
                .map_err(err)?
                .map(|entry| entry.map(|(key, _)| key.to_vec()))
                .collect::<Result<_, _>>()
                .map_err(err)?;
            for key in &stale {
                inner.rows.delete(wtxn, key).map_err(err)?;
            }
            let generation = inner
                .meta
                .get(wtxn, &meta_key("generation", view))
                .map_err(err)?
                .map_or(0, |g| u64::from_le_bytes(g.try_into().unwrap_or_default()));
            // The version recorded with the dropped rows no longer describes
            // the view: until a write records one again, nothing may take
            // the store for in step with the table (a window materialized
            // after a redefinition holds only the window's entities).
            inner
                .meta
                .delete(wtxn, &meta_key("offline_version", view))
                .map_err(err)?;
            let json = serde_json::to_vec(layout).expect("layouts always serialise");
            inner
                .meta
                .put(wtxn, &meta_key("layout", view), &json)
                .map_err(err)?;
            inner
                .meta
                .put(
                    wtxn,
                    &meta_key("generation", view),
                    &(generation + 1).to_le_bytes(),
                )
                .map_err(err)?;
        }
        let mut outcome = WriteOutcome::default();
        let mut key = prefix.clone();
        let mut value = Vec::with_capacity(256);
        for row in rows {
            key.truncate(prefix.len());
            key.extend_from_slice(row.key.as_bytes());
            value.clear();
            codec::encode_into(&row.row, &mut value);
            if let Some(bytes) = inner.rows.get(wtxn, &key).map_err(err)? {
                let stored_time =
                    codec::event_time(bytes).map_err(|reason| OnlineError::Corrupt {
                        view: view.to_string(),
                        key: row.key.clone(),
                        reason,
                    })?;
                if stored_time > row.row.event_time_micros {
                    outcome.skipped_older += 1;
                    continue;
                }
                if bytes == value.as_slice() {
                    // Already stored: putting it again would copy its
                    // page, and a rewrite of every row (the job's repair)
                    // would need twice the view's size.
                    outcome.written += 1;
                    continue;
                }
            }
            inner.rows.put(wtxn, &key, &value).map_err(err)?;
            outcome.written += 1;
        }
        if let Some(version) = offline_version {
            inner
                .meta
                .put(
                    wtxn,
                    &meta_key("offline_version", view),
                    &version.to_le_bytes(),
                )
                .map_err(err)?;
        }
        Ok(outcome)
    }
}

#[async_trait::async_trait]
impl OnlineStore for EmbeddedStore {
    async fn write(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
        offline_version: Option<u64>,
    ) -> Result<WriteOutcome, OnlineError> {
        Self::check_rows(layout, rows)?;
        let mut wtxn = self.write_txn()?;
        let outcome = self.write_in(&mut wtxn, layout, rows, offline_version)?;
        let Txn { txn, _open } = wtxn;
        txn.commit().map_err(|e| self.lmdb_err(e))?;
        Ok(outcome)
    }

    /// Checks the rows, then makes the whole write in a transaction and
    /// aborts it: exactly what [`write`](OnlineStore::write) would need, so a
    /// map too small is [`OnlineError::Full`] before the job commits.
    async fn check_write(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
    ) -> Result<(), OnlineError> {
        Self::check_rows(layout, rows)?;
        let mut wtxn = self.write_txn()?;
        self.write_in(&mut wtxn, layout, rows, Some(0))?;
        // Dropping the transaction aborts it: nothing is stored.
        Ok(())
    }

    /// One transaction for all the keys.
    async fn delete(&self, view: &str, keys: &[&str]) -> Result<(), OnlineError> {
        let prefix = row_prefix(view);
        let mut wtxn = self.write_txn()?;
        let mut key = prefix.clone();
        for entity in keys {
            if prefix.len() + entity.len() > MAX_KEY_BYTES {
                continue; // no such key can have been written
            }
            key.truncate(prefix.len());
            key.extend_from_slice(entity.as_bytes());
            self.inner
                .rows
                .delete(&mut wtxn, &key)
                .map_err(|e| self.lmdb_err(e))?;
        }
        let Txn { txn, _open } = wtxn;
        txn.commit().map_err(|e| self.lmdb_err(e))
    }

    async fn read(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<Vec<Option<FeatureRow>>, OnlineError> {
        Ok(self.read_with_layout(view, keys).await?.1)
    }

    async fn read_with_layout(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<(Arc<ViewLayout>, Vec<Option<FeatureRow>>), OnlineError> {
        let inner = &self.inner;
        // One read transaction: the layout and the rows come from the same commit.
        let rtxn = self.read_txn()?;
        let Some(layout) = self.current_layout(&rtxn, view, Some(rtxn.id()))? else {
            return Err(OnlineError::UnknownView {
                view: view.to_string(),
            });
        };
        // `view \0 entity`, one buffer for every key of the call.
        let mut key = row_prefix(view);
        let prefix = key.len();
        let mut out = Vec::with_capacity(keys.len());
        for entity in keys {
            if prefix + entity.len() > MAX_KEY_BYTES {
                // No such key can have been written.
                out.push(None);
                continue;
            }
            key.truncate(prefix);
            key.extend_from_slice(entity.as_bytes());
            let row = match inner.rows.get(&rtxn, &key).map_err(|e| self.lmdb_err(e))? {
                None => None,
                Some(bytes) => {
                    Some(codec::decode(bytes).map_err(|reason| OnlineError::Corrupt {
                        view: view.to_string(),
                        key: entity.to_string(),
                        reason,
                    })?)
                }
            };
            out.push(row);
        }
        Ok((layout, out))
    }

    async fn layout(&self, view: &str) -> Result<Option<Arc<ViewLayout>>, OnlineError> {
        let rtxn = self.read_txn()?;
        self.current_layout(&rtxn, view, Some(rtxn.id()))
    }

    async fn offline_version(&self, view: &str) -> Result<Option<u64>, OnlineError> {
        let rtxn = self.read_txn()?;
        let version = self
            .inner
            .meta
            .get(&rtxn, &meta_key("offline_version", view))
            .map_err(|e| self.lmdb_err(e))?;
        Ok(version.map(|v| u64::from_le_bytes(v.try_into().unwrap_or_default())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_size_past_the_address_space_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = EmbeddedStoreConfig {
            path: dir.path().join("online"),
            map_size_mib: usize::MAX / 1024,
            max_readers: crate::embedded::config::DEFAULT_MAX_READERS,
        };
        match EmbeddedStore::open(&config) {
            Err(OnlineError::Config { key, problem }) => {
                assert_eq!(key, "map_size_mib");
                assert!(problem.contains("more bytes than"), "{problem}");
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("opened"),
        }
        assert!(!config.path.exists(), "nothing is created for a bad config");
    }
}

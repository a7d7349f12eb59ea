//! [`EmbeddedStore`]: the [`OnlineStore`] on LMDB.
//!
//! Layout of the environment: database `rows` maps `view \0 entity-key` to a
//! row in the [`codec`] format; database `meta` holds per view its layout
//! (JSON), a layout generation counter, and the offline version last written.

use crate::codec;
use crate::{
    EmbeddedStoreConfig, EntityRow, FeatureRow, OnlineError, OnlineStore, ViewLayout, WriteOutcome,
};
use heed::types::{Bytes, Str};
use heed::{Database, Env, EnvOpenOptions};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, RwLock, Weak};

/// The embedded online store. Cheap to clone; all clones share one LMDB environment.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    env: Env,
    rows: Database<Bytes, Bytes>,
    meta: Database<Str, Bytes>,
    /// Parsed layouts by view, with the generation they were parsed at.
    layouts: RwLock<HashMap<String, (u64, Arc<ViewLayout>)>>,
}

/// LMDB allows one environment per file per process, so opening the same
/// folder twice in one process must hand back the environment already open.
static OPEN_STORES: LazyLock<Mutex<HashMap<PathBuf, Weak<Inner>>>> =
    LazyLock::new(Default::default);

impl EmbeddedStore {
    /// Opens the store in `config.path`, creating it if needed.
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
                .map_size(map_size)
                .max_dbs(2)
                .open(&path)
        }
        .map_err(lmdb_err)?;
        // Open without writing when the databases exist, so that merely
        // opening the store (a reader, a job that then fails) changes no byte.
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
        });
        open.insert(path, Arc::downgrade(&inner));
        Ok(EmbeddedStore { inner })
    }

    /// The folder the store lives in.
    pub fn path(&self) -> &std::path::Path {
        &self.inner.path
    }

    fn lmdb_err(&self, source: heed::Error) -> OnlineError {
        OnlineError::Embedded {
            path: self.inner.path.display().to_string(),
            source,
        }
    }

    /// The layout of `view` as committed, parsing it only when its generation changed.
    fn current_layout(
        &self,
        rtxn: &heed::RoTxn,
        view: &str,
    ) -> Result<Option<Arc<ViewLayout>>, OnlineError> {
        let inner = &self.inner;
        let Some(generation) = inner
            .meta
            .get(rtxn, &meta_key("generation", view))
            .map_err(|e| self.lmdb_err(e))?
        else {
            return Ok(None);
        };
        let generation = u64::from_le_bytes(generation.try_into().unwrap_or_default());
        if let Some((cached_gen, layout)) = inner.layouts.read().unwrap().get(view)
            && *cached_gen == generation
        {
            return Ok(Some(layout.clone()));
        }
        let json = inner
            .meta
            .get(rtxn, &meta_key("layout", view))
            .map_err(|e| self.lmdb_err(e))?
            .unwrap_or_default();
        let layout: ViewLayout =
            serde_json::from_slice(json).map_err(|e| OnlineError::Corrupt {
                view: view.to_string(),
                key: "(layout)".to_string(),
                reason: e.to_string(),
            })?;
        let layout = Arc::new(layout);
        inner
            .layouts
            .write()
            .unwrap()
            .insert(view.to_string(), (generation, layout.clone()));
        Ok(Some(layout))
    }
}

/// LMDB's largest key (its default `MDB_MAXKEYSIZE`).
const MAX_KEY_BYTES: usize = 511;

fn meta_key(kind: &str, view: &str) -> String {
    format!("{kind}/{view}")
}

/// `view \0`: every row key of the view starts with it. View names are
/// identifiers, so they never contain the separator.
fn row_prefix(view: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(view.len() + 24);
    key.extend_from_slice(view.as_bytes());
    key.push(0);
    key
}

#[async_trait::async_trait]
impl OnlineStore for EmbeddedStore {
    async fn write(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
        offline_version: Option<u64>,
    ) -> Result<WriteOutcome, OnlineError> {
        for row in rows {
            // LMDB keys are `view \0 entity`, at most MAX_KEY_BYTES long.
            layout.check_row(
                row,
                Some(MAX_KEY_BYTES.saturating_sub(layout.view.len() + 1)),
            )?;
        }
        let inner = &self.inner;
        let err = |e| self.lmdb_err(e);
        let mut wtxn = inner.env.write_txn().map_err(err)?;
        let view = layout.view.as_str();
        let prefix = row_prefix(view);
        let stored = self.current_layout(&wtxn, view)?;
        if stored.as_deref() != Some(layout) {
            // Rows written under another layout would be read with the wrong names.
            // Collected first: LMDB cursors cannot delete while a read borrows them.
            let stale: Vec<Vec<u8>> = inner
                .rows
                .prefix_iter(&wtxn, &prefix)
                .map_err(err)?
                .map(|entry| entry.map(|(key, _)| key.to_vec()))
                .collect::<Result<_, _>>()
                .map_err(err)?;
            for key in &stale {
                inner.rows.delete(&mut wtxn, key).map_err(err)?;
            }
            let generation = inner
                .meta
                .get(&wtxn, &meta_key("generation", view))
                .map_err(err)?
                .map_or(0, |g| u64::from_le_bytes(g.try_into().unwrap_or_default()));
            let json = serde_json::to_vec(layout).expect("layouts always serialise");
            inner
                .meta
                .put(&mut wtxn, &meta_key("layout", view), &json)
                .map_err(err)?;
            inner
                .meta
                .put(
                    &mut wtxn,
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
            let newer_stored = match inner.rows.get(&wtxn, &key).map_err(err)? {
                Some(bytes) => {
                    codec::event_time(bytes).map_err(|reason| OnlineError::Corrupt {
                        view: view.to_string(),
                        key: row.key.clone(),
                        reason,
                    })? > row.row.event_time_micros
                }
                None => false,
            };
            if newer_stored {
                outcome.skipped_older += 1;
                continue;
            }
            value.clear();
            codec::encode_into(&row.row, &mut value);
            inner.rows.put(&mut wtxn, &key, &value).map_err(err)?;
            outcome.written += 1;
        }
        if let Some(version) = offline_version {
            inner
                .meta
                .put(
                    &mut wtxn,
                    &meta_key("offline_version", view),
                    &version.to_le_bytes(),
                )
                .map_err(err)?;
        }
        wtxn.commit().map_err(err)?;
        Ok(outcome)
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
        let rtxn = inner.env.read_txn().map_err(|e| self.lmdb_err(e))?;
        let Some(layout) = self.current_layout(&rtxn, view)? else {
            return Err(OnlineError::UnknownView {
                view: view.to_string(),
            });
        };
        let prefix = row_prefix(view);
        let mut key = prefix.clone();
        let mut out = Vec::with_capacity(keys.len());
        for entity in keys {
            if prefix.len() + entity.len() > MAX_KEY_BYTES {
                // No such key can have been written.
                out.push(None);
                continue;
            }
            key.truncate(prefix.len());
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
        let rtxn = self.inner.env.read_txn().map_err(|e| self.lmdb_err(e))?;
        self.current_layout(&rtxn, view)
    }

    async fn offline_version(&self, view: &str) -> Result<Option<u64>, OnlineError> {
        let rtxn = self.inner.env.read_txn().map_err(|e| self.lmdb_err(e))?;
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

//! [`RedisStore`]: the [`OnlineStore`] on Redis, and the two Lua scripts that
//! keep its guarantees on the server.

use crate::codec::Keys;
use crate::config::RedisStoreConfig;
use crate::error::Error;
use quiver_online::{
    EntityRow, FeatureRow, OnlineError, OnlineStore, ViewLayout, WriteOutcome, codec,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisResult, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Stores each row unless the stored row of its key has a later event time.
///
/// `KEYS` the row keys; `ARGV[1]` the rows' time to live in milliseconds, `0`
/// for none; `ARGV[1 + i]` the row of `KEYS[i]` as `quiver_online::codec`
/// bytes. Answers one number per key: 1 (written), 0 (skipped: the stored
/// row is later) or -1 (the stored value is not a codec row; left alone).
/// Equal event times replace, so a corrected rerun lands.
const UPSERT_ROWS: &str = r"
local ttl = ARGV[1]
local answers = {}
for i, key in ipairs(KEYS) do
  local new = ARGV[i + 1]
  local answer = 1
  local stored = redis.call('GET', key)
  if stored then
    if #stored < 9 or string.byte(stored, 1) ~= 1 then
      answer = -1
    else
      -- The event time is the little-endian i64 at bytes 2 to 9. Lua numbers
      -- are doubles, exact for 32-bit halves but not for a whole i64: compare
      -- the signed high halves, then the unsigned low ones.
      local stored_low, stored_high = struct.unpack('<I4i4', stored, 2)
      local new_low, new_high = struct.unpack('<I4i4', new, 2)
      if stored_high > new_high or (stored_high == new_high and stored_low > new_low) then
        answer = 0
      end
    end
  end
  if answer == 1 then
    if ttl == '0' then
      redis.call('SET', key, new)
    else
      redis.call('SET', key, new, 'PX', ttl)
    end
  end
  answers[i] = answer
end
return answers
";

/// Rows per UPSERT_ROWS call. One call per row spends most of its time
/// entering Lua; 100 rows per call wrote 1.4 times as many rows per second
/// (benches/write_strategies.rs) while keeping each call, during which Redis
/// serves no one else, to a fraction of a millisecond. Redis Cluster refuses
/// a script whose keys hash to different slots, so a cluster mode would set
/// this to 1: the key layout itself needs nothing more.
const ROWS_PER_SCRIPT: usize = 100;

/// Makes a write's rows visible: records the layout and generation they were
/// written under (when the write changes the layout, forgetting the offline
/// version recorded with the old layout's rows) and the offline version.
///
/// `KEYS[1]` the view's meta hash; `ARGV[1]` the generation the rows were
/// written under; `ARGV[2]` the layout as JSON when the write publishes that
/// generation, else empty; `ARGV[3]` the offline version, or empty. Answers 1,
/// or 0 when another writer moved the view to a later generation meanwhile
/// (nothing is changed then). Running it twice has the effect of once.
const COMMIT_WRITE: &str = r"
local current = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0')
local generation = tonumber(ARGV[1])
if ARGV[2] ~= '' then
  if generation < current then
    return 0
  end
  redis.call('HSET', KEYS[1], 'generation', ARGV[1], 'layout', ARGV[2],
    'layout_digest', redis.sha1hex(ARGV[2]))
  redis.call('HDEL', KEYS[1], 'offline_version')
elseif generation ~= current then
  return 0
end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'offline_version', ARGV[3])
end
return 1
";

/// Fields of a view's meta hash.
const GENERATION: &str = "generation";
const NEXT_GENERATION: &str = "next_generation";
const LAYOUT: &str = "layout";
/// SHA-1 of the layout JSON: what a read compares, with the generation, to
/// the layout it has cached. Generations restart at 1 when Redis loses its
/// data (a restart without persistence, FLUSHALL); the digest keeps a reader
/// from pairing a view rewritten since with the layout it cached before.
const LAYOUT_DIGEST: &str = "layout_digest";
const OFFLINE_VERSION: &str = "offline_version";

/// How often a read starts over because the view's layout changed under it
/// before giving up. A layout changes once per redefinition of the view, so
/// more than one retry means something rewrites the metadata in a loop.
const READ_ATTEMPTS: usize = 8;

/// The online store on one Redis server. Cheap to clone; clones share one
/// multiplexed connection, which reconnects by itself.
///
/// Made with [`RedisStore::open`], which connects to nothing: the first
/// operation connects, and an unreachable server is an
/// [`OnlineError::Unavailable`] of that operation (see [`check`]).
///
/// [`check`]: OnlineStore::check
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// Made on first use, inside the caller's Tokio runtime.
    connection: tokio::sync::OnceCell<ConnectionManager>,
    address: String,
    prefix: String,
    keys: Keys,
    config: RedisStoreConfig,
    /// Time to live of each view's rows, in milliseconds.
    ttl_millis: HashMap<String, u64>,
    upsert_rows: redis::Script,
    commit_write: redis::Script,
    /// The current layout of each view read or written, parsed.
    layouts: RwLock<HashMap<String, Arc<Current>>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.inner.address)
            .field("key_prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

/// What the meta hash says about a view: its current generation and layout.
struct Current {
    generation: u64,
    digest: String,
    layout: Arc<ViewLayout>,
}

impl RedisStore {
    /// A store with `config`, its keys prefixed by `config.key_prefix` or else
    /// by `project`, its rows of each view in `view_ttls` expiring that long
    /// after they are written. Checks the settings and reads the files they
    /// name, but connects to nothing; can be called outside a Tokio runtime,
    /// while the operations must run inside one.
    pub fn open(
        config: &RedisStoreConfig,
        project: &str,
        view_ttls: HashMap<String, Duration>,
    ) -> Result<RedisStore, OnlineError> {
        let connection = config.connection()?;
        let prefix = config
            .key_prefix
            .clone()
            .unwrap_or_else(|| project.to_string());
        if prefix.is_empty() {
            return Err(Error::Config {
                key: "key_prefix".to_string(),
                problem: "must not be empty (it defaults to the project name)".to_string(),
            }
            .into());
        }
        let mut ttl_millis = HashMap::with_capacity(view_ttls.len());
        for (view, ttl) in view_ttls {
            if ttl.is_zero() {
                return Err(Error::Config {
                    key: format!("feature_views.{view}.ttl"),
                    problem: "a time to live must be longer than 0".to_string(),
                }
                .into());
            }
            // Redis counts in milliseconds (a shorter TTL still expires) and
            // refuses an expiry past the end of its i64 clock.
            let millis = u64::try_from(ttl.as_millis())
                .unwrap_or(u64::MAX)
                .clamp(1, i64::MAX as u64 / 2);
            ttl_millis.insert(view, millis);
        }
        Ok(RedisStore {
            inner: Arc::new(Inner {
                client: connection.client,
                connection: tokio::sync::OnceCell::new(),
                address: connection.address,
                keys: Keys::new(&prefix),
                prefix,
                config: config.clone(),
                ttl_millis,
                upsert_rows: redis::Script::new(UPSERT_ROWS),
                commit_write: redis::Script::new(COMMIT_WRITE),
                layouts: RwLock::new(HashMap::new()),
            }),
        })
    }

    /// `host:port` of the server, as errors name it.
    pub fn address(&self) -> &str {
        &self.inner.address
    }

    /// The key prefix, as configured (or the project name). Keys start with
    /// it, `%`, `:`, `{` and `}` percent-encoded, and a `:`.
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    async fn connection(&self) -> ConnectionManager {
        let inner = &self.inner;
        inner
            .connection
            .get_or_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(inner.config.connect_timeout))
                    .set_response_timeout(Some(inner.config.request_timeout))
                    // One attempt per request: a request that finds the
                    // connection broken tries once more itself (see `send`),
                    // so a stopped server fails fast instead of backing off.
                    .set_number_of_retries(0);
                // Only fails for push-message settings this store never makes.
                ConnectionManager::new_lazy_with_config(inner.client.clone(), config)
                    .expect("a connection manager without push settings")
            })
            .await
            .clone()
    }

    /// Runs one round trip, bounded by the configured timeouts. A request
    /// that finds the connection dropped (Redis restarted, or was away) is
    /// sent once more over a fresh one: every request this store makes may
    /// run twice with the effect of once.
    async fn send<T, F, Fut>(&self, operation: impl Fn() -> String, request: F) -> Result<T, Error>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let config = &self.inner.config;
        let limit = config
            .connect_timeout
            .saturating_add(config.request_timeout);
        let mut retried = false;
        loop {
            let connection = self.connection().await;
            let result = match tokio::time::timeout(limit, request(connection)).await {
                Ok(result) => result,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {}", quiver_core::duration::format(limit)),
                )
                .into()),
            };
            match result {
                Ok(value) => return Ok(value),
                Err(e) if !retried && e.is_connection_dropped() => retried = true,
                Err(e) => return Err(Error::from_redis(&self.inner.address, operation(), e)),
            }
        }
    }

    fn cached_layout(&self, view: &str) -> Option<Arc<Current>> {
        let layouts = self.inner.layouts.read().unwrap_or_else(|e| e.into_inner());
        layouts.get(view).cloned()
    }

    /// The view's generation and layout as stored now, or `None` for a view
    /// never written. One round trip; parses the layout only when it is not
    /// the cached one.
    async fn fetch_meta(&self, view: &str) -> Result<Option<Arc<Current>>, Error> {
        let meta_key = self.inner.keys.meta(view);
        let (generation, digest, layout): (Option<u64>, Option<String>, Option<Vec<u8>>) = self
            .send(
                || format!("reading the layout of view {view}"),
                |mut c| {
                    let meta_key = &meta_key;
                    async move {
                        redis::cmd("HMGET")
                            .arg(meta_key)
                            .arg(GENERATION)
                            .arg(LAYOUT_DIGEST)
                            .arg(LAYOUT)
                            .query_async(&mut c)
                            .await
                    }
                },
            )
            .await?;
        let (Some(generation), Some(digest), Some(json)) = (generation, digest, layout) else {
            return Ok(None);
        };
        if let Some(cached) = self.cached_layout(view)
            && cached.generation == generation
            && cached.digest == digest
        {
            return Ok(Some(cached));
        }
        let layout: ViewLayout = serde_json::from_slice(&json).map_err(|e| Error::Corrupt {
            view: view.to_string(),
            key: "(layout)".to_string(),
            reason: e.to_string(),
        })?;
        let current = Arc::new(Current {
            generation,
            digest,
            layout: Arc::new(layout),
        });
        self.inner
            .layouts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(view.to_string(), current.clone());
        Ok(Some(current))
    }

    async fn read_consistent(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<(Arc<ViewLayout>, Vec<Option<FeatureRow>>), Error> {
        let unknown = || Error::Unknown {
            view: view.to_string(),
        };
        let mut known = self.cached_layout(view);
        for _ in 0..READ_ATTEMPTS {
            let known = match known.take() {
                Some(known) => known,
                None => self.fetch_meta(view).await?.ok_or_else(unknown)?,
            };
            if keys.is_empty() {
                return Ok((known.layout.clone(), Vec::new()));
            }
            // One round trip: the rows of the generation we believe current,
            // then the generation that is current. Generations only grow, and
            // a generation's rows are written before it becomes current and
            // dropped only after it stops being current, so if it is still
            // current after the rows were read, every row read is one of its
            // rows and none of its rows was missed. (The digest guards
            // against generations that restarted: see LAYOUT_DIGEST.)
            let mut row_keys = self.inner.keys.rows(view, known.generation);
            let mut pipe = redis::pipe();
            let mget = pipe.cmd("MGET");
            for key in keys {
                mget.arg(row_keys.key(key));
            }
            pipe.cmd("HMGET")
                .arg(self.inner.keys.meta(view))
                .arg(GENERATION)
                .arg(LAYOUT_DIGEST);
            let (values, (generation, digest)): (Value, (Option<u64>, Option<String>)) = self
                .send(
                    || format!("reading {} keys of view {view}", keys.len()),
                    |mut c| {
                        let pipe = &pipe;
                        async move { pipe.query_async(&mut c).await }
                    },
                )
                .await?;
            let Some(generation) = generation else {
                return Err(unknown());
            };
            if generation != known.generation || digest.as_deref() != Some(&known.digest) {
                continue;
            }
            let rows = decode_rows(view, keys, values)?;
            return Ok((known.layout.clone(), rows));
        }
        Err(Error::Unsettled {
            address: self.inner.address.clone(),
            view: view.to_string(),
            attempts: READ_ATTEMPTS,
        })
    }

    async fn write_rows(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
        offline_version: Option<u64>,
    ) -> Result<WriteOutcome, Error> {
        let inner = &self.inner;
        let view = layout.view.as_str();
        let meta_key = inner.keys.meta(view);
        let stored = self.fetch_meta(view).await?;
        // A new layout gets a fresh generation; its rows stay invisible until
        // COMMIT_WRITE makes it current, and the old generation's rows are
        // never read again (reads name the current generation's keys).
        let (generation, publish) = match stored {
            Some(current) if *current.layout == *layout => (current.generation, None),
            _ => {
                let generation: u64 = self
                    .send(
                        || format!("starting a new layout of view {view}"),
                        |mut c| {
                            let meta_key = &meta_key;
                            async move {
                                redis::cmd("HINCRBY")
                                    .arg(meta_key)
                                    .arg(NEXT_GENERATION)
                                    .arg(1)
                                    .query_async(&mut c)
                                    .await
                            }
                        },
                    )
                    .await?;
                let json = serde_json::to_string(layout).expect("layouts always serialise");
                (generation, Some(json))
            }
        };

        let ttl = inner.ttl_millis.get(view).copied().unwrap_or(0);
        let mut outcome = WriteOutcome::default();
        let mut row_keys = inner.keys.rows(view, generation);
        let mut value = Vec::with_capacity(256);
        for (number, chunk) in rows.chunks(inner.config.write_chunk_rows).enumerate() {
            let mut pipe = redis::pipe();
            // Loading is cheap and makes EVALSHA safe after a restart or a
            // SCRIPT FLUSH, without a NOSCRIPT round trip.
            pipe.load_script(&inner.upsert_rows).ignore();
            for part in chunk.chunks(ROWS_PER_SCRIPT) {
                let call = pipe
                    .cmd("EVALSHA")
                    .arg(inner.upsert_rows.get_hash())
                    .arg(part.len());
                for row in part {
                    call.arg(row_keys.key(&row.key));
                }
                call.arg(ttl);
                for row in part {
                    value.clear();
                    codec::encode_into(&row.row, &mut value);
                    call.arg(&value);
                }
            }
            let answers: Vec<Vec<i64>> = self
                .send(
                    || {
                        let first = number * inner.config.write_chunk_rows;
                        format!(
                            "writing rows {} to {} of view {view}",
                            first + 1,
                            first + chunk.len()
                        )
                    },
                    |mut c| {
                        let pipe = &pipe;
                        async move { pipe.query_async(&mut c).await }
                    },
                )
                .await?;
            let answers = answers.into_iter().flatten();
            for (row, answer) in chunk.iter().zip(answers) {
                match answer {
                    1 => outcome.written += 1,
                    0 => outcome.skipped_older += 1,
                    _ => {
                        return Err(Error::Corrupt {
                            view: view.to_string(),
                            key: row.key.clone(),
                            reason: "the stored value is not a Quiver row".to_string(),
                        });
                    }
                }
            }
        }

        let committed: i64 = self
            .send(
                || format!("recording the layout and offline version of view {view}"),
                |mut c| {
                    let mut invocation = inner.commit_write.key(&meta_key);
                    invocation
                        .arg(generation)
                        .arg(publish.as_deref().unwrap_or(""))
                        .arg(offline_version.map(|v| v.to_string()).unwrap_or_default());
                    async move { invocation.invoke_async(&mut c).await }
                },
            )
            .await?;
        if committed != 1 {
            return Err(Error::Superseded {
                address: inner.address.clone(),
                view: view.to_string(),
            });
        }
        if publish.is_some()
            && generation > 1
            && let Err(error) = self.drop_older_generations(view, generation).await
        {
            // Nothing reads those rows any more; a failure here only leaves
            // memory to reclaim at the next layout change (or by their TTL).
            tracing::warn!(view, error = %quiver_online::error_chain(&error), "Could not drop the rows of the view's previous layouts.");
        }
        Ok(outcome)
    }

    /// Unlinks the rows of `view` written under generations before
    /// `current`. Scans the keyspace, so it runs only when a layout changes,
    /// never on a read; generations after `current` belong to writes under way.
    async fn drop_older_generations(&self, view: &str, current: u64) -> Result<usize, Error> {
        let keys = &self.inner.keys;
        let pattern = keys.view_pattern(view);
        let mut cursor: u64 = 0;
        let mut dropped = 0;
        loop {
            let (next, found): (u64, Vec<Vec<u8>>) = self
                .send(
                    || format!("scanning for rows of older layouts of view {view}"),
                    |mut c| {
                        let pattern = &pattern;
                        async move {
                            redis::cmd("SCAN")
                                .arg(cursor)
                                .arg("MATCH")
                                .arg(pattern)
                                .arg("COUNT")
                                .arg(1_000)
                                .query_async(&mut c)
                                .await
                        }
                    },
                )
                .await?;
            let mut pipe = redis::pipe();
            for key in found
                .iter()
                .filter(|key| keys.generation_of(view, key).is_some_and(|g| g < current))
            {
                // One key per command: keys of different entities may live on
                // different Redis Cluster nodes.
                pipe.cmd("UNLINK").arg(key).ignore();
                dropped += 1;
            }
            if !pipe.is_empty() {
                self.send(
                    || format!("dropping rows of older layouts of view {view}"),
                    |mut c| {
                        let pipe = &pipe;
                        async move { pipe.query_async::<()>(&mut c).await }
                    },
                )
                .await?;
            }
            if next == 0 {
                return Ok(dropped);
            }
            cursor = next;
        }
    }
}

/// The rows of an MGET answer, in the order asked.
fn decode_rows(view: &str, keys: &[&str], values: Value) -> Result<Vec<Option<FeatureRow>>, Error> {
    let corrupt = |key: &str, reason: String| Error::Corrupt {
        view: view.to_string(),
        key: key.to_string(),
        reason,
    };
    let Value::Array(values) = values else {
        return Err(corrupt(keys[0], format!("MGET answered {values:?}")));
    };
    if values.len() != keys.len() {
        return Err(corrupt(
            keys[0],
            format!(
                "MGET answered {} values for {} keys",
                values.len(),
                keys.len()
            ),
        ));
    }
    keys.iter()
        .zip(values)
        .map(|(key, value)| match value {
            Value::Nil => Ok(None),
            Value::BulkString(bytes) => codec::decode(&bytes)
                .map(Some)
                .map_err(|reason| corrupt(key, reason)),
            other => Err(corrupt(key, format!("not a string but {other:?}"))),
        })
        .collect()
}

#[async_trait::async_trait]
impl OnlineStore for RedisStore {
    /// Writes in chunks of `write_chunk_rows`, one round trip each; every
    /// row's latest-event-time comparison runs on the server (UPSERT_ROWS), so
    /// concurrent writers cannot roll a row back. Atomic per row, not per
    /// call: a write that fails part-way leaves some rows written, and
    /// running it again completes it. A new layout becomes visible, with all
    /// of the write's rows, only at the end (COMMIT_WRITE).
    async fn write(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
        offline_version: Option<u64>,
    ) -> Result<WriteOutcome, OnlineError> {
        for row in rows {
            layout.check_row(row, None)?;
        }
        Ok(self.write_rows(layout, rows, offline_version).await?)
    }

    /// `DEL` of the keys' rows under the view's current generation, 1,000
    /// keys a round trip (older generations' rows are never read again).
    async fn delete(&self, view: &str, keys: &[&str]) -> Result<(), OnlineError> {
        let Some(current) = self.fetch_meta(view).await? else {
            return Ok(());
        };
        let mut row_keys = self.inner.keys.rows(view, current.generation);
        for chunk in keys.chunks(1_000) {
            let names: Vec<String> = chunk.iter().map(|k| row_keys.key(k).to_string()).collect();
            self.send(
                || format!("deleting {} rows of view {view}", names.len()),
                |mut c| {
                    let names = &names;
                    async move { redis::cmd("DEL").arg(names).query_async::<()>(&mut c).await }
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn read(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<Vec<Option<FeatureRow>>, OnlineError> {
        Ok(self.read_consistent(view, keys).await?.1)
    }

    async fn read_with_layout(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<(Arc<ViewLayout>, Vec<Option<FeatureRow>>), OnlineError> {
        Ok(self.read_consistent(view, keys).await?)
    }

    async fn layout(&self, view: &str) -> Result<Option<Arc<ViewLayout>>, OnlineError> {
        Ok(self
            .fetch_meta(view)
            .await?
            .map(|current| current.layout.clone()))
    }

    async fn offline_version(&self, view: &str) -> Result<Option<u64>, OnlineError> {
        let meta_key = self.inner.keys.meta(view);
        let version: Option<u64> = self
            .send(
                || format!("reading the offline version of view {view}"),
                |mut c| {
                    let meta_key = &meta_key;
                    async move {
                        redis::cmd("HGET")
                            .arg(meta_key)
                            .arg(OFFLINE_VERSION)
                            .query_async(&mut c)
                            .await
                    }
                },
            )
            .await?;
        Ok(version)
    }

    /// PING, within the configured timeouts.
    async fn check(&self) -> Result<(), OnlineError> {
        self.send(
            || "checking readiness (PING)".to_string(),
            |mut c| async move { redis::cmd("PING").query_async::<()>(&mut c).await },
        )
        .await?;
        Ok(())
    }
}

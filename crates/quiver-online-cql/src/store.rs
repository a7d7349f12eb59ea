//! [`CqlStore`]: the [`OnlineStore`] on a CQL cluster.
//!
//! Reads are one prepared single-partition `SELECT ... LIMIT 1` per key,
//! filtered by the layout generation of the view as this process last read
//! it from `quiver_views` (reread in the background every `layout_refresh`);
//! the keys of a batch are read concurrently, answers in the order asked.
//!
//! A write reads every key's stored versions first (to count what it skips
//! and to delete only what exists), then writes each key's latest row as one
//! single-partition unlogged batch: the insert, and range deletes of the
//! key's older event times and older generations. A write with a new layout
//! first takes a fresh generation (`pending_generation`), writes its rows
//! under it, and only then points `quiver_views` at it, so a reader never
//! pairs the new rows with the old layout or the reverse. See the crate docs
//! for why the data model is shaped this way.

use crate::codec::{Bind, decode_row};
use crate::config::CqlStoreConfig;
use crate::connect::{Profiles, connect, store_name};
use crate::error::{CqlError, error_chain, is_missing_table, is_retryable};
use crate::schema::{self, ExistingColumn, META_TABLE};
use futures::{StreamExt, TryStreamExt, stream};
use quiver_online::{
    BoxError, EntityRow, FeatureRow, OnlineError, OnlineStore, ViewLayout, WriteOutcome,
};
use scylla::client::execution_profile::ExecutionProfileHandle;
use scylla::client::session::Session;
use scylla::deserialize::row::ColumnIterator;
use scylla::errors::ExecutionError;
use scylla::response::query_result::QueryResult;
use scylla::statement::Statement;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, Row};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OnceCell};

/// Cassandra's largest partition key, in bytes.
const MAX_KEY_BYTES: usize = 65_535;
/// Cassandra's longest TTL: 20 years.
const MAX_TTL_SECONDS: u64 = 630_720_000;
/// The longest wait between two retries of a write.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Most keys of one `read` in flight at once: a batch of 100 ids goes out
/// whole, a batch of 100,000 does not flood the connection.
const READ_FANOUT: usize = 512;

/// The online store on Apache Cassandra, ScyllaDB or Amazon Keyspaces.
/// Cheap to clone; clones share one driver session.
#[derive(Clone)]
pub struct CqlStore {
    inner: Arc<Inner>,
}

struct Inner {
    session: Session,
    profiles: Profiles,
    /// `cassandra at <contact points>`, for errors.
    store: String,
    keyspace: String,
    replication_cql: String,
    create_keyspace: bool,
    write_concurrency: usize,
    max_retries: u32,
    retry_backoff: Duration,
    layout_refresh: Duration,
    /// TTL in seconds per view; views not named keep their rows.
    view_ttls: HashMap<String, i32>,
    /// What reads need of each view, as last read from `quiver_views`.
    views: RwLock<HashMap<String, Arc<CachedView>>>,
    /// Prepared once the metadata table exists.
    meta: OnceCell<MetaStatements>,
    /// One schema change at a time from this process.
    schema_lock: Mutex<()>,
    retries: AtomicUsize,
    /// The longest a read-side call (`read`, `layout`, `check`…) may take
    /// in all: twice `request_timeout`, for a layout refresh and the rows.
    read_deadline: Duration,
}

/// A view as the read path uses it.
struct CachedView {
    generation: i32,
    layout: Arc<ViewLayout>,
    select_latest: PreparedStatement,
    read_at: Instant,
    /// Whether a background task is reading `quiver_views` for this view.
    refreshing: AtomicBool,
}

struct MetaStatements {
    /// At `read_consistency`, for the read path.
    select: PreparedStatement,
    /// At `write_consistency`, for writes.
    select_for_write: PreparedStatement,
    /// Takes a new generation for a redefinition, if nobody took one since
    /// this writer read the row: a lightweight transaction, so that two jobs
    /// on two hosts never write two layouts under one generation.
    claim_generation: PreparedStatement,
    /// Points readers at the new generation, if no later writer claimed one
    /// meanwhile (a lightweight transaction too).
    publish_layout: PreparedStatement,
    set_offline_version: PreparedStatement,
}

/// A view's row in `quiver_views`.
struct MetaRow {
    layout: Option<String>,
    generation: Option<i32>,
    pending_generation: Option<i32>,
    offline_version: Option<i64>,
}

/// The prepared statements of one write call.
struct WriteStatements {
    versions: PreparedStatement,
    insert: PreparedStatement,
    delete_older_times: PreparedStatement,
    delete_older_generations: PreparedStatement,
}

/// The rows of one key within a write call.
struct KeyRows<'a> {
    /// Event times in the order given, to count as a sequence of writes would.
    times: Vec<i64>,
    /// The row that ends up stored if any does: the last with the latest time.
    latest: &'a FeatureRow,
}

impl CqlStore {
    /// Connects to the cluster of `config`. `project` names the keyspace
    /// unless `config.keyspace` does; `view_ttls` gives views whose rows
    /// Cassandra removes that long after they were written.
    ///
    /// Opening creates nothing: [`prepare`](OnlineStore::prepare) (`quiver
    /// apply`) or the first write does.
    pub async fn open(
        config: &CqlStoreConfig,
        project: &str,
        view_ttls: HashMap<String, Duration>,
    ) -> Result<CqlStore, OnlineError> {
        let keyspace = config.keyspace_or(project).to_string();
        config.validate(&keyspace)?;
        let view_ttls = view_ttls
            .into_iter()
            .map(|(view, ttl)| {
                // Round up: a TTL under a second must not become "no TTL".
                let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
                if seconds > MAX_TTL_SECONDS {
                    return Err(CqlError::Config {
                        key: format!("feature_views.{view}.ttl"),
                        problem: format!(
                            "{seconds} seconds is longer than Cassandra's longest TTL, \
                             {MAX_TTL_SECONDS} seconds (20 years)"
                        ),
                    });
                }
                Ok((view, seconds as i32))
            })
            .collect::<Result<_, _>>()?;
        let store = store_name(config);
        let connection = connect(config, &keyspace, &store).await?;
        Ok(CqlStore {
            inner: Arc::new(Inner {
                session: connection.session,
                profiles: connection.profiles,
                store,
                keyspace,
                replication_cql: config.replication.to_cql(),
                create_keyspace: config.create_keyspace,
                write_concurrency: config.write_concurrency,
                max_retries: config.max_retries,
                retry_backoff: config.retry_backoff,
                layout_refresh: config.layout_refresh,
                view_ttls,
                views: RwLock::new(HashMap::new()),
                meta: OnceCell::new(),
                schema_lock: Mutex::new(()),
                retries: AtomicUsize::new(0),
                read_deadline: config.request_timeout.saturating_mul(2),
            }),
        })
    }

    /// How many times this store has retried a request after a timeout or
    /// an overload since it was opened: a sign the cluster is too small
    /// for the job, or that Amazon Keyspaces throttles it.
    pub fn retries_so_far(&self) -> usize {
        self.inner.retries.load(Ordering::Relaxed)
    }

    /// The keyspace holding the store's tables.
    pub fn keyspace(&self) -> &str {
        &self.inner.keyspace
    }

    /// The driver session, for tools and tests that need plain CQL.
    pub fn session(&self) -> &Session {
        &self.inner.session
    }
}

impl Inner {
    /// `call` within [`Inner::read_deadline`]. The driver bounds each
    /// statement by `request_timeout`, but not everything a read may do
    /// (preparing a statement on a frozen node waits without limit), and
    /// no request to the server may wait longer than this.
    async fn within<T>(
        &self,
        what: impl FnOnce() -> String,
        call: impl std::future::Future<Output = Result<T, OnlineError>>,
    ) -> Result<T, OnlineError> {
        match tokio::time::timeout(self.read_deadline, call).await {
            Ok(result) => result,
            Err(_) => Err(OnlineError::Unavailable {
                store: self.store.clone(),
                source: format!("{} got no answer within {:?}", what(), self.read_deadline).into(),
            }),
        }
    }

    fn driver_error<E: crate::error::DriverError>(&self, operation: String, error: E) -> CqlError {
        CqlError::from_driver(&self.store, operation, error)
    }

    /// Runs `request` until it succeeds, fails for good, or has been retried
    /// `max_retries` times, waiting with exponential backoff and jitter.
    async fn retrying<T, F, Fut>(&self, mut request: F) -> Result<T, ExecutionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ExecutionError>>,
    {
        let mut attempt = 0;
        loop {
            match request().await {
                Err(error) if attempt < self.max_retries && is_retryable(&error) => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = backoff(self.retry_backoff, attempt);
                    tracing::debug!(error = %error, attempt, wait_ms = wait.as_millis() as u64, "Retrying a request of a write.");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn prepare_with(
        &self,
        cql: String,
        profile: &ExecutionProfileHandle,
        operation: impl FnOnce() -> String,
    ) -> Result<PreparedStatement, CqlError> {
        self.prepare_raw(cql, profile)
            .await
            .map_err(|e| self.driver_error(operation(), e))
    }

    /// Runs an unprepared statement on `profile`: DDL and `system_schema` reads.
    async fn run(
        &self,
        cql: &str,
        values: impl scylla::serialize::row::SerializeRow,
        profile: &ExecutionProfileHandle,
        operation: impl FnOnce() -> String,
    ) -> Result<QueryResult, CqlError> {
        let mut statement = Statement::new(cql);
        statement.set_execution_profile_handle(Some(profile.clone()));
        self.session
            .query_unpaged(statement, values)
            .await
            .map_err(|e| self.driver_error(operation(), e))
    }

    // ---- metadata ---------------------------------------------------------

    /// The metadata statements, or `None` while `quiver_views` does not exist.
    async fn meta_statements(&self) -> Result<Option<&MetaStatements>, CqlError> {
        match self.meta.get_or_try_init(|| self.prepare_meta()).await {
            Ok(statements) => Ok(Some(statements)),
            Err(error) if is_missing_table(&error) && !self.meta_table_exists().await? => Ok(None),
            Err(error) => Err(self.driver_error(
                format!(
                    "preparing statements on {}",
                    schema::table(&self.keyspace, META_TABLE)
                ),
                error,
            )),
        }
    }

    async fn prepare_meta(&self) -> Result<MetaStatements, ExecutionError> {
        let table = schema::table(&self.keyspace, META_TABLE);
        let select = format!(
            "SELECT layout, layout_generation, pending_generation, offline_version \
             FROM {table} WHERE view_name = ?"
        );
        let profiles = &self.profiles;
        Ok(MetaStatements {
            select: self.prepare_raw(select.clone(), &profiles.read).await?,
            select_for_write: self.prepare_raw(select, &profiles.write_read).await?,
            claim_generation: self
                .prepare_conditional(
                    format!(
                        "UPDATE {table} SET pending_generation = ? WHERE view_name = ? \
                         IF pending_generation = ?"
                    ),
                    &profiles.write,
                )
                .await?,
            publish_layout: self
                .prepare_conditional(
                    format!(
                        "UPDATE {table} SET layout = ?, layout_generation = ?, offline_version = ? \
                         WHERE view_name = ? IF pending_generation = ?"
                    ),
                    &profiles.write,
                )
                .await?,
            set_offline_version: self
                .prepare_raw(
                    format!("UPDATE {table} SET offline_version = ? WHERE view_name = ?"),
                    &profiles.write,
                )
                .await?,
        })
    }

    async fn prepare_raw(
        &self,
        cql: String,
        profile: &ExecutionProfileHandle,
    ) -> Result<PreparedStatement, ExecutionError> {
        let mut statement = Statement::new(cql);
        statement.set_execution_profile_handle(Some(profile.clone()));
        statement.set_is_idempotent(true);
        self.session
            .prepare(statement)
            .await
            .map_err(ExecutionError::PrepareError)
    }

    /// The metadata statements of a store whose metadata table must exist
    /// (a write is under way); its absence is an error of `operation`.
    async fn existing_meta_statements(
        &self,
        operation: &(dyn Fn() -> String + Sync),
    ) -> Result<&MetaStatements, CqlError> {
        self.meta_statements()
            .await?
            .ok_or_else(|| CqlError::Backend {
                store: self.store.clone(),
                operation: operation(),
                source: "the metadata table disappeared".into(),
            })
    }

    /// A lightweight transaction: not idempotent (a retry after a timeout
    /// could find its own earlier success and read it as a conflict), so the
    /// driver never retries it.
    async fn prepare_conditional(
        &self,
        cql: String,
        profile: &ExecutionProfileHandle,
    ) -> Result<PreparedStatement, ExecutionError> {
        let mut statement = self.prepare_raw(cql, profile).await?;
        statement.set_is_idempotent(false);
        Ok(statement)
    }

    async fn meta_table_exists(&self) -> Result<bool, CqlError> {
        let result = self
            .run(
                "SELECT table_name FROM system_schema.tables \
                 WHERE keyspace_name = ? AND table_name = ?",
                (&self.keyspace, META_TABLE),
                &self.profiles.schema,
                || "looking up the metadata table".to_string(),
            )
            .await?;
        let rows = result.into_rows_result().map_err(|e| CqlError::Backend {
            store: self.store.clone(),
            operation: "looking up the metadata table".to_string(),
            source: Box::new(quiver_core::Foreign::new(e)),
        })?;
        Ok(rows.rows_num() > 0)
    }

    /// The view's row of `quiver_views`; `None` if the view was never written
    /// (or the store never set up).
    async fn read_meta(&self, view: &str, for_write: bool) -> Result<Option<MetaRow>, OnlineError> {
        let Some(statements) = self.meta_statements().await? else {
            return Ok(None);
        };
        let operation = || format!("reading the definition of view `{view}`");
        let result = if for_write {
            self.retrying(|| {
                self.session
                    .execute_unpaged(&statements.select_for_write, (view,))
            })
            .await
        } else {
            self.session
                .execute_unpaged(&statements.select, (view,))
                .await
        }
        .map_err(|e| self.driver_error(operation(), e))?;
        let rows = result.into_rows_result().map_err(|e| CqlError::Backend {
            store: self.store.clone(),
            operation: operation(),
            source: Box::new(quiver_core::Foreign::new(e)),
        })?;
        let row = rows
            .maybe_first_row::<(Option<String>, Option<i32>, Option<i32>, Option<i64>)>()
            .map_err(|e| OnlineError::Corrupt {
                view: view.to_string(),
                key: "(definition)".to_string(),
                reason: e.to_string(),
            })?;
        Ok(row.map(
            |(layout, generation, pending_generation, offline_version)| MetaRow {
                layout,
                generation,
                pending_generation,
                offline_version,
            },
        ))
    }

    /// The layout and generation the view's rows are read under, if any.
    fn current(
        &self,
        view: &str,
        meta: &MetaRow,
    ) -> Result<Option<(ViewLayout, i32)>, OnlineError> {
        let (Some(json), Some(generation)) = (&meta.layout, meta.generation) else {
            return Ok(None);
        };
        let layout: ViewLayout = serde_json::from_str(json).map_err(|e| OnlineError::Corrupt {
            view: view.to_string(),
            key: "(layout)".to_string(),
            reason: e.to_string(),
        })?;
        Ok(Some((layout, generation)))
    }

    /// The view as the read path needs it. Younger than `layout_refresh`, the
    /// cached entry is used as it is; up to twice that old, it is used while
    /// one background task reads `quiver_views` again, so no request waits
    /// for that read; older (a view nobody asked for in a while), the request
    /// reads `quiver_views` itself.
    async fn view(self: &Arc<Self>, view: &str) -> Result<Option<Arc<CachedView>>, OnlineError> {
        let cached = self.views.read().unwrap().get(view).cloned();
        if let Some(cached) = cached {
            let age = cached.read_at.elapsed();
            if age < self.layout_refresh {
                return Ok(Some(cached));
            }
            if age < self.layout_refresh * 2 {
                if !cached.refreshing.swap(true, Ordering::AcqRel) {
                    let (inner, name, stale) = (self.clone(), view.to_string(), cached.clone());
                    tokio::spawn(async move {
                        if let Err(error) = inner.refresh(&name, Some(stale.clone())).await {
                            tracing::warn!(view = %name, error = %error_chain(&error), "Could not reread a view's definition.");
                            // Let a later request try again.
                            stale.refreshing.store(false, Ordering::Release);
                        }
                    });
                }
                return Ok(Some(cached));
            }
            return self.refresh(view, Some(cached)).await;
        }
        self.refresh(view, None).await
    }

    /// Reads the view's definition from `quiver_views` into the cache.
    async fn refresh(
        &self,
        view: &str,
        cached: Option<Arc<CachedView>>,
    ) -> Result<Option<Arc<CachedView>>, OnlineError> {
        let current = match self.read_meta(view, false).await? {
            Some(meta) => self.current(view, &meta)?,
            None => None,
        };
        let Some((layout, generation)) = current else {
            self.views.write().unwrap().remove(view);
            return Ok(None);
        };
        let fresh = match cached {
            // The same generation is the same layout: keep the statement.
            Some(cached) if cached.generation == generation => Arc::new(CachedView {
                generation,
                layout: cached.layout.clone(),
                select_latest: cached.select_latest.clone(),
                read_at: Instant::now(),
                refreshing: AtomicBool::new(false),
            }),
            _ => self.cache_view(layout, generation).await?,
        };
        let mut views = self.views.write().unwrap();
        // Generations only grow: a reread that started before this process
        // recorded a redefinition must not put the older one back.
        if let Some(newer) = views.get(view).filter(|c| c.generation > fresh.generation) {
            return Ok(Some(newer.clone()));
        }
        views.insert(view.to_string(), fresh.clone());
        Ok(Some(fresh))
    }

    async fn cache_view(
        &self,
        layout: ViewLayout,
        generation: i32,
    ) -> Result<Arc<CachedView>, CqlError> {
        let mut select_latest = self
            .prepare_with(
                schema::select_latest(&self.keyspace, &layout),
                &self.profiles.read,
                || format!("preparing reads of view `{}`", layout.view),
            )
            .await?;
        skip_result_metadata(&mut select_latest);
        Ok(Arc::new(CachedView {
            generation,
            layout: Arc::new(layout),
            select_latest,
            read_at: Instant::now(),
            refreshing: AtomicBool::new(false),
        }))
    }

    // ---- schema -----------------------------------------------------------

    /// Creates the keyspace (if allowed), the metadata table and the views'
    /// tables, and adds missing feature columns. Every view is checked before
    /// any DDL runs, so a refused change changes nothing.
    async fn ensure_tables(&self, layouts: &[&ViewLayout]) -> Result<(), OnlineError> {
        let _one_at_a_time = self.schema_lock.lock().await;
        let keyspace = &self.keyspace;
        let operation = || format!("reading the schema of keyspace `{keyspace}`");
        let result = self
            .run(
                "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                (keyspace,),
                &self.profiles.schema,
                operation,
            )
            .await?;
        let keyspace_exists = result
            .into_rows_result()
            .map_err(|e| self.backend(operation(), e))?
            .rows_num()
            > 0;
        let mut ddl = Vec::new();
        let mut tables: HashMap<String, HashMap<String, ExistingColumn>> = HashMap::new();
        if keyspace_exists {
            let result = self
                .run(
                    "SELECT table_name, column_name, type, kind FROM system_schema.columns \
                     WHERE keyspace_name = ?",
                    (keyspace,),
                    &self.profiles.schema,
                    operation,
                )
                .await?;
            let rows = result
                .into_rows_result()
                .map_err(|e| self.backend(operation(), e))?;
            for row in rows
                .rows::<(String, String, String, String)>()
                .map_err(|e| self.backend(operation(), e))?
            {
                let (table, column, cql_type, kind) =
                    row.map_err(|e| self.backend(operation(), e))?;
                tables
                    .entry(table)
                    .or_default()
                    .insert(column, ExistingColumn { cql_type, kind });
            }
        } else if self.create_keyspace {
            ddl.push(schema::create_keyspace(keyspace, &self.replication_cql));
        } else {
            return Err(CqlError::Config {
                key: "keyspace".to_string(),
                problem: format!(
                    "keyspace `{keyspace}` does not exist at {}; create it with the replication \
                     your cluster needs, or set `create_keyspace = true`",
                    self.store
                ),
            }
            .into());
        }
        if !tables.contains_key(META_TABLE) {
            ddl.push(schema::create_meta_table(keyspace));
        }
        for layout in layouts {
            ddl.extend(schema::plan_table(
                keyspace,
                layout,
                tables.get(&layout.view),
            )?);
        }
        for statement in &ddl {
            tracing::info!(store = %self.store, cql = %statement, "Changing the schema.");
            self.run(statement, (), &self.profiles.schema, || {
                format!("changing the schema: {statement}")
            })
            .await?;
        }
        if !ddl.is_empty() {
            self.session
                .await_schema_agreement()
                .await
                .map_err(|e| self.driver_error("waiting for schema agreement".to_string(), e))?;
        }
        Ok(())
    }

    fn backend(
        &self,
        operation: String,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> CqlError {
        CqlError::Backend {
            store: self.store.clone(),
            operation,
            source: Box::new(quiver_core::Foreign::new(error)),
        }
    }

    // ---- reads ------------------------------------------------------------

    async fn read_one(
        &self,
        view: &CachedView,
        key: &str,
    ) -> Result<Option<FeatureRow>, OnlineError> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            // No such key can have been written.
            return Ok(None);
        }
        let name = &view.layout.view;
        let operation = || format!("reading view `{name}`, key `{key}`");
        let result = self
            .session
            .execute_unpaged(&view.select_latest, (key, view.generation))
            .await
            .map_err(|e| self.driver_error(operation(), e))?;
        let rows = result
            .into_rows_result()
            .map_err(|e| self.backend(operation(), e))?;
        let corrupt = |reason: String| OnlineError::Corrupt {
            view: name.clone(),
            key: key.to_string(),
            reason,
        };
        match rows
            .maybe_first_row::<ColumnIterator<'_, '_>>()
            .map_err(|e| corrupt(e.to_string()))?
        {
            None => Ok(None),
            Some(columns) => decode_row(&view.layout, columns).map(Some).map_err(corrupt),
        }
    }

    // ---- writes -----------------------------------------------------------

    async fn write_statements(&self, layout: &ViewLayout) -> Result<WriteStatements, CqlError> {
        let (ks, view) = (&self.keyspace, layout.view.as_str());
        let operation = || format!("preparing writes of view `{view}`");
        let profiles = &self.profiles;
        let mut versions = self
            .prepare_with(
                schema::select_versions(ks, view),
                &profiles.write_read,
                operation,
            )
            .await?;
        skip_result_metadata(&mut versions);
        Ok(WriteStatements {
            versions,
            insert: self
                .prepare_with(schema::insert_row(ks, layout), &profiles.write, operation)
                .await?,
            delete_older_times: self
                .prepare_with(
                    schema::delete_older_times(ks, view),
                    &profiles.write,
                    operation,
                )
                .await?,
            delete_older_generations: self
                .prepare_with(
                    schema::delete_older_generations(ks, view),
                    &profiles.write,
                    operation,
                )
                .await?,
        })
    }

    /// Writes one key's latest row, returning (written, skipped_older) for
    /// its rows of this call.
    async fn write_key(
        &self,
        statements: &WriteStatements,
        view: &str,
        generation: i32,
        ttl: i32,
        key: &str,
        rows: KeyRows<'_>,
    ) -> Result<(usize, usize), OnlineError> {
        let operation = || format!("writing view `{view}`, key `{key}`");
        let result = self
            .retrying(|| self.session.execute_unpaged(&statements.versions, (key,)))
            .await
            .map_err(|e| self.driver_error(operation(), e))?;
        let versions: Vec<(i32, i64)> = result
            .into_rows_result()
            .map_err(|e| self.backend(operation(), e))?
            .rows::<(i32, i64)>()
            .map_err(|e| self.backend(operation(), e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.backend(operation(), e))?;
        let stored = versions
            .iter()
            .filter(|(g, _)| *g == generation)
            .map(|(_, t)| *t)
            .max();
        // Count as if the rows were written one after another.
        let (mut written, mut skipped) = (0, 0);
        let mut latest = stored.unwrap_or(i64::MIN);
        for &time in &rows.times {
            if time < latest {
                skipped += 1;
            } else {
                written += 1;
                latest = time;
            }
        }
        if written == 0 {
            return Ok((0, skipped));
        }
        let row = rows.latest;
        let time = row.event_time_micros;
        let same_row_exists = versions.contains(&(generation, time));
        let older_times = versions.iter().any(|(g, t)| *g == generation && *t < time);
        // The previous generation's rows stay until the next generation, so
        // a reader still trusting the previous layout keeps finding them.
        let older_generations = versions.iter().any(|(g, _)| *g < generation - 1);

        let mut insert = Vec::with_capacity(row.values.len() + 4);
        insert.extend([Bind::Text(key), Bind::Int(generation), Bind::BigInt(time)]);
        insert.extend(row.values.iter().map(|value| Bind::Feature {
            value,
            unset_nulls: !same_row_exists,
        }));
        insert.push(Bind::Int(ttl));
        let result = if !older_times && !older_generations {
            self.retrying(|| self.session.execute_unpaged(&statements.insert, &insert))
                .await
        } else {
            let mut batch = Batch::new(BatchType::Unlogged);
            batch.set_is_idempotent(true);
            batch.set_execution_profile_handle(Some(self.profiles.write.clone()));
            let mut values = vec![insert];
            batch.append_statement(statements.insert.clone());
            if older_times {
                batch.append_statement(statements.delete_older_times.clone());
                values.push(vec![
                    Bind::Text(key),
                    Bind::Int(generation),
                    Bind::BigInt(time),
                ]);
            }
            if older_generations {
                batch.append_statement(statements.delete_older_generations.clone());
                values.push(vec![Bind::Text(key), Bind::Int(generation - 1)]);
            }
            self.retrying(|| self.session.batch(&batch, &values)).await
        };
        result.map_err(|e| self.driver_error(operation(), e))?;
        Ok((written, skipped))
    }

    /// Deletes one key's partition (every generation's rows).
    async fn delete_key(
        &self,
        statement: &PreparedStatement,
        view: &str,
        key: &str,
    ) -> Result<(), OnlineError> {
        self.retrying(|| self.session.execute_unpaged(statement, (key,)))
            .await
            .map(|_| ())
            .map_err(|e| {
                self.driver_error(format!("deleting view `{view}`, key `{key}`"), e)
                    .into()
            })
    }

    /// Runs a conditional update of `quiver_views` once: `Superseded` if its
    /// condition did not hold (another writer moved the view's generation).
    /// Not retried: after a timeout its outcome is unknown, and the write
    /// fails with `Unavailable` rather than guess.
    async fn compare_and_set<V: scylla::serialize::row::SerializeRow>(
        &self,
        statement: impl Fn(&MetaStatements) -> &PreparedStatement,
        values: V,
        view: &str,
        operation: impl Fn() -> String + Sync,
    ) -> Result<(), OnlineError> {
        let statements = self.existing_meta_statements(&operation).await?;
        let result = self
            .session
            .execute_unpaged(statement(statements), &values)
            .await
            .map_err(|e| self.driver_error(operation(), e))?;
        let applied = applied(result).map_err(|source| CqlError::Backend {
            store: self.store.clone(),
            operation: operation(),
            source,
        })?;
        if applied {
            Ok(())
        } else {
            Err(CqlError::Superseded {
                store: self.store.clone(),
                view: view.to_string(),
            }
            .into())
        }
    }

    async fn set_meta<V: scylla::serialize::row::SerializeRow>(
        &self,
        statement: impl Fn(&MetaStatements) -> &PreparedStatement,
        values: V,
        operation: impl Fn() -> String + Sync,
    ) -> Result<(), OnlineError> {
        let statements = self.existing_meta_statements(&operation).await?;
        let statement = statement(statements);
        self.retrying(|| self.session.execute_unpaged(statement, &values))
            .await
            .map_err(|e| {
                self.driver_error(
                    format!("updating {}", schema::table(&self.keyspace, META_TABLE)),
                    e,
                )
            })?;
        Ok(())
    }
}

/// Whether a lightweight transaction applied: the first column of its
/// answer, `[applied]`, followed by the current values when it did not.
fn applied(result: QueryResult) -> Result<bool, BoxError> {
    let rows = result.into_rows_result()?;
    let row = rows.first_row::<Row>()?;
    match row.columns.first() {
        Some(Some(CqlValue::Boolean(applied))) => Ok(*applied),
        other => {
            Err(format!("a conditional update answered {other:?} instead of [applied]").into())
        }
    }
}

/// Asks the server to leave the column specs out of each answer; the driver
/// decodes with those it got when preparing. Safe for statements naming
/// their columns, as the store's `SELECT`s do: adding a column to the table
/// does not change what they return. Each read answers 23 column specs
/// shorter for a view of 22 features.
fn skip_result_metadata(statement: &mut PreparedStatement) {
    statement.set_use_cached_result_metadata(true);
}

/// The wait before retry number `attempt` (from 0): `base · 2^attempt`,
/// at most [`MAX_BACKOFF`], of which a random half ("equal jitter"), so that
/// writers throttled together do not retry together.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let ceiling = base
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF);
    let random = RandomState::new().hash_one(attempt) as f64 / u64::MAX as f64;
    ceiling / 2 + ceiling.mul_f64(random / 2.0)
}

/// The rows of a write grouped by key, in the order keys first appear.
fn group_by_key(rows: &[EntityRow]) -> Vec<(&str, KeyRows<'_>)> {
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
    let mut groups: Vec<(&str, KeyRows<'_>)> = Vec::with_capacity(rows.len());
    for EntityRow { key, row } in rows {
        match index.get(key.as_str()) {
            Some(&at) => {
                let group = &mut groups[at].1;
                group.times.push(row.event_time_micros);
                if row.event_time_micros >= group.latest.event_time_micros {
                    group.latest = row;
                }
            }
            None => {
                index.insert(key, groups.len());
                groups.push((
                    key,
                    KeyRows {
                        times: vec![row.event_time_micros],
                        latest: row,
                    },
                ));
            }
        }
    }
    groups
}

/// How many times a read that missed rows rereads the view's definition
/// while it keeps changing (a writer redefining the view again and again).
const MISS_REREADS: usize = 8;

#[async_trait::async_trait]
impl OnlineStore for CqlStore {
    /// A partition key holds at most 64 KiB.
    async fn check_write(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
    ) -> Result<(), OnlineError> {
        rows.iter()
            .try_for_each(|row| layout.check_row(row, Some(MAX_KEY_BYTES)))
    }

    /// One partition delete per key (every generation's rows), up to
    /// `write_concurrency` at once, retried like writes.
    async fn delete(&self, view: &str, keys: &[&str]) -> Result<(), OnlineError> {
        let inner = &*self.inner;
        if inner.read_meta(view, true).await?.is_none() {
            return Ok(()); // never written
        }
        let operation = || format!("deleting rows of view `{view}`");
        let statement = match inner
            .prepare_raw(
                schema::delete_key(&inner.keyspace, view),
                &inner.profiles.write,
            )
            .await
        {
            Ok(statement) => statement,
            Err(error) if is_missing_table(&error) => return Ok(()),
            Err(error) => return Err(inner.driver_error(operation(), error).into()),
        };
        // Made eagerly, as in `write`: a lazily mapped stream trips the
        // compiler's `Send` check inside `async_trait`.
        let deletes: Vec<_> = keys
            .iter()
            .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_BYTES)
            .map(|key| inner.delete_key(&statement, view, key))
            .collect();
        stream::iter(deletes)
            .buffer_unordered(inner.write_concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn write(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
        offline_version: Option<u64>,
    ) -> Result<WriteOutcome, OnlineError> {
        for row in rows {
            layout.check_row(row, Some(MAX_KEY_BYTES))?;
        }
        let inner = &*self.inner;
        let view = layout.view.as_str();
        let offline_version = offline_version
            .map(|v| {
                i64::try_from(v).map_err(|_| OnlineError::RowMismatch {
                    view: view.to_string(),
                    key: "(offline version)".to_string(),
                    reason: format!("offline version {v} does not fit a CQL bigint"),
                })
            })
            .transpose()?;
        let meta = inner.read_meta(view, true).await?;
        let current = match &meta {
            Some(meta) => inner.current(view, meta)?,
            None => None,
        };
        let (generation, new_layout) = match current {
            Some((stored, generation)) if stored == *layout => (generation, false),
            _ => {
                inner.ensure_tables(&[layout]).await?;
                // Never reuse a generation, not even one whose write failed
                // before `quiver_views` pointed at it: its rows may be of
                // another layout.
                let last = meta.as_ref().map_or(0, |m| {
                    m.generation
                        .unwrap_or(0)
                        .max(m.pending_generation.unwrap_or(0))
                });
                let generation = last.checked_add(1).ok_or_else(|| OnlineError::Corrupt {
                    view: view.to_string(),
                    key: "(definition)".to_string(),
                    reason: "layout generation overflow".to_string(),
                })?;
                let seen_pending = meta.as_ref().and_then(|m| m.pending_generation);
                inner
                    .compare_and_set(
                        |m| &m.claim_generation,
                        (generation, view, seen_pending),
                        view,
                        || format!("taking a new layout generation for view `{view}`"),
                    )
                    .await?;
                (generation, true)
            }
        };
        let retries_before = inner.retries.load(Ordering::Relaxed);
        let statements = inner.write_statements(layout).await?;
        let ttl = inner.view_ttls.get(view).copied().unwrap_or(0);
        // Made eagerly: a lazily mapped stream trips the compiler's `Send`
        // check inside `async_trait`. Futures do nothing until polled.
        let keys: Vec<_> = group_by_key(rows)
            .into_iter()
            .map(|(key, rows)| inner.write_key(&statements, view, generation, ttl, key, rows))
            .collect();
        let outcome = stream::iter(keys)
            .buffer_unordered(inner.write_concurrency)
            .try_fold(
                WriteOutcome::default(),
                |mut total, (written, skipped)| async move {
                    total.written += written;
                    total.skipped_older += skipped;
                    Ok(total)
                },
            )
            .await?;
        if new_layout {
            let json = serde_json::to_string(layout).expect("layouts always serialise");
            inner
                .compare_and_set(
                    |m| &m.publish_layout,
                    // The version recorded with the old layout's rows goes
                    // with them: the write's own, or none (null).
                    (json, generation, offline_version, view, generation),
                    view,
                    || format!("recording the layout of view `{view}`"),
                )
                .await?;
            let cached = inner.cache_view(layout.clone(), generation).await?;
            inner
                .views
                .write()
                .unwrap()
                .insert(view.to_string(), cached);
        }
        if let Some(version) = offline_version
            && !new_layout
        {
            inner
                .set_meta(
                    |m| &m.set_offline_version,
                    (version, view),
                    || format!("recording the offline version of view `{view}`"),
                )
                .await?;
        }
        // Retries of writes running at the same time on this store (another
        // view's) count here too; a job writes one view at a time.
        let retries = inner.retries.load(Ordering::Relaxed) - retries_before;
        Ok(WriteOutcome { retries, ..outcome })
    }

    async fn read(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<Vec<Option<FeatureRow>>, OnlineError> {
        Ok(self.read_with_layout(view, keys).await?.1)
    }

    /// The view's cached definition (reread in the background every
    /// `layout_refresh`), then the keys' rows of exactly the generation that
    /// layout was written under: rows and layout always belong together.
    async fn read_with_layout(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<(Arc<ViewLayout>, Vec<Option<FeatureRow>>), OnlineError> {
        let inner = &*self.inner;
        let read_under = |cached: Arc<CachedView>| async move {
            let reads: Vec<_> = keys
                .iter()
                .map(|key| inner.read_one(&cached, key))
                .collect();
            let rows: Vec<Option<FeatureRow>> = stream::iter(reads)
                .buffered(READ_FANOUT)
                .try_collect()
                .await?;
            Ok::<_, OnlineError>((cached, rows))
        };
        let read = async {
            let unknown = || OnlineError::UnknownView {
                view: view.to_string(),
            };
            let cached = self.inner.view(view).await?.ok_or_else(unknown)?;
            let (mut cached, mut rows) = read_under(cached).await?;
            // A row missing under the cached generation may have moved on:
            // a writer deletes a key's rows two generations back, and this
            // process rereads definitions only every `layout_refresh`. A
            // reread of `quiver_views` settles it (only misses pay for it);
            // a writer redefining the view again meanwhile means another.
            for _ in 0..MISS_REREADS {
                if rows.iter().all(Option::is_some) {
                    break;
                }
                match self.inner.refresh(view, Some(cached.clone())).await? {
                    Some(latest) if latest.generation != cached.generation => {
                        (cached, rows) = read_under(latest).await?;
                    }
                    _ => break,
                }
            }
            Ok((cached.layout.clone(), rows))
        };
        inner
            .within(|| format!("reading view `{view}`"), read)
            .await
    }

    async fn layout(&self, view: &str) -> Result<Option<Arc<ViewLayout>>, OnlineError> {
        let inner = &*self.inner;
        let layout = async {
            Ok(self
                .inner
                .view(view)
                .await?
                .map(|cached| cached.layout.clone()))
        };
        inner
            .within(|| format!("reading the layout of view `{view}`"), layout)
            .await
    }

    async fn offline_version(&self, view: &str) -> Result<Option<u64>, OnlineError> {
        let inner = &*self.inner;
        let version = async {
            let meta = inner.read_meta(view, false).await?;
            Ok(meta
                .and_then(|m| m.offline_version)
                .and_then(|v| u64::try_from(v).ok()))
        };
        inner
            .within(
                || format!("reading the offline version of view `{view}`"),
                version,
            )
            .await
    }

    async fn prepare(&self, layouts: &[ViewLayout]) -> Result<(), OnlineError> {
        let layouts: Vec<&ViewLayout> = layouts.iter().collect();
        self.inner.ensure_tables(&layouts).await
    }

    async fn check(&self) -> Result<(), OnlineError> {
        let inner = &*self.inner;
        let check = async {
            inner
                .run(
                    "SELECT release_version FROM system.local",
                    (),
                    &inner.profiles.read,
                    || "checking the cluster".to_string(),
                )
                .await?;
            Ok(())
        };
        inner
            .within(|| "checking the cluster".to_string(), check)
            .await
    }
}

impl std::fmt::Debug for CqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CqlStore")
            .field("store", &self.inner.store)
            .field("keyspace", &self.inner.keyspace)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_online::FeatureValue;
    use quiver_test::online_conformance::row;

    #[test]
    fn rows_of_a_key_group_to_the_last_of_the_latest() {
        let rows = [
            row("a", 12, 12.0),
            row("b", 1, 1.0),
            row("a", 3, 3.0),
            row("a", 12, 13.0),
        ];
        let groups = group_by_key(&rows);
        let keys: Vec<&str> = groups.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["a", "b"]);
        let a = &groups[0].1;
        assert_eq!(
            a.times,
            [12 * 86_400_000_000, 3 * 86_400_000_000, 12 * 86_400_000_000]
        );
        assert_eq!(a.latest.values[0], FeatureValue::Float64(13.0));
    }

    #[test]
    fn backoff_doubles_up_to_a_ceiling_with_jitter() {
        let base = Duration::from_millis(100);
        for attempt in 0..40 {
            let ceiling = (base * 2u32.pow(attempt.min(16))).min(MAX_BACKOFF);
            let wait = backoff(base, attempt);
            assert!(
                wait >= ceiling / 2 && wait <= ceiling,
                "{attempt}: {wait:?}"
            );
        }
    }
}

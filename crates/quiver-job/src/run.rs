//! [`run_view`]: the one feature job.

use crate::validate::plan_view;
use crate::{DuplicateRows, JobError, LatestRowCollector, Progress};
use deltalake::arrow::array::AsArray;
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::row::{OwnedRow, RowConverter, SortField};
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::logical_expr::{cast, col, lit};
use deltalake::datafusion::physical_plan::display::DisplayableExecutionPlan;
use deltalake::datafusion::physical_plan::{ExecutionPlan, execute_stream};
use futures::StreamExt;
use quiver_core::{BatchSource, Entity, FeatureRepo, FeatureView, ValueType};
use quiver_offline::{OfflineCommit, OfflineStore, StagedFiles, WriteMode};
use quiver_online::{OnlineStore, ViewLayout, WriteOutcome};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to run a job.
#[derive(Clone)]
pub struct RunOptions {
    /// `None`: add the rows the offline table does not have yet (by entity key
    /// and event time) — reruns write nothing, new days are appended.
    /// `Some((start, end))`: recompute and atomically replace every row with an
    /// event time in `[start, end]` — for corrections and backfills.
    pub replace_range: Option<(String, String)>,
    /// Where progress is shown.
    pub progress: Progress,
    /// Bytes the job's query may hold before its sorts and joins spill to
    /// disk: what bounds the job's memory, whatever the size of its data.
    pub memory_limit: usize,
}

/// The default [`RunOptions::memory_limit`]: 1 GiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 1024 * 1024 * 1024;

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            replace_range: None,
            progress: Progress::hidden(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
        }
    }
}

/// What a job did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The view.
    pub view: String,
    /// Rows read from the batch source.
    pub rows_read: usize,
    /// Rows the view's SQL produced (within the range, if one was given).
    pub rows_computed: usize,
    /// Rows committed to the offline table.
    pub offline_rows_written: usize,
    /// Offline table version before the job (`None`: no table).
    pub offline_version_before: Option<u64>,
    /// Offline table version after the job.
    pub offline_version: u64,
    /// The offline table.
    pub offline_table: String,
    /// Entities whose online row was written.
    pub online_rows_written: usize,
    /// Online rows not written because the store held a later row.
    pub online_rows_skipped_older: usize,
    /// Online writes the store retried (timeouts, throttling) before they
    /// succeeded.
    pub online_write_retries: usize,
    /// Entities rewritten from the offline table because the online store
    /// lagged behind it (a previous job died between its two commits).
    pub online_rows_repaired: Option<usize>,
    /// Bytes the job's query spilled to disk to stay within its memory
    /// limit (0 when everything fit).
    pub spilled_bytes: usize,
    /// Wall time of the whole job.
    pub elapsed: Duration,
}

/// Fail point (only with the `fail-points` feature, which tests turn on):
/// abort the process right after the offline commit, before the online
/// write, to prove the next run repairs the online store. A binary built
/// without the feature has neither the variable's name nor the check.
#[cfg(feature = "fail-points")]
const ABORT_AFTER_OFFLINE_COMMIT: &str = "QUIVER_TEST_ABORT_AFTER_OFFLINE_COMMIT";

/// Runs the feature job of `view_name`: compute once, write both stores.
///
/// The phases, in order (docs/DESIGN.md, "One job, two commits, one order"):
/// lock the view, bring a lagging online store back in step, plan the query,
/// compute the rows and stage the offline files in one pass, find what a
/// range replace must roll back online, check everything that could still
/// fail, commit offline, write online (undoing the commit if that fails).
pub async fn run_view(
    repo: &FeatureRepo,
    view_name: &str,
    online: &dyn OnlineStore,
    offline: &OfflineStore,
    options: RunOptions,
) -> Result<RunSummary, JobError> {
    let started = Instant::now();
    let view = repo.feature_view(view_name)?;
    let _lock = lock_view(repo, &view.name)?;
    let job = Job {
        view,
        entity: repo.entity_of(view),
        source: repo.source_of(view),
        location: repo.source_of(view).location.to_string(),
        layout: ViewLayout::of(view, repo.entity_of(view)),
        online,
        offline,
        options: &options,
        started,
        version_before: offline.version(&view.name).await?,
    };
    let repaired = job.bring_online_in_step().await?;
    let query = job.plan_query(repo).await?;
    let computed = job.compute_and_stage(&query).await?;
    let rollback = job.rows_to_roll_back(&query, &computed.latest).await?;
    let mut latest = computed.latest;
    latest.extend(rollback.older_rows);
    let staged = job.check_before_commit(computed.staged, &latest).await?;
    let commit = job.commit_offline(staged, query.mode).await?;
    let outcome = job
        .write_online(&commit, &rollback.deleted, &latest)
        .await?;
    options.progress.finish();
    Ok(RunSummary {
        view: view.name.clone(),
        rows_read: computed.rows_read,
        rows_computed: computed.rows_computed,
        offline_rows_written: commit.rows,
        offline_version_before: job.version_before,
        offline_version: commit.version,
        offline_table: offline.table_url(&view.name).to_string(),
        online_rows_written: outcome.written,
        online_rows_skipped_older: outcome.skipped_older,
        online_write_retries: outcome.retries,
        online_rows_repaired: repaired,
        spilled_bytes: computed.spilled_bytes,
        elapsed: started.elapsed(),
    })
}

/// What every phase of one job reads: the view, its entity and source, the
/// stores, and the table version the job started from.
struct Job<'a> {
    view: &'a FeatureView,
    entity: &'a Entity,
    source: &'a BatchSource,
    location: String,
    layout: ViewLayout,
    online: &'a dyn OnlineStore,
    offline: &'a OfflineStore,
    options: &'a RunOptions,
    started: Instant,
    version_before: Option<u64>,
}

/// The job's query, planned: rows in partition order, each marked whether
/// the table already holds it (when appending to a table).
struct Query {
    ctx: deltalake::datafusion::prelude::SessionContext,
    plan: Arc<dyn ExecutionPlan>,
    mode: WriteMode,
    /// The replaced range's filter, for a range replace.
    range: Option<deltalake::datafusion::logical_expr::Expr>,
    /// Whether the rows carry the `EXISTS` mark.
    mark_existing: bool,
}

/// What the one pass over the query's rows produced.
struct Computed {
    /// The offline files, written but not committed.
    staged: StagedFiles,
    /// Each entity's latest new row, for the online store.
    latest: Vec<quiver_online::EntityRow>,
    rows_read: usize,
    rows_computed: usize,
    spilled_bytes: usize,
}

impl Job<'_> {
    /// A failure of the query, naming the view and its source.
    fn compute_err(&self, e: DataFusionError) -> JobError {
        JobError::Compute {
            view: self.view.name.clone(),
            source_name: self.source.name.clone(),
            location: self.location.clone(),
            source: quiver_core::Foreign::new(e),
        }
    }

    /// Checks the table's columns against the view, then rewrites the online
    /// store from the table if it lags behind (a previous job died between
    /// its two commits). Returns the entities repaired, if any.
    async fn bring_online_in_step(&self) -> Result<Option<usize>, JobError> {
        let (view, entity) = (self.view, self.entity);
        check_table_columns(view, entity, self.offline).await?;
        self.options
            .progress
            .phase(format!("Checking online store of {}", view.name));
        // A store that is down fails the job now, before minutes of compute
        // and before anything is staged.
        self.online.check().await?;
        repair_online(
            view,
            entity,
            &self.layout,
            self.online,
            self.offline,
            self.version_before,
        )
        .await
    }

    /// Plans the view's SQL, limited to the replaced range if there is one,
    /// and sorted into partition order (event time, key).
    async fn plan_query(&self, repo: &FeatureRepo) -> Result<Query, JobError> {
        let (view, entity) = (self.view, self.entity);
        self.options
            .progress
            .phase(format!("Computing {} from {}", view.name, self.source.name));
        let planned = plan_view(repo, view, Some(self.options.memory_limit)).await?;
        let ctx = planned.ctx.clone();
        let mut frame = planned.frame;
        let mut range = None;
        let mode = match &self.options.replace_range {
            None => WriteMode::Append,
            Some((start, end)) => {
                let (time_type, start, end) = check_range(planned.event_time_type, start, end)?;
                let in_range = col(view.event_time.as_str()).between(
                    cast(lit(start.clone()), time_type.clone()),
                    cast(lit(end.clone()), time_type),
                );
                frame = frame
                    .filter(in_range.clone())
                    .map_err(|e| self.compute_err(e))?;
                range = Some(in_range);
                WriteMode::ReplaceRange { start, end }
            }
        };
        // Appending: only the rows the table does not hold yet, by key and time.
        // A sort-merge left join on (time, key) marks the rows the table has,
        // and leaves every computed row in the partition order the writer needs;
        // both sides spill beyond the memory limit, so neither the computed rows
        // nor the table must fit in memory. Marked rather than dropped, so the
        // duplicate check below sees every computed row.
        let mark_existing = matches!(mode, WriteMode::Append) && self.version_before.is_some();
        if let (true, Some(version)) = (mark_existing, self.version_before) {
            ctx.register_table("computed", frame.into_view())
                .map_err(|e| self.compute_err(e))?;
            self.offline
                .register(&ctx, &view.name, "existing", Some(version))
                .await?;
            let sql = format!(
                "SELECT c.*, e.\"{key}\" IS NOT NULL AS {EXISTS} FROM computed c \
                 LEFT JOIN (SELECT \"{time}\", \"{key}\" FROM existing) e \
                 ON c.\"{time}\" = e.\"{time}\" AND c.\"{key}\" = e.\"{key}\"",
                key = entity.join_key,
                time = view.event_time,
            );
            frame = ctx.sql(&sql).await.map_err(|e| self.compute_err(e))?;
        }
        let frame = frame
            .sort(vec![
                col(view.event_time.as_str()).sort(true, true),
                col(entity.join_key.as_str()).sort(true, true),
            ])
            .map_err(|e| self.compute_err(e))?;
        let plan = frame
            .create_physical_plan()
            .await
            .map_err(|e| self.compute_err(e))?;
        Ok(Query {
            ctx,
            plan,
            mode,
            range,
            mark_existing,
        })
    }

    /// One pass over the sorted rows: duplicates are neighbours, rows the
    /// table holds are dropped, the latest row of each entity is kept for the
    /// online store, and each event-time partition is written as its rows
    /// arrive. An empty source or a duplicate fails the job here, its files
    /// deleted.
    async fn compute_and_stage(&self, query: &Query) -> Result<Computed, JobError> {
        let (view, entity, progress) = (self.view, self.entity, &self.options.progress);
        let compute_err = |e| self.compute_err(e);
        let plan = &query.plan;
        let stream = execute_stream(plan.clone(), query.ctx.task_ctx()).map_err(compute_err)?;
        let in_schema = plan.schema();
        let normalised =
            written_columns(&in_schema, entity, view).map_err(|e| compute_err(e.into()))?;
        let exists = in_schema.index_of(EXISTS).ok();
        let out_schema = Arc::new(
            in_schema
                .project(
                    &(0..in_schema.fields().len())
                        .filter(|&i| Some(i) != exists)
                        .collect::<Vec<_>>(),
                )
                .map_err(|e| compute_err(e.into()))?,
        );
        let screened = Arc::new(std::sync::Mutex::new(Screened::default()));
        let screen = screened.clone();
        let new_rows = stream.map(move |batch| {
            let mut screen = screen.lock().expect("not poisoned");
            let batch = match batch {
                Ok(batch) => batch,
                Err(failure) => {
                    let text = failure.to_string();
                    screen.failure = Some(failure);
                    return Err(DataFusionError::Execution(text));
                }
            };
            screen.computed += batch.num_rows();
            screen.duplicates.observe(&batch.project(&normalised)?)?;
            let Some(exists) = exists else {
                return Ok(batch);
            };
            let flags = batch.column(exists).as_boolean();
            let new = deltalake::arrow::compute::not(flags)?;
            let kept = deltalake::arrow::compute::filter_record_batch(&batch, &new)?;
            let columns: Vec<usize> = (0..kept.num_columns()).filter(|&i| i != exists).collect();
            Ok::<_, DataFusionError>(kept.project(&columns)?)
        });
        let written_columns =
            written_columns(&out_schema, entity, view).map_err(|e| compute_err(e.into()))?;
        let mut latest = LatestRowCollector::default();
        let mut problem: Option<String> = None;
        let mut observe = |batch: &RecordBatch| -> Result<(), deltalake::DeltaTableError> {
            let normalised = batch.project(&written_columns)?;
            if let Err(reason) = latest.add(&normalised) {
                problem = Some(reason.clone());
                return Err(deltalake::DeltaTableError::Generic(reason));
            }
            progress.rows(batch.num_rows());
            Ok(())
        };
        let staged = self
            .offline
            .write_files(view, out_schema.clone(), new_rows, &mut observe)
            .await;
        let rows_read = source_rows_scanned(plan, query.mark_existing);
        let spilled_bytes = spilled_bytes(plan);
        tracing::debug!(
            view = %view.name,
            "The view's query, with each operator's time and rows:\n{}",
            DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true)
        );
        let failed_query = screened.lock().expect("not poisoned").failure.take();
        let staged = match (staged, problem, failed_query) {
            (_, _, Some(failure)) if is_out_of_memory(&failure) => {
                return Err(JobError::MemoryLimit {
                    view: view.name.clone(),
                    limit_mib: self.options.memory_limit / (1024 * 1024),
                    detail: failure.to_string(),
                });
            }
            // The query's own failures (a malformed CSV line) name the source.
            (_, _, Some(failure)) => return Err(compute_err(failure)),
            (_, Some(reason), None) => {
                return Err(compute_err(DataFusionError::Execution(reason)));
            }
            (Ok(staged), None, None) => staged,
            (Err(e), None, None) => return Err(e.into()),
        };
        let (rows_computed, duplicates) = {
            let screened = screened.lock().expect("not poisoned");
            (screened.computed, screened.duplicates.found())
        };
        if rows_read == 0 {
            staged.discard().await;
            return Err(JobError::EmptySource {
                source_name: self.source.name.clone(),
                location: self.location.clone(),
            });
        }
        if let Some(found) = duplicates {
            staged.discard().await;
            return Err(JobError::DuplicateRows(Box::new(DuplicateRows {
                view: view.name.clone(),
                source_name: self.source.name.clone(),
                location: self.location.clone(),
                key: entity.join_key.clone(),
                key_value: found.key,
                time: view.event_time.clone(),
                time_value: found.time,
                count: found.count,
                more: found.more,
            })));
        }
        tracing::info!(view = %view.name, seconds = self.started.elapsed().as_secs_f64(), peak_rss_mib = peak_rss_mib(), rows = rows_computed, "Computed the view and wrote its files.");
        let latest = latest
            .finish()
            .map_err(|reason| compute_err(DataFusionError::Execution(reason)))?;
        Ok(Computed {
            staged,
            latest,
            rows_read,
            rows_computed,
            spilled_bytes,
        })
    }

    /// A replaced range may no longer hold an entity's latest row: its
    /// online row must then go back to the latest row left, or go.
    async fn rows_to_roll_back(
        &self,
        query: &Query,
        latest: &[quiver_online::EntityRow],
    ) -> Result<Rollback, JobError> {
        let (Some(in_range), Some(version)) = (&query.range, self.version_before) else {
            return Ok(Rollback::default());
        };
        rows_to_roll_back(
            self.view,
            self.entity,
            self.online,
            self.offline,
            &query.ctx,
            version,
            in_range.clone(),
            latest,
            &|e| self.compute_err(e),
        )
        .await
    }

    /// What could still fail must fail before the offline commit, the staged
    /// files deleted: an online store that stopped answering, keys or rows
    /// the online store would refuse (after the commit they could only be
    /// undone by restoring the table), a first run with no rows, and another
    /// writer (Spark, say) having committed meanwhile, since the anti-join
    /// was against the version the job started from.
    async fn check_before_commit(
        &self,
        staged: StagedFiles,
        latest: &[quiver_online::EntityRow],
    ) -> Result<StagedFiles, JobError> {
        let view = self.view;
        // Down since the job began? Then fail here, not after the commit.
        if let Err(down) = self.online.check().await {
            staged.discard().await;
            return Err(down.into());
        }
        if let Err(refusal) = self.online.check_write(&self.layout, latest).await {
            staged.discard().await;
            return Err(match refusal {
                quiver_online::OnlineError::Unavailable { .. } => refusal.into(),
                refusal => JobError::OnlineRefuses {
                    view: view.name.clone(),
                    source_name: self.source.name.clone(),
                    location: self.location.clone(),
                    source: Box::new(refusal),
                },
            });
        }
        if self.version_before.is_none() && staged.rows() == 0 {
            staged.discard().await;
            return Err(JobError::NoRows {
                view: view.name.clone(),
                source_name: self.source.name.clone(),
            });
        }
        let now = self.offline.version(&view.name).await?;
        if now != self.version_before {
            staged.discard().await;
            return Err(JobError::TableMoved {
                view: view.name.clone(),
                expected: self.version_before.unwrap_or_default(),
                found: now.unwrap_or_default(),
            });
        }
        Ok(staged)
    }

    /// Commits the staged files as one Delta version.
    async fn commit_offline(
        &self,
        staged: StagedFiles,
        mode: WriteMode,
    ) -> Result<OfflineCommit, JobError> {
        let view = self.view;
        self.options
            .progress
            .phase(format!("Committing the offline table of {}", view.name));
        let commit = self.offline.commit(view, staged, mode).await?;
        tracing::info!(view = %view.name, seconds = self.started.elapsed().as_secs_f64(), peak_rss_mib = peak_rss_mib(), "Committed the offline table.");
        #[cfg(feature = "fail-points")]
        if Some(commit.version) != self.version_before
            && std::env::var_os(ABORT_AFTER_OFFLINE_COMMIT).is_some()
        {
            std::process::abort();
        }
        Ok(commit)
    }

    /// Writes the latest rows online with the committed version (after
    /// deleting the rows a range replace rolls back); if that fails, restores
    /// the table to the version before the job. Nothing to write when the
    /// commit added no version.
    async fn write_online(
        &self,
        commit: &OfflineCommit,
        deleted: &[String],
        latest: &[quiver_online::EntityRow],
    ) -> Result<WriteOutcome, JobError> {
        let view = self.view;
        self.options
            .progress
            .phase(format!("Writing online store of {}", view.name));
        if Some(commit.version) == self.version_before {
            return Ok(WriteOutcome::default());
        }
        let written = async {
            // Deleted first: if the job dies between the two, the rows are
            // missing and the recorded version lags, so the next run's
            // repair writes them back from the table.
            if !deleted.is_empty() {
                let keys: Vec<&str> = deleted.iter().map(String::as_str).collect();
                self.online.delete(&view.name, &keys).await?;
            }
            self.online
                .write(&self.layout, latest, Some(commit.version))
                .await
        };
        match written.await {
            Ok(outcome) => Ok(outcome),
            Err(source) => {
                if let Err(undo) = undo_offline(self.offline, &view.name, self.version_before).await
                {
                    return Err(JobError::UndoFailed {
                        view: view.name.clone(),
                        committed: commit.version,
                        online: source,
                        undo: Box::new(undo),
                    });
                }
                Err(JobError::OnlineUndone {
                    view: view.name.clone(),
                    undone_version: commit.version,
                    source,
                })
            }
        }
    }
}

/// If the online store does not reflect the offline table's latest version
/// (a job died between its two commits, or the online files were deleted),
/// rewrites the latest row of every entity from the table.
async fn repair_online(
    view: &FeatureView,
    entity: &Entity,
    layout: &ViewLayout,
    online: &dyn OnlineStore,
    offline: &OfflineStore,
    offline_version: Option<u64>,
) -> Result<Option<usize>, JobError> {
    let Some(version) = offline_version else {
        return Ok(None);
    };
    let in_step = online.offline_version(&view.name).await? == Some(version)
        && online.layout(&view.name).await?.as_deref() == Some(layout);
    if in_step {
        return Ok(None);
    }
    tracing::warn!(
        view = %view.name,
        offline_version = version,
        "Online store lags the offline table; rewriting its rows from the table."
    );
    let selection = quiver_offline::Selection {
        at: quiver_offline::AsOf::Version(version),
        ..Default::default()
    };
    let (_, rows) =
        crate::materialize::online_rows_from_table(offline, view, entity, &selection).await?;
    // In parts, each its own write, the version recorded by the last: a
    // store has to find room for one part at a time, not for a second copy
    // of every row (LMDB keeps a page's old copy until its write commits,
    // so one write of every row would not fit a store more than half
    // full). Parts are safe here: every row is the table's latest for its
    // entity, and until the last part lands the recorded version still
    // says the store lags, so a repair that dies is repeated whole.
    let part = (rows.len() / REPAIR_PARTS).max(MIN_REPAIR_PART);
    let mut parts = rows.chunks(part).peekable();
    while let Some(rows) = parts.next() {
        let last = parts.peek().is_none();
        online.write(layout, rows, last.then_some(version)).await?;
    }
    if rows.is_empty() {
        online.write(layout, &[], Some(version)).await?;
    }
    Ok(Some(rows.len()))
}

/// How many writes a repair of the online store is split into, at most.
const REPAIR_PARTS: usize = 64;
/// The fewest rows in one write of a repair.
const MIN_REPAIR_PART: usize = 100;

/// What a range replace must undo online, beyond writing its new rows.
#[derive(Default)]
struct Rollback {
    /// Entities whose online row the replaced range no longer holds, to be
    /// deleted before the job's rows are written.
    deleted: Vec<String>,
    /// Their latest rows left outside the range, older than the deleted
    /// ones (entities with a new row in the range have it among the job's).
    older_rows: Vec<quiver_online::EntityRow>,
}

/// The entities whose online row a replace of the range `in_range` removes
/// from the table (it had a row there at `version`, and the online row is
/// later than both the job's new row for it and its latest row outside the
/// range), with the row each must go back to, if any. Reads the table's
/// rows in the range and the rows of those entities outside it.
#[allow(
    clippy::too_many_arguments,
    reason = "the job's state at this phase; a struct would be built for one call"
)]
async fn rows_to_roll_back(
    view: &FeatureView,
    entity: &Entity,
    online: &dyn OnlineStore,
    offline: &OfflineStore,
    ctx: &deltalake::datafusion::prelude::SessionContext,
    version: u64,
    in_range: deltalake::datafusion::logical_expr::Expr,
    new_rows: &[quiver_online::EntityRow],
    compute_err: &dyn Fn(DataFusionError) -> JobError,
) -> Result<Rollback, JobError> {
    use deltalake::datafusion::logical_expr::not;
    const PREVIOUS: &str = "__quiver_previous";
    const RANGE_KEYS: &str = "__quiver_range_keys";
    const OUTSIDE: &str = "__quiver_outside";
    offline
        .register(ctx, &view.name, PREVIOUS, Some(version))
        .await?;
    let previous = ctx.table(PREVIOUS).await.map_err(compute_err)?;
    let key = entity.join_key.as_str();
    // The latest row per entity of a query's stream, in the collector's
    // normalised layout (key, event time, features).
    let latest_of = |frame: deltalake::datafusion::dataframe::DataFrame| async move {
        let mut stream = frame.execute_stream().await.map_err(compute_err)?;
        let mut collector = LatestRowCollector::default();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(compute_err)?;
            let columns: Vec<usize> = std::iter::once(key)
                .chain(std::iter::once(view.event_time.as_str()))
                .chain(view.features.iter().map(|f| f.name.as_str()))
                .map(|name| batch.schema().index_of(name))
                .collect::<Result<_, _>>()
                .map_err(|e| compute_err(e.into()))?;
            let batch = batch.project(&columns).map_err(|e| compute_err(e.into()))?;
            collector
                .add(&batch)
                .map_err(|reason| compute_err(DataFusionError::Execution(reason)))?;
        }
        collector
            .finish()
            .map_err(|reason| compute_err(DataFusionError::Execution(reason)))
    };
    let in_range_before = previous
        .clone()
        .filter(in_range.clone())
        .map_err(compute_err)?;
    let touched = latest_of(in_range_before.clone()).await?;
    if touched.is_empty() {
        return Ok(Rollback::default());
    }
    ctx.register_table(
        RANGE_KEYS,
        in_range_before
            .select(vec![col(key)])
            .map_err(compute_err)?
            .into_view(),
    )
    .map_err(compute_err)?;
    ctx.register_table(
        OUTSIDE,
        previous
            .filter(not(in_range))
            .map_err(compute_err)?
            .into_view(),
    )
    .map_err(compute_err)?;
    let outside = ctx
        .sql(&format!(
            "SELECT o.* FROM {OUTSIDE} o WHERE o.\"{key}\" IN (SELECT r.\"{key}\" FROM {RANGE_KEYS} r)"
        ))
        .await
        .map_err(compute_err)?;
    let outside: std::collections::HashMap<String, quiver_online::EntityRow> = latest_of(outside)
        .await?
        .into_iter()
        .map(|row| (row.key.clone(), row))
        .collect();
    let new_times: std::collections::HashMap<&str, i64> = new_rows
        .iter()
        .map(|row| (row.key.as_str(), row.row.event_time_micros))
        .collect();
    let mut rollback = Rollback::default();
    for part in touched.chunks(1_000) {
        let keys: Vec<&str> = part.iter().map(|row| row.key.as_str()).collect();
        let stored = match online.read(&view.name, &keys).await {
            Ok(rows) => rows,
            Err(quiver_online::OnlineError::UnknownView { .. }) => return Ok(rollback),
            Err(e) => return Err(e.into()),
        };
        for (key, stored) in keys.into_iter().zip(stored) {
            let Some(stored) = stored else { continue };
            let new = new_times.get(key).copied();
            let left = outside.get(key);
            let latest_left = new.max(left.map(|row| row.row.event_time_micros));
            if latest_left.is_some_and(|time| time >= stored.event_time_micros) {
                continue; // the job's write keeps or replaces it as usual
            }
            rollback.deleted.push(key.to_string());
            if let Some(row) = left
                && new.is_none_or(|time| time < row.row.event_time_micros)
            {
                rollback.older_rows.push(row.clone());
            }
        }
    }
    Ok(rollback)
}

/// One job per view at a time: a second would anti-join against the same
/// table version and commit the same new rows again. The lock is released
/// when the returned file closes, also when the process dies.
pub(crate) fn lock_view(repo: &FeatureRepo, view: &str) -> Result<std::fs::File, JobError> {
    let dir = repo.root.join("data/.locks");
    let io_err = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| JobError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join(format!("{view}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(JobError::Busy {
            view: view.to_string(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(&path)(e)),
    }
}

/// The table's columns must be the ones the view declares: delta-rs would
/// refuse the write later, after the online store was already touched.
async fn check_table_columns(
    view: &FeatureView,
    entity: &Entity,
    offline: &OfflineStore,
) -> Result<(), JobError> {
    let Some(mut table) = offline.columns(&view.name).await? else {
        return Ok(());
    };
    let mut declared: Vec<String> = [entity.join_key.clone(), view.event_time.clone()]
        .into_iter()
        .chain(view.features.iter().map(|f| f.name.clone()))
        .collect();
    table.sort();
    declared.sort();
    if table == declared {
        return Ok(());
    }
    let missing = |a: &[String], b: &[String]| {
        let names: Vec<&str> = a
            .iter()
            .filter(|c| !b.contains(c))
            .map(String::as_str)
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    Err(JobError::SchemaChanged {
        view: view.name.clone(),
        table: offline.table_url(&view.name).to_string(),
        added: missing(&declared, &table),
        removed: missing(&table, &declared),
    })
}

/// Undoes this job's offline commit after its online write failed.
async fn undo_offline(
    offline: &OfflineStore,
    view: &str,
    version_before: Option<u64>,
) -> Result<(), JobError> {
    match version_before {
        Some(version) => {
            offline.restore(view, version).await?;
        }
        None => {
            // The job created the table; leaving as it was means no table,
            // on local disk or in a bucket alike.
            offline.delete_table(view).await?;
        }
    }
    Ok(())
}

/// Where the columns a view writes (key, event time, features, in that
/// order) sit in `schema`.
fn written_columns(
    schema: &deltalake::arrow::datatypes::Schema,
    entity: &Entity,
    view: &FeatureView,
) -> Result<Vec<usize>, ArrowError> {
    std::iter::once(entity.join_key.as_str())
        .chain(std::iter::once(view.event_time.as_str()))
        .chain(view.features.iter().map(|f| f.name.as_str()))
        .map(|name| schema.index_of(name))
        .collect()
}

/// Rows read from the source: the largest count among the leaves of `plan`
/// (the scans), from their metrics. A view reads one source, but its SQL may
/// scan it more than once (the demo's does, to fill in missing days), so the
/// counts are not added up.
fn rows_scanned(plan: &Arc<dyn ExecutionPlan>) -> usize {
    let children = plan.children();
    if children.is_empty() {
        plan.metrics()
            .and_then(|m| m.output_rows())
            .unwrap_or_default()
    } else {
        children
            .into_iter()
            .map(rows_scanned)
            .max()
            .unwrap_or_default()
    }
}

/// [`rows_scanned`] of the view's own plan, inside a plan whose outermost
/// join marks the rows the offline table holds: only that join's computed
/// side (the left of `computed LEFT JOIN existing`, which the planner may
/// have swapped) counts, not the table's scan.
fn source_rows_scanned(plan: &Arc<dyn ExecutionPlan>, marked: bool) -> usize {
    use deltalake::datafusion::common::JoinType;
    use deltalake::datafusion::physical_plan::joins::{HashJoinExec, SortMergeJoinExec};
    if !marked {
        return rows_scanned(plan);
    }
    let computed_side = |join_type: &JoinType, left, right| match join_type {
        JoinType::Right => right,
        _ => left,
    };
    if let Some(join) = plan.downcast_ref::<SortMergeJoinExec>() {
        return rows_scanned(computed_side(&join.join_type(), join.left(), join.right()));
    }
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        return rows_scanned(computed_side(join.join_type(), join.left(), join.right()));
    }
    let children = plan.children();
    if children.is_empty() {
        return rows_scanned(plan);
    }
    children
        .into_iter()
        .map(|child| source_rows_scanned(child, true))
        .max()
        .unwrap_or_default()
}

/// Bytes every operator of `plan` spilled to disk.
fn spilled_bytes(plan: &Arc<dyn ExecutionPlan>) -> usize {
    let own = plan
        .metrics()
        .and_then(|m| m.spilled_bytes())
        .unwrap_or_default();
    own + plan
        .children()
        .into_iter()
        .map(spilled_bytes)
        .sum::<usize>()
}

/// Whether DataFusion gave up for want of memory within the pool.
fn is_out_of_memory(error: &DataFusionError) -> bool {
    match error {
        DataFusionError::ResourcesExhausted(_) => true,
        DataFusionError::Context(_, inner) => is_out_of_memory(inner),
        DataFusionError::Shared(inner) => is_out_of_memory(inner),
        _ => false,
    }
}

/// The column marking computed rows the offline table already holds.
const EXISTS: &str = "__quiver_exists";

/// What the job's pass over its computed rows found.
#[derive(Default)]
struct Screened {
    /// Rows the view computed (within the range, if one was given).
    computed: usize,
    duplicates: DuplicateCheck,
    /// The query's error, if it failed.
    failure: Option<DataFusionError>,
}

/// Duplicate (key, event time) pairs among rows sorted by (event time,
/// key): they are neighbours, so one comparison per row finds them.
#[derive(Default)]
struct DuplicateCheck {
    converter: Option<RowConverter>,
    /// The last row of the previous batch.
    previous: Option<OwnedRow>,
    /// Rows so far equal to `previous`.
    run: i64,
    /// The first duplicated pair, as text, and how often it occurs.
    first: Option<(String, String, i64)>,
    /// Whether the current run is the first duplicated pair.
    in_first: bool,
    /// Further duplicated pairs.
    more: usize,
}

/// A duplicated pair, for [`DuplicateRows`].
struct FoundDuplicate {
    key: String,
    time: String,
    count: i64,
    more: usize,
}

impl DuplicateCheck {
    /// `batch` has the normalised layout: key, event time, features.
    fn observe(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let pair = [batch.column(1).clone(), batch.column(0).clone()];
        let converter = match &mut self.converter {
            Some(c) => c,
            None => self.converter.insert(RowConverter::new(vec![
                SortField::new(pair[0].data_type().clone()),
                SortField::new(pair[1].data_type().clone()),
            ])?),
        };
        let rows = converter.convert_columns(&pair)?;
        for i in 0..rows.num_rows() {
            let row = rows.row(i);
            // The row before: in this batch, or the last of the previous one
            // (the only row kept across batches, so no allocation per row).
            let repeated = match i {
                0 => self.previous.as_ref().is_some_and(|p| p.row() == row),
                _ => rows.row(i - 1) == row,
            };
            if repeated {
                self.run += 1;
                match &mut self.first {
                    None => {
                        let text = |c: usize| {
                            deltalake::arrow::util::display::array_value_to_string(
                                batch.column(c),
                                i,
                            )
                            .unwrap_or_default()
                        };
                        self.first = Some((text(0), text(1), 2));
                        self.in_first = true;
                    }
                    Some((_, _, count)) if self.in_first => *count += 1,
                    Some(_) if self.run == 2 => self.more += 1,
                    Some(_) => {}
                }
            } else {
                self.run = 1;
                self.in_first = false;
            }
        }
        if rows.num_rows() > 0 {
            self.previous = Some(rows.row(rows.num_rows() - 1).owned());
        }
        Ok(())
    }

    fn found(&self) -> Option<FoundDuplicate> {
        self.first
            .as_ref()
            .map(|(key, time, count)| FoundDuplicate {
                key: key.clone(),
                time: time.clone(),
                count: *count,
                more: self.more,
            })
    }
}

/// Checks `--start`/`--end` and returns the Arrow type to compare them as.
pub(crate) fn check_range(
    event_time: ValueType,
    start: &str,
    end: &str,
) -> Result<(DataType, String, String), JobError> {
    let parse = |value: &str, what: &'static str| -> Result<String, JobError> {
        let bad = || JobError::BadRange {
            value: value.to_string(),
            what,
        };
        if chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok() {
            return Ok(value.to_string());
        }
        if event_time == ValueType::Timestamp && chrono::DateTime::parse_from_rfc3339(value).is_ok()
        {
            return Ok(value.to_string());
        }
        Err(bad())
    };
    let start = parse(start, "start")?;
    let end = parse(end, "end")?;
    let instant = |v: &str| {
        chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(v).map(|t| t.to_utc()))
            .ok()
    };
    if instant(&start) > instant(&end) {
        return Err(JobError::EmptyRange { start, end });
    }
    Ok((crate::arrow_type(event_time), start, end))
}

/// The process's peak resident memory so far in MiB (Linux), for the phase log.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

//! [`OfflineStore`]: reads and writes the Delta table of each feature view.

use crate::OfflineError;
use crate::data_files::{FileLayout, write_sorted_stream};
use crate::partition_order::in_partition_order;
use crate::storage::{SUPPORTED_SCHEMES, StorageOptions, is_local};
use crate::table_log::{AsOf, QUIVER_VERSION_KEY, TableCommit, read_log, version_at};
use deltalake::arrow::array::{Array, AsArray, Int64Array, StringArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef};
use deltalake::arrow::error::ArrowError;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::{SessionContext, col, lit};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::schema::cast::normalize_for_delta;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Remove, StructType};
use deltalake::operations::create::CreateBuilder;
use deltalake::operations::write::configs::WriterStatsConfig;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use quiver_core::{Entity, FeatureRepo, FeatureView, SourceLocation, ValueType};
use std::sync::Arc;
use url::Url;

/// The Delta Lake tables of one repository: `<location>/<view>`, in a local
/// folder or under an `s3://` prefix.
#[derive(Debug, Clone)]
pub struct OfflineStore {
    root: Url,
    storage: StorageOptions,
}

/// How a job's rows go into a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteMode {
    /// Add the rows (the job has already left out rows the table holds).
    Append,
    /// Atomically replace every row whose event time lies in `[start, end]`
    /// (inclusive, `YYYY-MM-DD` or RFC 3339) with the given rows.
    ReplaceRange {
        /// First event time replaced.
        start: String,
        /// Last event time replaced.
        end: String,
    },
}

/// Data files written for a view but not yet committed: invisible to
/// readers until [`OfflineStore::commit`] publishes them. Dropped without a
/// commit, they are unreferenced files that `quiver vacuum` removes.
pub struct StagedFiles {
    adds: Vec<Add>,
    rows: usize,
    schema: SchemaRef,
    existed: bool,
    table: DeltaTable,
}

impl StagedFiles {
    /// Nothing staged, for an empty write.
    async fn nothing(
        store: &OfflineStore,
        view: &FeatureView,
    ) -> Result<StagedFiles, OfflineError> {
        let delta_err = store.delta_err(&view.name);
        let (table, existed) = match store.open(&view.name, AsOf::Latest).await? {
            Some(table) => (table, true),
            None => (
                store
                    .storage
                    .table(&store.table_url(&view.name))
                    .map_err(&delta_err)?,
                false,
            ),
        };
        Ok(StagedFiles {
            adds: Vec::new(),
            rows: 0,
            schema: Arc::new(Schema::empty()),
            existed,
            table,
        })
    }

    /// Rows in the staged files.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Deletes the staged files (a job that found a problem after writing
    /// them), so that they need no vacuum. Best effort: a file that cannot
    /// be deleted stays unreferenced.
    pub async fn discard(self) {
        let store = self.table.log_store().object_store(None);
        for add in self.adds {
            if let Ok(path) = deltalake::Path::parse(&add.path) {
                let _ = store.delete(&path).await;
            }
        }
    }
}

/// What a write committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineCommit {
    /// The table version after the write (unchanged when nothing was written).
    pub version: u64,
    /// Rows written.
    pub rows: usize,
}

impl OfflineStore {
    /// The offline store a repository is configured with.
    pub fn for_repo(repo: &FeatureRepo) -> Result<OfflineStore, OfflineError> {
        let config = &repo.offline_store;
        let location = &config.location;
        let bad = |reason: String| OfflineError::Location {
            location: location.clone(),
            reason,
        };
        let root = match repo.resolve(location) {
            // Not created here: reads must not write. A table's folder is
            // made by the write that creates the table.
            SourceLocation::Local(path) => Url::from_directory_path(&path)
                .map_err(|()| bad(format!("{} is not an absolute path", path.display())))?,
            SourceLocation::Uri(uri) => {
                let mut url = Url::parse(&uri).map_err(|e| bad(format!("not a URL: {e}")))?;
                if !SUPPORTED_SCHEMES.contains(&url.scheme()) {
                    return Err(bad(format!(
                        "`{}://` is not supported; use a local folder or s3://bucket/prefix",
                        url.scheme()
                    )));
                }
                if url.host_str().is_none_or(str::is_empty) && url.scheme() != "file" {
                    return Err(bad("names no bucket".to_string()));
                }
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                url
            }
        };
        let storage = StorageOptions::new(config.storage_options.clone());
        Ok(OfflineStore { root, storage })
    }

    /// A store of tables under `root` (a folder or `s3://` URL ending in `/`).
    pub fn at(root: Url, storage: StorageOptions) -> OfflineStore {
        OfflineStore { root, storage }
    }

    /// How this store reaches its object store (for reading files beside it).
    pub fn storage(&self) -> &StorageOptions {
        &self.storage
    }

    /// Where the table of `view` lives.
    pub fn table_url(&self, view: &str) -> Url {
        self.root
            .join(&format!("{view}/"))
            .expect("view names are identifiers, always valid in a URL")
    }

    pub(crate) fn delta_err(&self, view: &str) -> impl Fn(DeltaTableError) -> OfflineError + '_ {
        let table = self.table_url(view).to_string();
        move |source| OfflineError::Delta {
            table: table.clone(),
            source: quiver_core::Foreign::new(source),
        }
    }

    fn query_err(
        &self,
        view: &str,
    ) -> impl Fn(deltalake::datafusion::error::DataFusionError) -> OfflineError + '_ {
        let table = self.table_url(view).to_string();
        move |source| OfflineError::Query {
            table: table.clone(),
            source: quiver_core::Foreign::new(source),
        }
    }

    /// The table of `view` as of `at` (the latest version, a version, or a
    /// time), or `None` if no job has written it yet. A version or time the
    /// table does not have is an error that says which it has.
    pub async fn open(
        &self,
        view: &str,
        at: impl Into<AsOf>,
    ) -> Result<Option<DeltaTable>, OfflineError> {
        let url = self.table_url(view);
        if is_local(&url)
            && !url
                .to_file_path()
                .is_ok_and(|p| p.join("_delta_log").exists())
        {
            return Ok(None);
        }
        let delta_err = self.delta_err(view);
        let builder = self.storage.table_builder(&url).map_err(&delta_err)?;
        let latest = match builder.load().await {
            Ok(table) => table,
            Err(DeltaTableError::NotATable(_)) => return Ok(None),
            Err(e) => return Err(self.explain_store_error(&url, e)),
        };
        let newest = latest.version().unwrap_or_default();
        let version = match at.into() {
            AsOf::Latest => return Ok(Some(latest)),
            AsOf::Version(v) if v == newest => return Ok(Some(latest)),
            AsOf::Version(v) if v > newest => {
                return Err(OfflineError::NoSuchVersion {
                    table: url.to_string(),
                    asked: AsOf::Version(v),
                    newest,
                    first_commit: None,
                });
            }
            AsOf::Version(v) => v,
            AsOf::Time(time) => {
                let commits = read_log(&latest).await.map_err(&delta_err)?;
                version_at(&commits, time).map_err(|first_commit| OfflineError::NoSuchVersion {
                    table: url.to_string(),
                    asked: AsOf::Time(time),
                    newest,
                    first_commit,
                })?
            }
        };
        let table = self
            .storage
            .table_builder(&url)
            .map_err(&delta_err)?
            .with_version(version)
            .load()
            .await;
        match table {
            Ok(table) => Ok(Some(table)),
            // Versions older than the log keeps (after a clean-up).
            Err(e) => Err(OfflineError::NoSuchVersion {
                table: format!("{url} ({e})"),
                asked: AsOf::Version(version),
                newest,
                first_commit: None,
            }),
        }
    }

    /// An object-store failure in words a user acts on: a missing bucket or
    /// refused credentials named as such, anything else as delta-rs said it.
    fn explain_store_error(&self, url: &Url, error: DeltaTableError) -> OfflineError {
        let text = error.to_string();
        let bucket = url.host_str().unwrap_or_default();
        let hint = || {
            crate::storage::profile_hint()
                .map(|hint| format!("; {hint}"))
                .unwrap_or_default()
        };
        let reason = if text.contains("NoSuchBucket") {
            format!("the bucket `{bucket}` does not exist (or is not visible to these credentials)")
        } else if text.contains("169.254.169.254") {
            // No keys in the environment, so object_store asked the EC2
            // instance metadata service, which is not there.
            format!(
                "no AWS credentials for bucket `{bucket}`: set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or run where a role \
                 provides them{}",
                hint()
            )
        } else if [
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "AccessDenied",
            "403 Forbidden",
        ]
        .iter()
        .any(|code| text.contains(code))
        {
            format!(
                "access to bucket `{bucket}` was denied: check AWS_ACCESS_KEY_ID, \
                 AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) and the bucket's policy{}",
                hint()
            )
        } else {
            return OfflineError::Delta {
                table: url.to_string(),
                source: quiver_core::Foreign::new(error),
            };
        };
        OfflineError::Location {
            location: url.to_string(),
            reason,
        }
    }

    /// Every commit of the view's table, oldest first (`quiver log`).
    pub async fn log(&self, view: &str) -> Result<Vec<TableCommit>, OfflineError> {
        let table = self
            .open(view, AsOf::Latest)
            .await?
            .ok_or_else(|| self.no_table(view))?;
        read_log(&table).await.map_err(self.delta_err(view))
    }

    /// The latest version of the view's table, `None` if it has none.
    pub async fn version(&self, view: &str) -> Result<Option<u64>, OfflineError> {
        Ok(self
            .open(view, AsOf::Latest)
            .await?
            .and_then(|t| t.version()))
    }

    /// Writes `batches` to the view's table in one atomic commit, creating the
    /// table (partitioned by the event-time column) on first write.
    /// Appending nothing commits nothing. Rows are written in partition order
    /// (event time, then `entity_key`), whatever order they come in, one
    /// partition at a time (see the private `data_files` module). The job streams its
    /// rows through [`write_files`](Self::write_files) and
    /// [`commit`](Self::commit) instead, which hold no more than a few
    /// batches; this sorts in memory, for callers with few rows.
    pub async fn write(
        &self,
        view: &FeatureView,
        entity_key: &str,
        batches: Vec<RecordBatch>,
        mode: WriteMode,
    ) -> Result<OfflineCommit, OfflineError> {
        let Some(schema) = batches.first().map(RecordBatch::schema) else {
            return self
                .commit(view, StagedFiles::nothing(self, view).await?, mode)
                .await;
        };
        let sorted = in_partition_order(batches, &[&view.event_time, entity_key])
            .map_err(|e| self.query_err(&view.name)(e.into()))?;
        let rows = futures::stream::iter(sorted.into_iter().map(Ok::<_, ArrowError>));
        let staged = self
            .write_files(view, schema, rows, &mut |_| Ok(()))
            .await?;
        self.commit(view, staged, mode).await
    }

    /// Writes rows that arrive sorted by event time (partition order) as
    /// data files of the view's table, without committing them: readers see
    /// nothing until [`commit`](Self::commit). `schema` is the rows' schema;
    /// `observe` sees each batch before it is written and may stop the write
    /// with an error. Memory stays at a few batches per partition writer.
    pub async fn write_files<E>(
        &self,
        view: &FeatureView,
        schema: SchemaRef,
        rows: impl futures::Stream<Item = Result<RecordBatch, E>> + Unpin,
        observe: &mut (dyn FnMut(&RecordBatch) -> Result<(), DeltaTableError> + Send),
    ) -> Result<StagedFiles, OfflineError>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let delta_err = self.delta_err(&view.name);
        let existing = self.open(&view.name, AsOf::Latest).await?;
        let (table, layout) = match existing {
            Some(table) => {
                let snapshot = table.snapshot().map_err(&delta_err)?;
                let table_schema = snapshot.snapshot().arrow_schema();
                check_types(&table, &schema, &table_schema)?;
                let layout = FileLayout {
                    schema: table_schema,
                    partition_column: view.event_time.clone(),
                    stats: WriterStatsConfig::from_config(
                        snapshot.snapshot().table_configuration(),
                    ),
                };
                (table, layout)
            }
            None => {
                let url = self.table_url(&view.name);
                if let Ok(path) = url.to_file_path() {
                    std::fs::create_dir_all(&path).map_err(|e| OfflineError::Location {
                        location: path.display().to_string(),
                        reason: format!("cannot create the table folder: {e}"),
                    })?;
                }
                let table = self.storage.table(&url).map_err(&delta_err)?;
                let layout = FileLayout {
                    schema: normalize_for_delta(&schema),
                    partition_column: view.event_time.clone(),
                    stats: WriterStatsConfig::new(Default::default(), None),
                };
                (table, layout)
            }
        };
        let store = table.log_store().object_store(None);
        let (adds, rows) = write_sorted_stream(store, &layout, rows, observe)
            .await
            .map_err(&delta_err)?;
        Ok(StagedFiles {
            adds,
            rows,
            schema: layout.schema,
            existed: table.version().is_some(),
            table,
        })
    }

    /// Publishes staged files as one new version of the view's table (the
    /// first creates it), replacing the files of the range for
    /// [`WriteMode::ReplaceRange`]. Nothing staged: an append commits
    /// nothing, a range replace deletes the range.
    pub async fn commit(
        &self,
        view: &FeatureView,
        staged: StagedFiles,
        mode: WriteMode,
    ) -> Result<OfflineCommit, OfflineError> {
        let delta_err = self.delta_err(&view.name);
        let rows = staged.rows;
        if !staged.existed {
            if staged.adds.is_empty() {
                return Err(delta_err(DeltaTableError::Generic(
                    "no rows to write, and the view has no table yet to leave as it is".into(),
                )));
            }
            let version = self.create_with(view, staged).await?;
            return Ok(OfflineCommit { version, rows });
        }
        let table = staged.table;
        if staged.adds.is_empty() {
            let version = table.version().unwrap_or_default();
            return match &mode {
                WriteMode::Append => Ok(OfflineCommit { version, rows }),
                WriteMode::ReplaceRange { start, end } => {
                    // Replacing a range with nothing deletes it.
                    let (table, _metrics) = table
                        .delete()
                        .with_predicate(range_predicate(&view.event_time, start, end))
                        .with_commit_properties(quiver_commit())
                        .await
                        .map_err(&delta_err)?;
                    let version = table
                        .version()
                        .expect("a table that was just written has a version");
                    Ok(OfflineCommit { version, rows })
                }
            };
        }
        let version = self.commit_to(table, view, staged.adds, &mode).await?;
        Ok(OfflineCommit { version, rows })
    }

    /// Creates the view's table with the staged files as its first version
    /// (0): one commit holding the schema and every file.
    async fn create_with(
        &self,
        view: &FeatureView,
        staged: StagedFiles,
    ) -> Result<u64, OfflineError> {
        let delta_err = self.delta_err(&view.name);
        let columns: StructType = staged
            .schema
            .as_ref()
            .try_into_kernel()
            .map_err(|e| delta_err(e.into()))?;
        let table = CreateBuilder::new()
            .with_log_store(staged.table.log_store())
            .with_columns(columns.fields().cloned())
            .with_partition_columns([view.event_time.clone()])
            .with_table_name(&view.name)
            .with_comment(&view.description)
            .with_actions(staged.adds.into_iter().map(Action::Add))
            .with_commit_properties(quiver_commit())
            .await
            .map_err(&delta_err)?;
        Ok(table
            .version()
            .expect("a table that was just created has a version"))
    }

    /// Adds the staged files to an existing table in one commit; for a range
    /// replace the same commit removes every file of the partitions in the
    /// range.
    async fn commit_to(
        &self,
        table: DeltaTable,
        view: &FeatureView,
        adds: Vec<Add>,
        mode: &WriteMode,
    ) -> Result<u64, OfflineError> {
        let delta_err = self.delta_err(&view.name);
        let snapshot = table.snapshot().map_err(&delta_err)?;
        let log_store = table.log_store();
        let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        let (save_mode, predicate) = match mode {
            WriteMode::Append => (SaveMode::Append, None),
            WriteMode::ReplaceRange { start, end } => {
                let replaced = files_in_range(&table, &view.event_time, start, end)
                    .await
                    .map_err(&delta_err)?;
                actions.extend(replaced.into_iter().map(Action::Remove));
                (
                    SaveMode::Overwrite,
                    Some(range_predicate(&view.event_time, start, end)),
                )
            }
        };
        let operation = DeltaOperation::Write {
            mode: save_mode,
            partition_by: Some(vec![view.event_time.clone()]),
            predicate,
        };
        let commit = CommitBuilder::from(quiver_commit())
            .with_actions(actions)
            .build(Some(snapshot), log_store, operation)
            .await
            .map_err(&delta_err)?;
        Ok(commit.version())
    }

    /// The column names of the view's table, `None` if it has no table.
    pub async fn columns(&self, view: &str) -> Result<Option<Vec<String>>, OfflineError> {
        let ctx = SessionContext::new();
        if self.register(&ctx, view, "t", None).await?.is_none() {
            return Ok(None);
        }
        let provider = ctx
            .table_provider("t")
            .await
            .map_err(self.query_err(view))?;
        Ok(Some(
            provider
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        ))
    }

    /// Puts the table back to `version` (a new commit with the old contents);
    /// used to undo a job whose online half failed.
    pub async fn restore(&self, view: &str, version: u64) -> Result<u64, OfflineError> {
        let table = self
            .open(view, AsOf::Latest)
            .await?
            .ok_or_else(|| self.no_table(view))?;
        let (table, _metrics) = table
            .restore()
            .with_version_to_restore(version)
            .with_commit_properties(quiver_commit())
            .await
            .map_err(self.delta_err(view))?;
        Ok(table.version().unwrap_or(version))
    }

    /// Deletes the table of `view` whole, wherever it is: its log first
    /// (from then on there is no table), then its data files. Used to undo
    /// the job that created it. No table is not an error.
    pub async fn delete_table(&self, view: &str) -> Result<(), OfflineError> {
        let url = self.table_url(view);
        let failed =
            |what: &dyn std::fmt::Display, e: &dyn std::fmt::Display| OfflineError::Location {
                location: url.to_string(),
                reason: format!("cannot delete {what}: {e}"),
            };
        if let Ok(path) = url.to_file_path() {
            return match std::fs::remove_dir_all(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(failed(&path.display(), &e))
                }
                _ => Ok(()),
            };
        }
        let table = self.storage.table(&url).map_err(self.delta_err(view))?;
        let store = table.log_store().object_store(None);
        let log = deltalake::Path::from("_delta_log");
        for prefix in [Some(&log), None] {
            let objects: Vec<_> = store
                .list(prefix)
                .try_collect()
                .await
                .map_err(|e| failed(&"the table's objects (listing them)", &e))?;
            for object in objects {
                store
                    .delete(&object.location)
                    .await
                    .map_err(|e| failed(&object.location, &e))?;
            }
        }
        Ok(())
    }

    pub(crate) fn no_table(&self, view: &str) -> OfflineError {
        OfflineError::NoTable {
            view: view.to_string(),
            table: self.table_url(view).to_string(),
        }
    }

    /// Registers the view's table (at `version`, or the latest) in `ctx` as
    /// `name`. Returns the version registered, or `None` if there is no table.
    pub async fn register(
        &self,
        ctx: &SessionContext,
        view: &str,
        name: &str,
        at: impl Into<AsOf>,
    ) -> Result<Option<u64>, OfflineError> {
        let Some(table) = self.open(view, at).await? else {
            return Ok(None);
        };
        table
            .update_datafusion_session(&ctx.state())
            .map_err(self.delta_err(view))?;
        let provider = table.table_provider().await.map_err(self.query_err(view))?;
        ctx.register_table(name, provider)
            .map_err(self.query_err(view))?;
        Ok(table.version())
    }

    /// Every row of one entity, oldest first, at `version` or the latest.
    pub async fn history(
        &self,
        view: &FeatureView,
        entity: &Entity,
        id: &str,
        at: impl Into<AsOf>,
    ) -> Result<Vec<RecordBatch>, OfflineError> {
        let ctx = SessionContext::new();
        if self
            .register(&ctx, &view.name, "history", at)
            .await?
            .is_none()
        {
            return Err(self.no_table(&view.name));
        }
        let key = match entity.value_type {
            ValueType::Int64 => lit(id.parse::<i64>().map_err(|_| OfflineError::BadKey {
                id: id.to_string(),
                entity: entity.name.clone(),
                key_type: entity.value_type,
            })?),
            _ => lit(id),
        };
        let err = self.query_err(&view.name);
        let frame = ctx.table("history").await.map_err(&err)?;
        let frame = frame
            .filter(col(entity.join_key.as_str()).eq(key))
            .map_err(&err)?
            .sort(vec![col(view.event_time.as_str()).sort(true, false)])
            .map_err(&err)?;
        frame.collect().await.map_err(err)
    }

    /// The latest row of every entity among the rows `selection` covers, as
    /// the online store should hold them, with the table version read.
    pub async fn latest_rows(
        &self,
        view: &FeatureView,
        entity: &Entity,
        selection: &Selection,
    ) -> Result<LatestRows, OfflineError> {
        let err = self.query_err(&view.name);
        let delta_err = self.delta_err(&view.name);
        let table = self
            .open(&view.name, selection.at)
            .await?
            .ok_or_else(|| self.no_table(&view.name))?;
        let version = table.version().unwrap_or_default();
        // The latest row per entity is a window over every row; under a
        // memory pool its sort spills instead of holding the table.
        let ctx = bounded_session(READ_MEMORY_LIMIT).map_err(&err)?;
        table
            .update_datafusion_session(&ctx.state())
            .map_err(&delta_err)?;
        let mut provider = table.table_provider();
        let mut files_read = None;
        if let Some(after) = selection.added_after {
            let added = self.files_added(&view.name, after, &table).await?;
            if added.is_empty() {
                return Ok(LatestRows {
                    version,
                    batches: Vec::new(),
                    files_read: Some(0),
                });
            }
            files_read = Some(added.len());
            provider = provider.with_adds(added);
        }
        let provider = provider.build().await.map_err(&err)?;
        ctx.register_table("offline", Arc::new(provider))
            .map_err(&err)?;
        let columns: Vec<String> = std::iter::once(entity.join_key.clone())
            .chain(std::iter::once(view.event_time.clone()))
            .chain(view.features.iter().map(|f| f.name.clone()))
            .map(|c| format!("\"{c}\""))
            .collect();
        let range = match &selection.event_times {
            None => String::new(),
            Some((start, end)) => {
                format!("WHERE {}", range_predicate(&view.event_time, start, end))
            }
        };
        let sql = format!(
            "SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY \"{key}\" ORDER BY \"{time}\" DESC) AS quiver_rank FROM offline {range}) WHERE quiver_rank = 1",
            cols = columns.join(", "),
            key = entity.join_key,
            time = view.event_time,
        );
        let batches = ctx
            .sql(&sql)
            .await
            .map_err(&err)?
            .collect()
            .await
            .map_err(err)?;
        Ok(LatestRows {
            version,
            batches,
            files_read,
        })
    }

    /// The data files `table` holds that the table at version `after` did
    /// not: what the commits since `after` added and kept.
    async fn files_added(
        &self,
        view: &str,
        after: u64,
        table: &DeltaTable,
    ) -> Result<Vec<Add>, OfflineError> {
        let delta_err = self.delta_err(view);
        let earlier = self
            .open(view, AsOf::Version(after))
            .await?
            .ok_or_else(|| self.no_table(view))?;
        let before: std::collections::HashSet<String> = data_files(&earlier)
            .await
            .map_err(&delta_err)?
            .into_iter()
            .map(|add| add.path)
            .collect();
        Ok(data_files(table)
            .await
            .map_err(&delta_err)?
            .into_iter()
            .filter(|add| !before.contains(&add.path))
            .collect())
    }
}

/// The rows of a table a read covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The table version read.
    pub at: AsOf,
    /// Only rows with event times in `[start, end]` (inclusive, `YYYY-MM-DD`
    /// or RFC 3339).
    pub event_times: Option<(String, String)>,
    /// Only rows in the data files added after this version (and still in
    /// the table): what an incremental materialize moves.
    pub added_after: Option<u64>,
}

/// What [`OfflineStore::latest_rows`] read.
#[derive(Debug, Clone)]
pub struct LatestRows {
    /// The table version read.
    pub version: u64,
    /// The latest row of each entity.
    pub batches: Vec<RecordBatch>,
    /// Data files read, when the read was limited to added files.
    pub files_read: Option<usize>,
}

/// Memory a whole-table read (materialize's latest rows) may hold before its
/// sort spills to disk.
const READ_MEMORY_LIMIT: usize = 1024 * 1024 * 1024;

/// A DataFusion session whose sorts spill beyond `limit` bytes.
fn bounded_session(
    limit: usize,
) -> Result<SessionContext, deltalake::datafusion::error::DataFusionError> {
    use deltalake::datafusion::execution::memory_pool::FairSpillPool;
    use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use deltalake::datafusion::prelude::SessionConfig;
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(limit)))
        .build_arc()?;
    let config = SessionConfig::new().with_sort_spill_reservation_bytes(limit / 32);
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// Commit properties that mark a commit as Quiver's in `quiver log`.
pub(crate) fn quiver_commit() -> CommitProperties {
    CommitProperties::default().with_metadata([(
        QUIVER_VERSION_KEY.to_string(),
        serde_json::Value::from(env!("CARGO_PKG_VERSION")),
    )])
}

/// The `add` action of every data file of `table`'s version.
async fn data_files(table: &DeltaTable) -> Result<Vec<Add>, DeltaTableError> {
    let snapshot = table.snapshot()?;
    snapshot
        .snapshot()
        .file_views(table.log_store().as_ref(), None)
        // Deprecated in favour of Arrow arrays, but a file selection is still
        // made of `add` actions, whose raw paths it compares.
        .map_ok(
            #[allow(deprecated, reason = "a file selection is still made of `add` actions")]
            |file| file.add_action(),
        )
        .try_collect()
        .await
}

/// `remove` actions for every file of the table whose partition value (of
/// `column`, the event time) lies in `[start, end]`. Values are compared as
/// the column's type, not as text, so a timestamp partition such as
/// `2024-01-02 00:00:00.000000` falls inside `2024-01-01`..`2024-01-02`.
async fn files_in_range(
    table: &DeltaTable,
    column: &str,
    start: &str,
    end: &str,
) -> Result<Vec<Remove>, DeltaTableError> {
    let snapshot = table.snapshot()?;
    let time_type = snapshot
        .snapshot()
        .arrow_schema()
        .field_with_name(column)?
        .data_type()
        .clone();
    let files: Vec<_> = snapshot
        .snapshot()
        .file_views(table.log_store().as_ref(), None)
        .try_collect()
        .await?;
    let texts: StringArray = [Some(start.to_string()), Some(end.to_string())]
        .into_iter()
        .chain(
            files
                .iter()
                .map(|f| f.partition_values_map().remove(column).flatten()),
        )
        .collect();
    let as_numbers = |texts: &StringArray| -> Result<Int64Array, ArrowError> {
        let typed = cast(texts, &time_type)?;
        Ok(cast(&typed, &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .clone())
    };
    let numbers = as_numbers(&texts)?;
    let (low, high) = (numbers.value(0), numbers.value(1));
    Ok(files
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let n = numbers.is_valid(i + 2).then(|| numbers.value(i + 2));
            n.is_some_and(|n| (low..=high).contains(&n))
        })
        .map(|(_, file)| file.remove_action(true))
        .collect())
}

/// Refuses rows whose column types differ from the table's (a view whose
/// declared types changed after it first ran), naming the column.
fn check_types(
    table: &DeltaTable,
    rows: &SchemaRef,
    table_schema: &Schema,
) -> Result<(), OfflineError> {
    let rows_schema = normalize_for_delta(rows);
    for field in rows_schema.fields() {
        let expected = table_schema.field_with_name(field.name()).ok();
        let same = expected.is_some_and(|e| same_delta_type(e.data_type(), field.data_type()));
        if !same {
            return Err(OfflineError::Delta {
                table: table.table_url().to_string(),
                source: quiver_core::Foreign::new(DeltaTableError::Generic(format!(
                    "column `{}` is {} in the job's rows but {} in the table; \
                     a view's column types cannot change once it has a table",
                    field.name(),
                    field.data_type(),
                    expected.map_or("missing".to_string(), |e| e.data_type().to_string()),
                ))),
            });
        }
    }
    Ok(())
}

/// Whether two Arrow types are the same Delta type (string views and plain
/// strings are both `string`).
fn same_delta_type(a: &DataType, b: &DataType) -> bool {
    let plain = |t: &DataType| match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        other => other.clone(),
    };
    plain(a) == plain(b)
}

/// `column` between `start` and `end`, inclusive, as a Delta predicate.
fn range_predicate(column: &str, start: &str, end: &str) -> String {
    format!("\"{column}\" >= '{start}' AND \"{column}\" <= '{end}'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{ArrayRef, Float64Array, Int64Array, TimestampMicrosecondArray};
    use deltalake::arrow::datatypes::TimestampMicrosecondType;
    use std::sync::Arc;

    fn store(dir: &tempfile::TempDir) -> OfflineStore {
        OfflineStore::at(
            Url::from_directory_path(dir.path()).unwrap(),
            StorageOptions::default(),
        )
    }

    #[test]
    fn no_credentials_are_named_as_such_not_as_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::parse("s3://features/offline/clicks/").unwrap();
        // object_store's words when no keys are set and the instance
        // metadata service refuses (or is absent).
        let error = DeltaTableError::Generic(
            "Generic S3 error: Error performing PUT http://169.254.169.254/latest/api/token \
             in 3ms - Server returned non-2xx status code: 403 Forbidden"
                .into(),
        );
        let text = store(&dir).explain_store_error(&url, error).to_string();
        assert!(
            text.contains("no AWS credentials for bucket `features`"),
            "{text}"
        );
        assert!(!text.contains("denied"), "{text}");
    }

    fn view() -> FeatureView {
        FeatureView {
            name: "clicks".into(),
            source: "raw".into(),
            entity: "user".into(),
            event_time: "at".into(),
            ttl_seconds: None,
            sql: String::new(),
            sql_file: None,
            features: Vec::new(),
            description: String::new(),
        }
    }

    /// Rows at the given RFC 3339 instants, with `value` as a float or an int.
    fn rows(instants: &[&str], value: ArrayRef) -> Vec<RecordBatch> {
        let micros: Vec<i64> = instants
            .iter()
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .unwrap()
                    .timestamp_micros()
            })
            .collect();
        let at = TimestampMicrosecondArray::from(micros).with_timezone("UTC");
        let ids = StringArray::from(vec!["u"; instants.len()]);
        vec![
            RecordBatch::try_from_iter([
                ("id", Arc::new(ids) as ArrayRef),
                ("at", Arc::new(at) as ArrayRef),
                ("value", value),
            ])
            .unwrap(),
        ]
    }

    fn floats(n: usize) -> ArrayRef {
        Arc::new(Float64Array::from(vec![1.0; n]))
    }

    async fn instants(store: &OfflineStore) -> Vec<String> {
        let ctx = SessionContext::new();
        store.register(&ctx, "clicks", "t", None).await.unwrap();
        let batches = ctx
            .sql("SELECT at FROM t ORDER BY at")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .to_vec()
            })
            .map(|us| {
                chrono::DateTime::from_timestamp_micros(us)
                    .unwrap()
                    .to_rfc3339()
            })
            .collect()
    }

    #[tokio::test]
    async fn a_range_replace_compares_timestamp_partitions_as_instants() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let first = [
            "2024-01-01T00:00:00Z",
            "2024-01-01T12:00:00Z",
            "2024-01-02T00:00:00Z",
            "2024-01-03T06:00:00Z",
        ];
        let commit = store
            .write(&view(), "id", rows(&first, floats(4)), WriteMode::Append)
            .await
            .unwrap();
        assert_eq!((commit.version, commit.rows), (0, 4));

        let replace = WriteMode::ReplaceRange {
            start: "2024-01-01".into(),
            end: "2024-01-02".into(),
        };
        let commit = store
            .write(
                &view(),
                "id",
                rows(&["2024-01-01T06:00:00Z"], floats(1)),
                replace,
            )
            .await
            .unwrap();
        assert_eq!((commit.version, commit.rows), (1, 1));
        // The range ends at midnight of 2024-01-02, inclusive: that partition
        // goes, the one on the 3rd stays.
        assert_eq!(
            instants(&store).await,
            ["2024-01-01T06:00:00+00:00", "2024-01-03T06:00:00+00:00"]
        );
    }

    #[tokio::test]
    async fn a_changed_column_type_is_refused_and_the_table_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir);
        let at = ["2024-01-01T00:00:00Z"];
        store
            .write(&view(), "id", rows(&at, floats(1)), WriteMode::Append)
            .await
            .unwrap();
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![7]));
        let err = store
            .write(
                &view(),
                "id",
                rows(&["2024-01-02T00:00:00Z"], ints),
                WriteMode::Append,
            )
            .await
            .unwrap_err();
        let err = quiver_core::error_chain(&err);
        assert!(err.contains("column `value` is Int64"), "{err}");
        assert!(err.contains("Float64 in the table"), "{err}");
        assert_eq!(store.version("clicks").await.unwrap(), Some(0));
        assert_eq!(instants(&store).await, ["2024-01-01T00:00:00+00:00"]);
    }
}

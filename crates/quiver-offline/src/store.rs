//! [`OfflineStore`]: reads and writes the Delta table of each feature view.

use crate::OfflineError;
use crate::partition_order::in_partition_order;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::{SessionContext, col, lit};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use quiver_core::{Entity, FeatureRepo, FeatureView, SourceLocation, ValueType};
use url::Url;

/// The Delta Lake tables of one repository: `<location>/<view>`.
#[derive(Debug, Clone)]
pub struct OfflineStore {
    root: Url,
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
        let location = &repo.offline_store.location;
        let bad = |reason: String| OfflineError::Location {
            location: location.clone(),
            reason,
        };
        let root = match repo.resolve(location) {
            SourceLocation::Local(path) => {
                std::fs::create_dir_all(&path)
                    .map_err(|e| bad(format!("cannot create {}: {e}", path.display())))?;
                Url::from_directory_path(&path)
                    .map_err(|()| bad(format!("{} is not an absolute path", path.display())))?
            }
            SourceLocation::Uri(uri) => {
                return Err(bad(format!(
                    "only local folders are supported for now, not `{uri}`"
                )));
            }
        };
        Ok(OfflineStore { root })
    }

    /// Where the table of `view` lives.
    pub fn table_url(&self, view: &str) -> Url {
        self.root
            .join(&format!("{view}/"))
            .expect("view names are identifiers, always valid in a URL")
    }

    fn delta_err(&self, view: &str) -> impl Fn(DeltaTableError) -> OfflineError + '_ {
        let table = self.table_url(view).to_string();
        move |source| OfflineError::Delta {
            table: table.clone(),
            source: Box::new(source),
        }
    }

    fn query_err(
        &self,
        view: &str,
    ) -> impl Fn(deltalake::datafusion::error::DataFusionError) -> OfflineError + '_ {
        let table = self.table_url(view).to_string();
        move |source| OfflineError::Query {
            table: table.clone(),
            source: Box::new(source),
        }
    }

    /// The table of `view` at its latest version (or `version`), or `None` if
    /// no job has written it yet.
    pub async fn open(
        &self,
        view: &str,
        version: Option<u64>,
    ) -> Result<Option<DeltaTable>, OfflineError> {
        let url = self.table_url(view);
        if url.scheme() == "file"
            && !url
                .to_file_path()
                .is_ok_and(|p| p.join("_delta_log").exists())
        {
            return Ok(None);
        }
        let table = match version {
            None => deltalake::open_table(url).await,
            Some(v) => deltalake::open_table_with_version(url, v).await,
        };
        match table {
            Ok(table) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(self.delta_err(view)(e)),
        }
    }

    /// The latest version of the view's table, `None` if it has none.
    pub async fn version(&self, view: &str) -> Result<Option<u64>, OfflineError> {
        Ok(self.open(view, None).await?.and_then(|t| t.version()))
    }

    /// Writes `batches` to the view's table in one atomic commit, creating the
    /// table (partitioned by the event-time column) on first write.
    /// Appending nothing commits nothing. Rows are written in partition order
    /// (event time, then `entity_key`), whatever order they come in.
    pub async fn write(
        &self,
        view: &FeatureView,
        entity_key: &str,
        batches: Vec<RecordBatch>,
        mode: WriteMode,
    ) -> Result<OfflineCommit, OfflineError> {
        let rows = batches.iter().map(RecordBatch::num_rows).sum();
        let existing = self.open(&view.name, None).await?;
        if rows == 0 && mode == WriteMode::Append {
            if let Some(version) = existing.as_ref().and_then(DeltaTable::version) {
                return Ok(OfflineCommit { version, rows });
            }
        }
        if rows == 0
            && let (WriteMode::ReplaceRange { start, end }, Some(table)) = (&mode, &existing)
        {
            // Replacing a range with nothing deletes it (delta-rs will not
            // write an empty input).
            let (table, _metrics) = table
                .clone()
                .delete()
                .with_predicate(range_predicate(&view.event_time, start, end))
                .await
                .map_err(self.delta_err(&view.name))?;
            let version = table
                .version()
                .expect("a table that was just written has a version");
            return Ok(OfflineCommit { version, rows });
        }
        let table = match existing {
            Some(table) => table,
            None => {
                let url = self.table_url(&view.name);
                if let Ok(path) = url.to_file_path() {
                    std::fs::create_dir_all(&path).map_err(|e| OfflineError::Location {
                        location: path.display().to_string(),
                        reason: format!("cannot create the table folder: {e}"),
                    })?;
                }
                DeltaTable::try_from_url(url)
                    .await
                    .map_err(self.delta_err(&view.name))?
            }
        };
        let batches = in_partition_order(batches, &[&view.event_time, entity_key])
            .map_err(|e| self.query_err(&view.name)(e.into()))?;
        let mut write = table
            .write(batches)
            .with_partition_columns([view.event_time.clone()])
            .with_table_name(&view.name)
            .with_description(&view.description);
        write = match &mode {
            WriteMode::Append => write.with_save_mode(SaveMode::Append),
            WriteMode::ReplaceRange { start, end } => write
                .with_save_mode(SaveMode::Overwrite)
                .with_replace_where(range_predicate(&view.event_time, start, end)),
        };
        let table = write.await.map_err(self.delta_err(&view.name))?;
        let version = table
            .version()
            .expect("a table that was just written has a version");
        Ok(OfflineCommit { version, rows })
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
            .open(view, None)
            .await?
            .ok_or_else(|| self.no_table(view))?;
        let (table, _metrics) = table
            .restore()
            .with_version_to_restore(version)
            .await
            .map_err(self.delta_err(view))?;
        Ok(table.version().unwrap_or(version))
    }

    fn no_table(&self, view: &str) -> OfflineError {
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
        version: Option<u64>,
    ) -> Result<Option<u64>, OfflineError> {
        let Some(table) = self.open(view, version).await? else {
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
        version: Option<u64>,
    ) -> Result<Vec<RecordBatch>, OfflineError> {
        let ctx = SessionContext::new();
        if self
            .register(&ctx, &view.name, "history", version)
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

    /// The latest row of every entity, as the online store should hold them.
    pub async fn latest_rows(
        &self,
        view: &FeatureView,
        entity: &Entity,
        version: Option<u64>,
    ) -> Result<Vec<RecordBatch>, OfflineError> {
        let ctx = SessionContext::new();
        if self
            .register(&ctx, &view.name, "offline", version)
            .await?
            .is_none()
        {
            return Err(self.no_table(&view.name));
        }
        let columns: Vec<String> = std::iter::once(entity.join_key.clone())
            .chain(std::iter::once(view.event_time.clone()))
            .chain(view.features.iter().map(|f| f.name.clone()))
            .map(|c| format!("\"{c}\""))
            .collect();
        let sql = format!(
            "SELECT {cols} FROM (SELECT *, row_number() OVER (PARTITION BY \"{key}\" ORDER BY \"{time}\" DESC) AS quiver_rank FROM offline) WHERE quiver_rank = 1",
            cols = columns.join(", "),
            key = entity.join_key,
            time = view.event_time,
        );
        let err = self.query_err(&view.name);
        ctx.sql(&sql)
            .await
            .map_err(&err)?
            .collect()
            .await
            .map_err(err)
    }
}

/// `column` between `start` and `end`, inclusive, as a Delta predicate.
fn range_predicate(column: &str, start: &str, end: &str) -> String {
    format!("\"{column}\" >= '{start}' AND \"{column}\" <= '{end}'")
}

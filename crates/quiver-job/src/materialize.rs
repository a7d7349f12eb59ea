//! [`materialize`]: loads the online store from a view's offline table, as
//! Feast's `materialize` and `materialize-incremental` do.
//!
//! The feature job already writes both stores; this is for the other cases:
//! another engine (Spark) wrote the Delta table, the online store was lost
//! or replaced, or a new backend needs filling. A full materialize reads the
//! latest row of every entity (optionally within an event-time window, or as
//! of an older table version); an incremental one reads only the data files
//! the Delta log added since the version the online store records, so
//! repeated calls move only new data. Either way the online store's "latest
//! event time wins" rule means nothing is ever rolled back.

use crate::run::lock_view;
use crate::{JobError, Progress, latest_rows_per_entity};
use quiver_core::{Entity, FeatureRepo, FeatureView};
use quiver_offline::{AsOf, LatestRows, OfflineStore, Selection};
use quiver_online::{EntityRow, OnlineStore, ViewLayout};
use std::time::{Duration, Instant};

/// What to materialize.
#[derive(Clone)]
pub struct MaterializeOptions {
    /// The table version to read.
    pub at: AsOf,
    /// Only rows with event times in `[start, end]` (inclusive).
    pub event_times: Option<(String, String)>,
    /// Only what the table added since the version the online store records.
    pub incremental: bool,
    /// Where progress is shown.
    pub progress: Progress,
}

impl Default for MaterializeOptions {
    fn default() -> Self {
        MaterializeOptions {
            at: AsOf::Latest,
            event_times: None,
            incremental: false,
            progress: Progress::hidden(),
        }
    }
}

/// What a materialize did.
#[derive(Debug, Clone)]
pub struct MaterializeSummary {
    /// The view.
    pub view: String,
    /// The offline table version read.
    pub offline_version: u64,
    /// For an incremental run, the version the online store reflected
    /// before (`None`: nothing, so everything was read).
    pub from_version: Option<u64>,
    /// Data files read, when only added files were read.
    pub files_read: Option<usize>,
    /// Entities read from the table (their latest row).
    pub rows_read: usize,
    /// Rows the online store stored.
    pub rows_written: usize,
    /// Rows the online store kept its later row for.
    pub rows_skipped_older: usize,
    /// Writes the store retried.
    pub retries: usize,
    /// Whether the online store now records this version as reflected
    /// (a full read of a version; not a window).
    pub recorded: bool,
    /// Wall time.
    pub elapsed: Duration,
}

/// The latest row of each entity among the table rows `selection` covers, as
/// online rows, with what was read: the one conversion behind materialize
/// and the job's repair of a lagging online store.
pub(crate) async fn online_rows_from_table(
    offline: &OfflineStore,
    view: &FeatureView,
    entity: &Entity,
    selection: &Selection,
) -> Result<(LatestRows, Vec<EntityRow>), JobError> {
    let read = offline.latest_rows(view, entity, selection).await?;
    let rows = latest_rows_per_entity(&read.batches).map_err(|reason| JobError::Compute {
        view: view.name.clone(),
        source_name: "(offline table)".to_string(),
        location: offline.table_url(&view.name).to_string(),
        source: quiver_core::Foreign::new(
            deltalake::datafusion::error::DataFusionError::Execution(reason),
        ),
    })?;
    Ok((read, rows))
}

/// Loads the online store of `view_name` from its offline table.
pub async fn materialize(
    repo: &FeatureRepo,
    view_name: &str,
    online: &dyn OnlineStore,
    offline: &OfflineStore,
    options: MaterializeOptions,
) -> Result<MaterializeSummary, JobError> {
    let started = Instant::now();
    if let Some((start, end)) = &options.event_times {
        // A date or a time, in order: the window goes into a predicate.
        // Which of the two the view's event time is, its SQL decides at
        // run time; a time against a date column is the engine's error.
        crate::run::check_range(quiver_core::ValueType::Timestamp, start, end)?;
    }
    let view = repo.feature_view(view_name)?;
    let entity = repo.entity_of(view);
    let layout = ViewLayout::of(view, entity);
    let progress = &options.progress;
    // A job writing the view meanwhile would make the recorded version lie.
    let _lock = lock_view(repo, &view.name)?;

    let mut from_version = None;
    let mut added_after = None;
    if options.incremental {
        let latest = offline.version(&view.name).await?.ok_or_else(|| {
            quiver_offline::OfflineError::NoTable {
                view: view.name.clone(),
                table: offline.table_url(&view.name).to_string(),
            }
        })?;
        let recorded = online.offline_version(&view.name).await?;
        let same_layout = online.layout(&view.name).await?.as_deref() == Some(&layout);
        // Rows written under another layout are dropped by the next write,
        // so only a full read is safe then; a recorded version newer than
        // the table (a table rewritten from scratch) is no base either.
        if same_layout && recorded.is_some_and(|v| v <= latest) {
            from_version = recorded;
            added_after = recorded;
        }
    }
    progress.phase(format!("Reading the offline table of {}", view.name));
    let selection = Selection {
        at: options.at,
        event_times: options.event_times.clone(),
        added_after,
    };
    let (read, rows) = online_rows_from_table(offline, view, entity, &selection).await?;
    // A window is not the whole table: the store must not claim to reflect
    // the version, or an incremental run would skip the rest.
    let recorded = options.event_times.is_none();
    progress.phase(format!("Writing the online store of {}", view.name));
    progress.total(rows.len() as u64);
    let mut outcome = quiver_online::WriteOutcome::default();
    let chunk = 50_000;
    let chunks = rows.len().div_ceil(chunk).max(1);
    for (i, part) in rows.chunks(chunk).enumerate() {
        // The version is recorded with the last chunk, so a run that dies
        // part-way is redone in full by the next incremental call.
        let version = (recorded && i + 1 == chunks).then_some(read.version);
        let done = online.write(&layout, part, version).await?;
        outcome.written += done.written;
        outcome.skipped_older += done.skipped_older;
        outcome.retries += done.retries;
        progress.position(((i + 1) * chunk).min(rows.len()) as u64);
    }
    if rows.is_empty() && recorded {
        online.write(&layout, &[], Some(read.version)).await?;
    }
    progress.finish();
    Ok(MaterializeSummary {
        view: view.name.clone(),
        offline_version: read.version,
        from_version,
        files_read: read.files_read,
        rows_read: rows.len(),
        rows_written: outcome.written,
        rows_skipped_older: outcome.skipped_older,
        retries: outcome.retries,
        recorded,
        elapsed: started.elapsed(),
    })
}

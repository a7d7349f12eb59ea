//! Table upkeep: `quiver optimize` (compact small files, optionally Z-order
//! by entity key) and `quiver vacuum` (delete files the table no longer
//! references), both delta-rs operations on a view's table.

use crate::store::quiver_commit;
use crate::{AsOf, OfflineError, OfflineStore};
use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;
use std::num::NonZeroU64;

/// The longest retention `vacuum` applies: 200 years, more than the age of
/// any Delta file (their times count from 1970).
const MAX_RETAIN_HOURS: u64 = 200 * 8_766;

/// What `optimize` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptimizeSummary {
    /// Files written.
    pub files_added: u64,
    /// Files replaced by them.
    pub files_removed: u64,
    /// Partitions that had files rewritten.
    pub partitions_optimized: u64,
    /// The table version after (unchanged if nothing needed doing).
    pub version: u64,
}

/// What `vacuum` did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacuumSummary {
    /// The files deleted (or that would be).
    pub files: Vec<String>,
    /// Nothing was deleted.
    pub dry_run: bool,
}

impl OfflineStore {
    /// Rewrites the view's small files into files of about `target_size`
    /// bytes, clustered by `z_order_by` when given; one commit, which readers
    /// see as the same rows.
    pub async fn optimize(
        &self,
        view: &str,
        z_order_by: Option<&str>,
        target_size: NonZeroU64,
    ) -> Result<OptimizeSummary, OfflineError> {
        let table = self
            .open(view, AsOf::Latest)
            .await?
            .ok_or_else(|| self.no_table(view))?;
        let kind = match z_order_by {
            Some(column) => OptimizeType::ZOrder(vec![column.to_string()]),
            None => OptimizeType::Compact,
        };
        let (table, metrics) = table
            .optimize()
            .with_type(kind)
            .with_target_size(target_size)
            .with_commit_properties(quiver_commit())
            .await
            .map_err(self.delta_err(view))?;
        Ok(OptimizeSummary {
            files_added: metrics.num_files_added,
            files_removed: metrics.num_files_removed,
            partitions_optimized: metrics.partitions_optimized,
            version: table.version().unwrap_or_default(),
        })
    }

    /// Deletes every data file the table's current version does not
    /// reference and that is older than `retain_hours`: files of versions
    /// removed by later commits, and files a failed job wrote but never
    /// committed. Time travel to versions whose files are deleted stops
    /// working. A `retain_hours` shorter than a running job could delete
    /// that job's files before it commits; keep it above the longest job.
    pub async fn vacuum(
        &self,
        view: &str,
        retain_hours: u64,
        dry_run: bool,
    ) -> Result<VacuumSummary, OfflineError> {
        let table = self
            .open(view, AsOf::Latest)
            .await?
            .ok_or_else(|| self.no_table(view))?;
        // Delta's times start at the Unix epoch, so a retention longer than
        // the epoch's age keeps every file, as any longer one would: clamped
        // there, it never overflows a time.
        let hours = retain_hours.min(MAX_RETAIN_HOURS) as i64;
        let (_table, metrics) = table
            .vacuum()
            .with_retention_period(chrono::Duration::hours(hours))
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .with_dry_run(dry_run)
            .with_commit_properties(quiver_commit())
            .await
            .map_err(self.delta_err(view))?;
        Ok(VacuumSummary {
            files: metrics.files_deleted,
            dry_run: metrics.dry_run,
        })
    }
}

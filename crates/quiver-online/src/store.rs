//! The [`OnlineStore`] trait: the contract every online backend keeps.

use crate::{EntityRow, FeatureRow, OnlineError, ViewLayout};
use std::sync::Arc;

/// Where feature rows are kept for low-latency lookup: the latest row per entity.
///
/// Every implementation guarantees, and `quiver_test::online_conformance` checks:
///
/// 1. **Latest event time wins.** A row replaces the stored row of its entity
///    only if its event time is the same or later, so a backfill of old data can
///    never roll the online store back. Equal times replace, so a corrected
///    rerun of the same day takes effect.
/// 2. **Writes are idempotent** and a `write` call is atomic where the backend
///    can make it so (the embedded store: one transaction for the rows, the
///    layout and the offline version together).
/// 3. **A missing key is an absent value**, not an error; an unknown view is an error.
/// 4. **Batch order is preserved:** `read` answers in the order of the keys asked.
/// 5. **A new layout replaces the view:** writing with a layout other than the
///    stored one drops the rows written under the old one in the same write,
///    and the offline version recorded with them: afterwards the store
///    records the write's own version, or none.
/// 6. **Deleting is unconditional:** [`delete`](Self::delete) removes an
///    entity's row whatever its event time, and a later write of any row for
///    it is stored, however old. It is how a correction that removed rows
///    offline rolls the online store back; nothing else bypasses rule 1.
#[async_trait::async_trait]
pub trait OnlineStore: Send + Sync {
    /// Writes rows of a view laid out as `layout`, keeping for each entity the
    /// row with the latest event time. `offline_version` records which version
    /// of the view's offline table these rows come from.
    async fn write(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
        offline_version: Option<u64>,
    ) -> Result<WriteOutcome, OnlineError>;

    /// Refuses, before anything is written anywhere, rows that
    /// [`write`](Self::write) would refuse: a row that does not fit the
    /// layout, a key the store cannot hold (empty, or longer than its keys
    /// may be), and — where the store can tell — a write that would not fit
    /// its space. The job calls it before its offline commit, so that input
    /// the online store would refuse fails the job with both stores as they
    /// were. Changes nothing. The default checks the layout and that no key
    /// is empty; a store with a key limit or a bounded size overrides it.
    async fn check_write(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
    ) -> Result<(), OnlineError> {
        rows.iter().try_for_each(|row| layout.check_row(row, None))
    }

    /// Removes the rows of `keys` from `view`, whatever their event time.
    /// The job calls it when a replaced `--start/--end` range no longer holds
    /// an entity's latest row: the entity then has an older row offline (the
    /// job writes it next, which rule 1 would otherwise refuse) or none. A key
    /// without a row, or a view never written, is not an error. Atomic per
    /// key, not per call, on the server-backed stores.
    async fn delete(&self, view: &str, keys: &[&str]) -> Result<(), OnlineError>;

    /// The latest row of each key, in the order asked; `None` where absent.
    async fn read(&self, view: &str, keys: &[&str])
    -> Result<Vec<Option<FeatureRow>>, OnlineError>;

    /// The latest row of each key together with the layout those rows were
    /// written with, both from one consistent view of the store. A server
    /// uses this instead of [`layout`](Self::layout) then [`read`](Self::read):
    /// a job redefining the view between those two calls would otherwise make
    /// it name values by the wrong layout. An unknown view is an error.
    ///
    /// The default reads the layout before and after the rows and retries
    /// while they differ; backends with snapshots override it with one read.
    async fn read_with_layout(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<(Arc<ViewLayout>, Vec<Option<FeatureRow>>), OnlineError> {
        let unknown = || OnlineError::UnknownView {
            view: view.to_string(),
        };
        let mut before = self.layout(view).await?.ok_or_else(unknown)?;
        loop {
            let rows = self.read(view, keys).await?;
            let after = self.layout(view).await?.ok_or_else(unknown)?;
            if after == before {
                return Ok((after, rows));
            }
            before = after;
        }
    }

    /// The layout the view's rows were written with, or `None` if never written.
    async fn layout(&self, view: &str) -> Result<Option<Arc<ViewLayout>>, OnlineError>;

    /// The offline table version the view's online rows were last written from.
    async fn offline_version(&self, view: &str) -> Result<Option<u64>, OnlineError>;

    /// Prepares the store for these views before any row is written: what
    /// `quiver apply` does. A store with a schema (Cassandra) creates or
    /// alters its tables here and refuses an incompatible change with
    /// [`OnlineError::IncompatibleSchema`], changing nothing; a schemaless
    /// store needs nothing, which is the default.
    async fn prepare(&self, layouts: &[ViewLayout]) -> Result<(), OnlineError> {
        let _ = layouts;
        Ok(())
    }

    /// Whether the store answers now: what a server's `/ready` reports. The
    /// default (an embedded store, always there) is `Ok`.
    async fn check(&self) -> Result<(), OnlineError> {
        Ok(())
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Rows stored (new entities, or newer or equal event times).
    pub written: usize,
    /// Rows ignored because the store already held a later row for the entity.
    pub skipped_older: usize,
    /// Operations the store retried after a timeout or an overload answer
    /// (a server-backed store throttling a bulk load); 0 for the embedded store.
    pub retries: usize,
}

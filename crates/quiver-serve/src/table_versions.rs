//! [`TableVersions`]: how far each view's online rows lag its offline
//! table, for `/ready`. The online store records the table version its rows
//! reflect; the table's latest version comes from a [`TableVersionSource`]
//! (the CLI passes the repository's Delta tables; the server itself does not
//! depend on the offline store). It is read at most once per [`REFRESH`]
//! however often `/ready` is polled, and within [`READ_TIMEOUT`] so a slow
//! object store cannot stall a health check.

use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a table version read is reused.
pub(crate) const REFRESH: Duration = Duration::from_secs(10);

/// How long one refresh may take before its views report a timeout.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the server learns the latest version of each view's offline table.
pub trait TableVersionSource: Send + Sync {
    /// The latest version of `view`'s table: `None` while it has no table;
    /// the error's text when it cannot be read.
    fn latest_version<'a>(&'a self, view: &'a str) -> BoxFuture<'a, Result<Option<u64>, String>>;
}

/// A table's latest version, as [`TableVersionSource::latest_version`] gives it.
pub(crate) type TableVersion = Result<Option<u64>, String>;

/// The latest versions of the views' offline tables, cached.
#[derive(Default)]
pub(crate) struct TableVersions {
    /// Set once, before the server runs.
    pub source: std::sync::OnceLock<Arc<dyn TableVersionSource>>,
    cached: tokio::sync::Mutex<Option<(Instant, HashMap<String, TableVersion>)>>,
}

impl TableVersions {
    /// The latest table version of each of `views`, read anew if the last
    /// read is older than [`REFRESH`]; `None` without a source. Concurrent
    /// callers share one read.
    pub async fn latest(&self, views: &[&str]) -> Option<HashMap<String, TableVersion>> {
        let source = self.source.get()?;
        let mut cached = self.cached.lock().await;
        if let Some((read_at, versions)) = &*cached
            && read_at.elapsed() < REFRESH
            && views.iter().all(|v| versions.contains_key(*v))
        {
            return Some(versions.clone());
        }
        let versions: HashMap<String, TableVersion> =
            futures::future::join_all(views.iter().map(|&view| async move {
                let version = tokio::time::timeout(READ_TIMEOUT, source.latest_version(view))
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "reading the table's log took over {READ_TIMEOUT:?}"
                        ))
                    });
                (view.to_string(), version)
            }))
            .await
            .into_iter()
            .collect();
        *cached = Some((Instant::now(), versions.clone()));
        Some(versions)
    }
}

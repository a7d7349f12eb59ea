//! A server-backed store that was not reachable when it was opened.
//!
//! [`open`] tries once; if the server does not answer it returns a
//! [`Reconnecting`] store instead of the error. That store answers every
//! call with [`OnlineError::Unavailable`] (at once, naming the store and the
//! last failure) and tries to open the real store again on a call at least
//! [`RETRY_EVERY`] after the last attempt, never two attempts at a time, so
//! no caller waits for more than one connection attempt. Once open, it only
//! forwards. A bad setting is still an error at once: only `Unavailable`
//! waits for the server.

use quiver_online::error_chain;
use quiver_online::{EntityRow, FeatureRow, OnlineError, OnlineStore, ViewLayout, WriteOutcome};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The least time between two attempts to open the store.
pub const RETRY_EVERY: Duration = Duration::from_millis(500);

type Opened = Result<Arc<dyn OnlineStore>, OnlineError>;
type Opener = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Opened> + Send>> + Send + Sync>;

/// Opens the store `opener` makes, or a [`Reconnecting`] one if its server
/// cannot be reached now.
pub async fn open(
    opener: impl Fn() -> Pin<Box<dyn Future<Output = Opened> + Send>> + Send + Sync + 'static,
) -> Opened {
    match opener().await {
        Err(OnlineError::Unavailable { store, source }) => {
            tracing::warn!(store = %store, error = %error_chain(&*source), "Online store unreachable; will retry.");
            Ok(Arc::new(Reconnecting {
                opener: Box::new(opener),
                opened: OnceLock::new(),
                opening: AtomicBool::new(false),
                last_failure: Mutex::new(Failure {
                    at: Instant::now(),
                    store,
                    reason: error_chain(&*source),
                }),
            }))
        }
        other => other,
    }
}

/// See the module doc.
pub struct Reconnecting {
    opener: Opener,
    opened: OnceLock<Arc<dyn OnlineStore>>,
    opening: AtomicBool,
    last_failure: Mutex<Failure>,
}

struct Failure {
    at: Instant,
    store: String,
    reason: String,
}

impl Failure {
    fn error(&self) -> OnlineError {
        OnlineError::Unavailable {
            store: self.store.clone(),
            source: self.reason.clone().into(),
        }
    }
}

impl Reconnecting {
    /// The open store, opening it if the last attempt is old enough.
    async fn store(&self) -> Result<&Arc<dyn OnlineStore>, OnlineError> {
        if let Some(store) = self.opened.get() {
            return Ok(store);
        }
        {
            let failure = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
            if failure.at.elapsed() < RETRY_EVERY {
                return Err(failure.error());
            }
        }
        if self.opening.swap(true, Ordering::AcqRel) {
            // Another caller is connecting: do not queue behind it.
            let failure = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
            return Err(failure.error());
        }
        // Cleared however this attempt ends, also when the caller gives up
        // and drops this future mid-connect (a request's deadline): a flag
        // left set would stop every later attempt.
        let _opening = ClearOnDrop(&self.opening);
        let result = (self.opener)().await;
        let mut failure = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(store) => {
                tracing::info!("Online store reachable again.");
                drop(failure);
                Ok(self.opened.get_or_init(|| store))
            }
            Err(OnlineError::Unavailable { store, source }) => {
                *failure = Failure {
                    at: Instant::now(),
                    store,
                    reason: error_chain(&*source),
                };
                Err(failure.error())
            }
            Err(other) => {
                // Answered, but refused (a wrong password): still wait
                // before the next attempt.
                failure.at = Instant::now();
                Err(other)
            }
        }
    }
}

/// Clears the flag it holds when dropped.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[async_trait::async_trait]
impl OnlineStore for Reconnecting {
    async fn write(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
        offline_version: Option<u64>,
    ) -> Result<WriteOutcome, OnlineError> {
        self.store()
            .await?
            .write(layout, rows, offline_version)
            .await
    }

    async fn delete(&self, view: &str, keys: &[&str]) -> Result<(), OnlineError> {
        self.store().await?.delete(view, keys).await
    }

    async fn check_write(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
    ) -> Result<(), OnlineError> {
        self.store().await?.check_write(layout, rows).await
    }

    async fn read(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<Vec<Option<FeatureRow>>, OnlineError> {
        self.store().await?.read(view, keys).await
    }

    async fn read_with_layout(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<(Arc<ViewLayout>, Vec<Option<FeatureRow>>), OnlineError> {
        self.store().await?.read_with_layout(view, keys).await
    }

    async fn layout(&self, view: &str) -> Result<Option<Arc<ViewLayout>>, OnlineError> {
        self.store().await?.layout(view).await
    }

    async fn offline_version(&self, view: &str) -> Result<Option<u64>, OnlineError> {
        self.store().await?.offline_version(view).await
    }

    async fn prepare(&self, layouts: &[ViewLayout]) -> Result<(), OnlineError> {
        self.store().await?.prepare(layouts).await
    }

    async fn check(&self) -> Result<(), OnlineError> {
        self.store().await?.check().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// An opener that fails with `Unavailable` until `up` is set, counting
    /// attempts; once up, it opens an embedded store in `dir`.
    fn flaky(
        up: Arc<AtomicBool>,
        attempts: Arc<AtomicUsize>,
        dir: std::path::PathBuf,
    ) -> impl Fn() -> Pin<Box<dyn Future<Output = Opened> + Send>> + Send + Sync + 'static {
        move || {
            let (up, attempts, dir) = (up.clone(), attempts.clone(), dir.clone());
            Box::pin(async move {
                attempts.fetch_add(1, Ordering::SeqCst);
                if up.load(Ordering::SeqCst) {
                    let store = quiver_online::EmbeddedStore::open(
                        &quiver_online::EmbeddedStoreConfig::at(dir),
                    )?;
                    Ok(Arc::new(store) as Arc<dyn OnlineStore>)
                } else {
                    Err(OnlineError::Unavailable {
                        store: "test at 127.0.0.1:1".to_string(),
                        source: "connection refused".into(),
                    })
                }
            })
        }
    }

    #[tokio::test]
    async fn an_unreachable_store_answers_unavailable_then_opens_itself() {
        let (up, attempts) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
        );
        // Removed when the test ends, after the store (declared later) closes.
        let dir = tempfile::tempdir().unwrap();
        let store = open(flaky(
            up.clone(),
            attempts.clone(),
            dir.path().to_path_buf(),
        ))
        .await
        .unwrap();
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        // Within RETRY_EVERY: answered at once from the last failure.
        let error = store.check().await.unwrap_err().to_string();
        assert!(error.contains("test at 127.0.0.1:1"), "{error}");
        assert_eq!(attempts.load(Ordering::SeqCst), 1, "retried too soon");
        up.store(true, Ordering::SeqCst);
        tokio::time::sleep(RETRY_EVERY).await;
        store.check().await.unwrap();
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        assert!(store.layout("v").await.unwrap().is_none());
        assert_eq!(attempts.load(Ordering::SeqCst), 2, "opened twice");
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_mid_connect_does_not_stop_later_attempts() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let slow = {
            let attempts = attempts.clone();
            move || {
                let attempts = attempts.clone();
                Box::pin(async move {
                    let n = attempts.fetch_add(1, Ordering::SeqCst);
                    if n == 1 {
                        // The second attempt hangs until its caller gives up.
                        std::future::pending::<()>().await;
                    }
                    Err(OnlineError::Unavailable {
                        store: "test".to_string(),
                        source: "connection refused".into(),
                    })
                }) as Pin<Box<dyn Future<Output = Opened> + Send>>
            }
        };
        let store = open(slow).await.unwrap();
        tokio::time::sleep(RETRY_EVERY).await;
        let gave_up = tokio::time::timeout(Duration::from_millis(50), store.check()).await;
        assert!(
            gave_up.is_err(),
            "the hanging attempt should have been cut off"
        );
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        tokio::time::sleep(RETRY_EVERY).await;
        assert!(store.check().await.is_err());
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            3,
            "no attempt after the cancelled one"
        );
    }

    #[tokio::test]
    async fn a_bad_setting_is_an_error_at_once() {
        let result = open(|| {
            Box::pin(async {
                Err(OnlineError::Config {
                    key: "url".to_string(),
                    problem: "not a URL".to_string(),
                })
            })
        })
        .await;
        assert!(matches!(result, Err(OnlineError::Config { .. })));
    }
}

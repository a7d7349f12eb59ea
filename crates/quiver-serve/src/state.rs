//! [`AppState`]: what the handlers of both transports share — the lookup
//! core, the credentials, the concurrency limit every request of either
//! transport is admitted by, readiness, the per-endpoint metrics — and
//! [`BodyBudget`], the bytes slow request bodies may hold (which the
//! server's drain also counts). Built once by `Server::bind`; the
//! transports (`http`, `grpc`) only read it.

use crate::ServeError;
use crate::auth::Credentials;
use crate::lookup::Core;
use crate::metrics::EndpointMetrics;
use crate::table_versions::TableVersions;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// What every handler of both transports shares.
pub(crate) struct AppState {
    pub core: Core,
    pub credentials: Credentials,
    /// Permits for requests in flight, shared by HTTP and gRPC.
    pub limiter: Arc<Semaphore>,
    pub max_concurrent_requests: usize,
    pub max_body_bytes: usize,
    pub body_timeout: Duration,
    /// Bodies still arriving: see [`BodyBudget`].
    pub body_budget: BodyBudget,
    /// The offline tables' latest versions, for `/ready`'s lag report.
    pub table_versions: TableVersions,
    /// Cleared when shutdown begins, so `/ready` turns away new traffic.
    pub ready: AtomicBool,
    pub http_online: EndpointMetrics,
    pub http_entity: EndpointMetrics,
    pub grpc_online: EndpointMetrics,
    /// gRPC `GetOnlineFeaturesColumnar`.
    pub grpc_columnar: EndpointMetrics,
}

impl AppState {
    /// A permit to answer one request, or the overload error.
    pub fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ServeError> {
        self.limiter.clone().try_acquire_owned().map_err(|_| {
            metrics::counter!("quiver_serve_overloaded_total").increment(1);
            ServeError::Overloaded {
                max: self.max_concurrent_requests,
            }
        })
    }
}

/// What slow request bodies may hold: `max_buffered_body_bytes`, in KiB.
pub(crate) struct BodyBudget {
    kib: Semaphore,
    /// Requests whose body is still arriving.
    arriving: AtomicUsize,
}

impl BodyBudget {
    pub fn new(max_bytes: usize) -> BodyBudget {
        BodyBudget {
            kib: Semaphore::new(kib(max_bytes) as usize),
            arriving: AtomicUsize::new(0),
        }
    }

    /// Requests whose body is still arriving.
    pub fn arriving(&self) -> usize {
        self.arriving.load(Ordering::Relaxed)
    }

    /// Counts one more body as arriving, until the guard is dropped.
    pub fn start_arriving(&self) -> Arriving<'_> {
        self.arriving.fetch_add(1, Ordering::Relaxed);
        Arriving(&self.arriving)
    }

    /// Waits until `bytes` of the budget (at least 1 KiB) are free and holds
    /// them until the permit is dropped.
    pub async fn reserve(
        &self,
        bytes: usize,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, tokio::sync::AcquireError> {
        self.kib.acquire_many(kib(bytes).max(1)).await
    }
}

/// `bytes` in KiB, rounded up; the config caps the budget at 4 TiB.
fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// Counts a request whose body is arriving, until dropped.
pub(crate) struct Arriving<'a>(&'a AtomicUsize);

impl Drop for Arriving<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

//! What both listeners do to every connection before and while it is served:
//! its first request head must arrive within `header_timeout` of the
//! accept ([`Guarded`]), each listener holds at most `max_connections`
//! ([`Cap`]), and a failing `accept` backs off ([`Backoff`]).
//!
//! hyper bounds only the HTTP/1 header read; nothing bounds the time a
//! connection may spend in protocol detection, a TLS handshake or before its
//! first HTTP/2 request. So the deadline sits on the socket, under TLS and
//! hyper, and ends when the server is first asked to answer a request on the
//! connection ([`Head::served`], called by [`MarkHead`] over HTTP and by
//! [`mark_head_layer`] over gRPC). Everything before that on the connection —
//! silence, half a preface, a stalled handshake, headers sent a byte a second —
//! counts against it. After the first request, HTTP/1 idles are bounded by
//! hyper's header read timeout (it restarts for every request), and HTTP/2
//! connections by the cap.
//!
//! At the cap, a new connection takes the slot of the oldest connection that
//! has not sent a request head yet (that one is closed), as nginx reclaims
//! idle connections when `worker_connections` run out: a silent client then
//! holds a slot only until someone needs it. When every open connection has
//! sent a request, the new connection is closed at once.
//!
//! The hot path pays nothing: the deadline is dropped once the head has
//! arrived, and [`MarkHead`] clones carry no handle after that.

use futures::task::AtomicWaker;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

const WAITING: u8 = 0;
const SERVED: u8 = 1;
const SHED: u8 = 2;

/// One connection's progress towards its first request head, shared by
/// its socket (which enforces the deadline), the service that sees the
/// request, and its listener's [`Cap`] (which may shed it).
pub(crate) struct Head {
    state: AtomicU8,
    /// The connection's task, to wake when the connection is shed.
    reader: AtomicWaker,
}

impl Head {
    fn new() -> Head {
        Head {
            state: AtomicU8::new(WAITING),
            reader: AtomicWaker::new(),
        }
    }

    /// The first request head has arrived: the deadline no longer applies.
    pub(crate) fn served(&self) {
        // Shed wins a race: the connection is closing anyway.
        let _ = self
            .state
            .compare_exchange(WAITING, SERVED, Ordering::AcqRel, Ordering::Acquire);
    }

    fn waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// Closes the connection if it is still waiting for its head.
    fn shed(&self) -> bool {
        let shed = self
            .state
            .compare_exchange(WAITING, SHED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if shed {
            self.reader.wake();
        }
        shed
    }
}

/// Counts one open connection of a listener (or of one HTTP thread), until dropped.
pub(crate) struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    pub(crate) fn new(count: &Arc<AtomicUsize>) -> OpenConnection {
        count.fetch_add(1, Ordering::Relaxed);
        OpenConnection(count.clone())
    }

    #[cfg(test)]
    pub(crate) fn counter(&self) -> &Arc<AtomicUsize> {
        &self.0
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A listener's admission of new connections: at most `max` open, shedding
/// connections still waiting for their head to make room. Owned by the
/// listener's accept loop, so it needs no lock.
pub(crate) struct Cap {
    max: usize,
    /// Connections that were waiting when admitted, oldest first; entries
    /// that are served or closed are dropped from the front as they are met.
    /// Each entry waits at most the header timeout, so the queue holds at
    /// most the connections accepted within one timeout.
    waiting: VecDeque<Weak<Head>>,
}

/// What [`Cap::admit`] decided for a new connection.
pub(crate) enum Admission {
    /// Serve it, tracking its head with this.
    Admit(Arc<Head>),
    /// Every slot is held by a connection that has sent a request: close it.
    Refuse,
}

impl Cap {
    pub(crate) fn new(max: usize) -> Cap {
        Cap {
            max,
            waiting: VecDeque::new(),
        }
    }

    /// Admits a new connection to a listener holding `open` connections.
    pub(crate) fn admit(&mut self, open: usize) -> Admission {
        while self
            .waiting
            .front()
            .is_some_and(|head| !head.upgrade().is_some_and(|head| head.waiting()))
        {
            self.waiting.pop_front();
        }
        if open >= self.max {
            loop {
                let Some(oldest) = self.waiting.pop_front() else {
                    metrics::counter!("quiver_serve_connections_refused_total").increment(1);
                    return Admission::Refuse;
                };
                if oldest.upgrade().is_some_and(|head| head.shed()) {
                    metrics::counter!("quiver_serve_connections_shed_total").increment(1);
                    break;
                }
            }
        }
        let head = Arc::new(Head::new());
        self.waiting.push_back(Arc::downgrade(&head));
        Admission::Admit(head)
    }
}

/// How long an accept loop waits after a failed `accept` (out of file
/// descriptors, most often): 5 ms, doubling to at most 1 s, back to 5 ms
/// after a success — as Go's `net/http` does. Retrying at once would spin a
/// core and flood the log while the condition lasts.
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    pub(crate) fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The wait after one more failure in a row.
    pub(crate) fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }

    pub(crate) fn succeeded(&mut self) {
        self.next = Self::FIRST;
    }

    /// Logs an accept error and sleeps for the next backoff.
    pub(crate) async fn after(&mut self, listener: &'static str, error: io::Error) {
        let wait = self.failed();
        metrics::counter!("quiver_serve_accept_errors_total", "listener" => listener).increment(1);
        tracing::warn!(
            listener,
            %error,
            retry_in_ms = wait.as_millis() as u64,
            "Cannot accept a connection."
        );
        tokio::time::sleep(wait).await;
    }
}

/// The process's soft limit on open files, where the OS tells it
/// (`/proc/self/limits` on Linux); `None` elsewhere or when unlimited.
pub(crate) fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A connection's socket, held to its head deadline and counted as open
/// until dropped. A read after the deadline (or after the connection was
/// shed) fails, which ends the TLS handshake or hyper's connection.
pub(crate) struct Guarded<IO> {
    io: IO,
    head: Arc<Head>,
    /// Until the head arrives.
    deadline: Option<Pin<Box<Sleep>>>,
    _open: OpenConnection,
}

impl<IO> Guarded<IO> {
    /// Must be called on the runtime that will serve the connection (the
    /// deadline's timer belongs to it).
    pub(crate) fn new(io: IO, head: Arc<Head>, deadline: Instant, open: OpenConnection) -> Self {
        Guarded {
            io,
            head,
            deadline: Some(Box::pin(tokio::time::sleep_until(deadline))),
            _open: open,
        }
    }

    pub(crate) fn head(&self) -> &Arc<Head> {
        &self.head
    }

    /// `Ready(error)` once the connection must close.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(deadline) = &mut self.deadline else {
            return Poll::Pending;
        };
        self.head.reader.register(cx.waker());
        match self.head.state.load(Ordering::Acquire) {
            SERVED => {
                self.deadline = None;
                Poll::Pending
            }
            SHED => Poll::Ready(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room for a new connection before sending a request",
            )),
            _ => deadline.as_mut().poll(cx).map(|()| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no complete request head within the header timeout",
                )
            }),
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(error) = this.poll_deadline(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A connection's [`Head`] while it is still waiting; `None` once served.
/// Cloning it after the head arrived clones no `Arc`, so the per-request
/// clones (hyper-util clones the service, tonic the connect info, for each
/// request) cost a load and a branch.
pub(crate) struct HeadMark(Option<Arc<Head>>);

impl HeadMark {
    pub(crate) fn new(head: &Arc<Head>) -> HeadMark {
        HeadMark(Some(head.clone()))
    }

    pub(crate) fn served(&self) {
        if let Some(head) = &self.0 {
            head.served();
        }
    }
}

impl Clone for HeadMark {
    fn clone(&self) -> Self {
        HeadMark(self.0.as_ref().filter(|head| head.waiting()).cloned())
    }
}

/// An HTTP connection's service: tells the connection's [`Head`] that a
/// request has arrived, then answers it with `S`.
#[derive(Clone)]
pub(crate) struct MarkHead<S> {
    inner: S,
    head: HeadMark,
}

impl<S, R> tower::Service<R> for MarkHead<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.head.served();
        self.inner.call(request)
    }
}

/// axum-server's acceptor step for a [`Guarded`] connection: wraps its
/// service in [`MarkHead`] (under TLS, when TLS wraps this acceptor).
#[derive(Clone, Copy)]
pub(crate) struct MarkHeadAcceptor;

impl<IO, S> axum_server::accept::Accept<Guarded<IO>, S> for MarkHeadAcceptor {
    type Stream = Guarded<IO>;
    type Service = MarkHead<S>;
    type Future = std::future::Ready<io::Result<(Guarded<IO>, MarkHead<S>)>>;

    fn accept(&self, stream: Guarded<IO>, service: S) -> Self::Future {
        let head = HeadMark::new(stream.head());
        std::future::ready(Ok((
            stream,
            MarkHead {
                inner: service,
                head,
            },
        )))
    }
}

/// A tower layer for tonic's server: marks the [`Head`] of the connection a
/// gRPC request arrived on (found in the request's connect info).
pub(crate) fn mark_head_layer<S>() -> impl tower::Layer<S, Service = MarkGrpcHead<S>> + Clone {
    tower::layer::layer_fn(|inner| MarkGrpcHead { inner })
}

/// See [`mark_head_layer`].
#[derive(Clone)]
pub(crate) struct MarkGrpcHead<S> {
    inner: S,
}

impl<S, B> tower::Service<axum::http::Request<B>> for MarkGrpcHead<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        if let Some(mark) = request.extensions().get::<HeadMark>() {
            mark.served();
        }
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_back_off_exponentially_to_a_second_and_reset_on_success() {
        let mut backoff = Backoff::new();
        let waits: Vec<u64> = (0..10)
            .map(|_| backoff.failed().as_millis() as u64)
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_millis(5));
    }

    fn admitted(admission: Admission) -> Arc<Head> {
        match admission {
            Admission::Admit(head) => head,
            Admission::Refuse => panic!("refused"),
        }
    }

    #[test]
    fn at_the_cap_the_oldest_silent_connection_makes_room() {
        let mut cap = Cap::new(3);
        let heads: Vec<Arc<Head>> = (0..3).map(|open| admitted(cap.admit(open))).collect();
        // The second connection sends a request; the others stay silent.
        heads[1].served();
        let fourth = admitted(cap.admit(3));
        assert_eq!(heads[0].state.load(Ordering::Relaxed), SHED, "the oldest");
        assert!(heads[2].waiting());
        // The shed one is gone; the next newcomer sheds the third, not the
        // served second.
        let _fifth = admitted(cap.admit(3));
        assert_eq!(heads[2].state.load(Ordering::Relaxed), SHED);
        assert_eq!(heads[1].state.load(Ordering::Relaxed), SERVED);
        // Everyone left has sent a request: the next is refused.
        fourth.served();
        _fifth.served();
        assert!(matches!(cap.admit(3), Admission::Refuse));
        // Below the cap, anyone is admitted.
        assert!(matches!(cap.admit(2), Admission::Admit(_)));
    }

    #[test]
    fn served_and_closed_connections_leave_the_queue() {
        let mut cap = Cap::new(usize::MAX);
        for open in 0..1000 {
            admitted(cap.admit(open)).served();
        }
        assert!(cap.waiting.len() <= 1, "{}", cap.waiting.len());
        for open in 0..1000 {
            drop(admitted(cap.admit(open)));
        }
        assert!(cap.waiting.len() <= 1, "{}", cap.waiting.len());
    }

    #[test]
    fn a_served_mark_clones_without_its_head() {
        let head = Arc::new(Head::new());
        let mark = HeadMark::new(&head);
        assert!(mark.clone().0.is_some());
        mark.clone().served();
        assert!(mark.clone().0.is_none());
        assert_eq!(Arc::strong_count(&head), 2);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_open_files_limit_is_read() {
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }

    #[test]
    fn a_shed_connection_is_not_served_later() {
        let head = Head::new();
        assert!(head.shed());
        head.served();
        assert_eq!(head.state.load(Ordering::Relaxed), SHED);
        assert!(!head.shed());
    }
}

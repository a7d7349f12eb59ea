//! Who serves an HTTP connection: one acceptor owns the listening socket and
//! hands every new connection over to a runtime that serves it.
//!
//! With `http_threads = 0` there is one taker, the shared Tokio runtime. With
//! `http_threads = N` there are N threads, each running a single-threaded
//! runtime, and a connection goes to the thread holding the fewest open
//! connections (actix-web's model). A connection then stays on its thread:
//! no request wakes a second thread to steal it, and, unlike N listeners on
//! one port (`SO_REUSEPORT` spreads connections by a hash of their
//! addresses), no thread carries more than its share.

use crate::listener::{Admission, Backoff, Cap, Guarded, Head, OpenConnection};
use axum_server::{AddrListener, Address};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The client's address of a handed-over connection: the address type under
/// which axum-server serves an [`Inbox`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(
    #[allow(
        dead_code,
        reason = "what axum-server hands the app per connection; not read yet"
    )]
    pub SocketAddr,
);

impl Address for Peer {
    type Stream = Connection;
    type Listener = Inbox;
}

/// A connection on its way to a taker. The socket travels as a std socket:
/// a Tokio socket belongs to the runtime that registered it.
struct Handover {
    tcp: std::net::TcpStream,
    peer: SocketAddr,
    head: Arc<Head>,
    deadline: Instant,
    open: OpenConnection,
}

/// Owns the listening socket; [`Acceptor::run`] hands connections to the takers.
pub(crate) struct Acceptor {
    listener: std::net::TcpListener,
    takers: Vec<Taker>,
    cap: Cap,
    header_timeout: Duration,
}

struct Taker {
    handovers: mpsc::UnboundedSender<Handover>,
    open: Arc<AtomicUsize>,
}

/// Where one taker receives its connections: axum-server's listener for it.
pub(crate) struct Inbox {
    handovers: tokio::sync::Mutex<mpsc::UnboundedReceiver<Handover>>,
    local: SocketAddr,
}

/// One acceptor for `listener` (non-blocking) and an inbox for each of
/// `takers`. The acceptor holds at most `max_connections` open (see
/// [`Cap`]), each given `header_timeout` from its accept to send a request.
pub(crate) fn split(
    listener: std::net::TcpListener,
    takers: usize,
    max_connections: usize,
    header_timeout: Duration,
) -> io::Result<(Acceptor, Vec<Inbox>)> {
    let local = listener.local_addr()?;
    let (senders, inboxes) = (0..takers.max(1))
        .map(|_| {
            let (sender, receiver) = mpsc::unbounded_channel();
            let taker = Taker {
                handovers: sender,
                open: Arc::new(AtomicUsize::new(0)),
            };
            let inbox = Inbox {
                handovers: tokio::sync::Mutex::new(receiver),
                local,
            };
            (taker, inbox)
        })
        .unzip();
    Ok((
        Acceptor {
            listener,
            takers: senders,
            cap: Cap::new(max_connections),
            header_timeout,
        },
        inboxes,
    ))
}

impl Acceptor {
    /// Accepts until `stop` completes, then closes the listening socket (new
    /// connections are refused; handed-over ones are served to the end).
    /// Must run on a Tokio runtime.
    pub(crate) async fn run(mut self, stop: impl Future<Output = ()>) -> Result<(), String> {
        let listener = tokio::net::TcpListener::from_std(self.listener)
            .map_err(|e| format!("cannot listen: {e}"))?;
        let mut backoff = Backoff::new();
        tokio::pin!(stop);
        loop {
            let accepted = tokio::select! {
                biased;
                () = &mut stop => return Ok(()),
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    backoff.after("HTTP", error).await;
                    continue;
                }
            };
            backoff.succeeded();
            let deadline = Instant::now() + self.header_timeout;
            let open = self
                .takers
                .iter()
                .map(|taker| taker.open.load(Ordering::Relaxed))
                .sum();
            let Admission::Admit(head) = self.cap.admit(open) else {
                tracing::debug!(%peer, "Connection refused: every slot serves a request.");
                continue;
            };
            // Answers are written whole; don't let Nagle hold their last segment.
            let _ = tcp.set_nodelay(true);
            let Ok(tcp) = tcp.into_std() else { continue };
            let taker = least_loaded(&self.takers);
            let open = OpenConnection::new(&taker.open);
            // A taker whose thread has stopped drops the connection; the
            // server reports that thread's failure.
            let _ = taker.handovers.send(Handover {
                tcp,
                peer,
                head,
                deadline,
                open,
            });
        }
    }
}

/// The taker holding the fewest open connections (the first among equals).
fn least_loaded(takers: &[Taker]) -> &Taker {
    takers
        .iter()
        .min_by_key(|taker| taker.open.load(Ordering::Relaxed))
        .expect("split makes at least one taker")
}

impl AddrListener<Connection, Peer> for Inbox {
    async fn bind_to(_: Peer) -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "an inbox is made by handover::split, not bound",
        ))
    }

    async fn accept_stream(&self) -> io::Result<(Connection, Peer)> {
        let handover = self.handovers.lock().await.recv().await;
        let Some(Handover {
            tcp,
            peer,
            head,
            deadline,
            open,
        }) = handover
        else {
            // The acceptor has stopped: so has the server, which ends this
            // inbox's serving through its handle.
            return std::future::pending().await;
        };
        // Registers the socket with the runtime polling this inbox.
        let tcp = TcpStream::from_std(tcp)?;
        Ok((Guarded::new(tcp, head, deadline, open), Peer(peer)))
    }

    fn get_local_addr(&self) -> io::Result<Peer> {
        Ok(Peer(self.local))
    }
}

/// A handed-over TCP connection; counts as open for its taker until dropped.
pub(crate) type Connection = Guarded<TcpStream>;

#[cfg(test)]
mod tests {
    use super::*;

    fn takers(open: &[usize]) -> Vec<Taker> {
        open.iter()
            .map(|&n| Taker {
                handovers: mpsc::unbounded_channel().0,
                open: Arc::new(AtomicUsize::new(n)),
            })
            .collect()
    }

    fn index(takers: &[Taker], chosen: &Taker) -> usize {
        takers.iter().position(|t| std::ptr::eq(t, chosen)).unwrap()
    }

    #[test]
    fn the_taker_with_fewest_open_connections_gets_the_next() {
        let all = takers(&[3, 1, 2]);
        assert_eq!(index(&all, least_loaded(&all)), 1);
        let all = takers(&[0, 0]);
        assert_eq!(index(&all, least_loaded(&all)), 0);
    }

    #[test]
    fn connections_spread_evenly_and_closed_ones_free_their_slot() {
        let all = takers(&[0, 0]);
        let mut open: Vec<OpenConnection> = (0..16)
            .map(|_| OpenConnection::new(&least_loaded(&all).open))
            .collect();
        let counts = || {
            all.iter()
                .map(|t| t.open.load(Ordering::Relaxed))
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(), [8, 8]);
        // Four of the first taker's connections close.
        for _ in 0..4 {
            let at = open
                .iter()
                .position(|o| Arc::ptr_eq(o.counter(), &all[0].open))
                .unwrap();
            open.remove(at);
        }
        assert_eq!(counts(), [4, 8]);
        let next: Vec<usize> = (0..4)
            .map(|_| {
                let taker = least_loaded(&all);
                open.push(OpenConnection::new(&taker.open));
                index(&all, taker)
            })
            .collect();
        assert_eq!(next, [0, 0, 0, 0]);
        assert_eq!(counts(), [8, 8]);
    }
}

//! The gRPC listener: accepts connections (backing off when `accept` fails),
//! holds them to the [`listener`](crate::listener) rules (a head deadline and
//! a cap), handshakes TLS when configured — each connection in its own task,
//! so a slow handshake never holds up the next accept — and hands them to
//! tonic as a stream. (tonic's own TLS features would switch on rustls
//! logging workspace-wide; see Cargo.toml.)

use crate::listener::{Admission, Backoff, Cap, Guarded, HeadMark, OpenConnection};
use crate::write_batch::WriteBatch;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

/// One gRPC connection, as tonic takes it once wrapped in a [`WriteBatch`].
pub(crate) struct GrpcConnection {
    io: Io,
    head: HeadMark,
}

enum Io {
    Plain(Guarded<TcpStream>),
    Tls(Box<tokio_rustls::server::TlsStream<Guarded<TcpStream>>>),
}

/// Connections of `listener` (after their TLS handshake, given a `tls`
/// configuration) until tonic drops the stream; at most `max_connections`
/// open, each with `header_timeout` from its accept to send a request, and
/// its writes sent once per HTTP/2 flush ([`WriteBatch`]).
pub(crate) fn incoming(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    max_connections: usize,
    header_timeout: Duration,
) -> ReceiverStream<io::Result<WriteBatch<GrpcConnection>>> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let (sender, receiver) = mpsc::channel(64);
    tokio::spawn(async move {
        let open = Arc::new(AtomicUsize::new(0));
        let mut cap = Cap::new(max_connections);
        let mut backoff = Backoff::new();
        loop {
            // Once tonic stops (shutdown), close the listening socket at once.
            let accepted = tokio::select! {
                () = sender.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    backoff.after("gRPC", error).await;
                    continue;
                }
            };
            backoff.succeeded();
            let deadline = Instant::now() + header_timeout;
            let Admission::Admit(head) = cap.admit(open.load(std::sync::atomic::Ordering::Relaxed))
            else {
                tracing::debug!(%peer, "Connection refused: every slot serves a request.");
                continue;
            };
            // Replies are small: without NODELAY, Nagle holds a response's
            // last segment until the client's delayed ACK (~40 ms).
            let _ = tcp.set_nodelay(true);
            let mark = HeadMark::new(&head);
            let tcp = Guarded::new(tcp, head, deadline, OpenConnection::new(&open));
            let Some(acceptor) = &acceptor else {
                let connection = GrpcConnection {
                    io: Io::Plain(tcp),
                    head: mark,
                };
                if sender.send(Ok(WriteBatch::new(connection))).await.is_err() {
                    return;
                }
                continue;
            };
            let acceptor = acceptor.clone();
            let connections = sender.clone();
            tokio::spawn(async move {
                // The socket's head deadline bounds the handshake.
                match acceptor.accept(tcp).await {
                    Ok(stream) => {
                        let connection = GrpcConnection {
                            io: Io::Tls(Box::new(stream)),
                            head: mark,
                        };
                        let _ = connections.send(Ok(WriteBatch::new(connection))).await;
                    }
                    Err(error) => tracing::debug!(%peer, %error, "TLS handshake failed."),
                }
            });
        }
    });
    ReceiverStream::new(receiver)
}

impl tonic::transport::server::Connected for WriteBatch<GrpcConnection> {
    /// Copied into every request, where [`crate::listener::MarkGrpcHead`] finds it.
    type ConnectInfo = HeadMark;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.get_ref().head.clone()
    }
}

impl AsyncRead for GrpcConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for GrpcConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_flush(cx),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Io::Tls(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(io) => io.is_write_vectored(),
            Io::Tls(io) => io.is_write_vectored(),
        }
    }
}

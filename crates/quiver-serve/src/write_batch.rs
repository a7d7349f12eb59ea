//! One system call per HTTP/2 flush on the gRPC port: [`WriteBatch`]
//! collects a connection's writes and sends them when h2 flushes.
//!
//! h2 writes an answer's HEADERS, DATA and trailers as it produces them and
//! flushes once it has nothing more to send. But on a socket that takes
//! vectored writes it keeps every DATA payload of 256 bytes or more out of
//! its buffer (to write it with `writev` in place), and flushes before it
//! buffers the next frame. A 1-id answer (about 770 bytes) thus cost two
//! `writev` calls and two TCP segments: HEADERS and DATA, then a 10-byte
//! trailers frame. Declared non-vectored, the connection makes h2 copy
//! payloads under 1 KiB into its buffer, so the whole answer leaves in one
//! write. A payload of 1 KiB or more h2 still hands over on its own and
//! flushes right after it: this buffer joins it to the frames before it,
//! and its trailers leave in a second write, as before.
//! Under TLS the buffer sits above rustls, which otherwise seals and sends
//! a record for every write it is given.
//! (tokio's `BufWriter` would not do: it reports itself vectored, so h2
//! would still keep the payload apart and flush twice.)

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Writes at most this many bytes ahead of a flush (in an allocation under
/// twice that); a write that would pass it first sends what is held. h2
/// flushes after every frame it hands over without copying (up to 16 KiB,
/// its default frame size), so this bounds the copy, not the batching.
const LIMIT: usize = 64 * 1024;

/// The buffer a connection keeps between flushes; a larger one (left by a
/// batch answer) is freed once sent, so thousands of idle connections hold
/// no batch-sized buffers.
const KEEP: usize = 4 * 1024;

/// An `IO` whose writes are held until [`AsyncWrite::poll_flush`] (or a
/// full buffer) sends them in as few writes as the socket takes.
pub(crate) struct WriteBatch<IO> {
    io: IO,
    held: Vec<u8>,
    /// How much of `held` the socket has taken (a flush may be cut short
    /// by a full socket buffer and resumed).
    sent: usize,
}

impl<IO> WriteBatch<IO> {
    pub(crate) fn new(io: IO) -> Self {
        WriteBatch {
            io,
            held: Vec::new(),
            sent: 0,
        }
    }

    pub(crate) fn get_ref(&self) -> &IO {
        &self.io
    }
}

impl<IO: AsyncWrite + Unpin> WriteBatch<IO> {
    /// Sends what is held; `Ready(Ok)` once the socket has taken all of it.
    fn poll_send_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.held.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.held[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.sent = 0;
        if self.held.capacity() > KEEP {
            self.held = Vec::new();
        } else {
            self.held.clear();
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WriteBatch<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for WriteBatch<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.held.len() + buf.len() > LIMIT {
            ready!(this.poll_send_held(cx))?;
        }
        if buf.len() >= LIMIT {
            return Pin::new(&mut this.io).poll_write(cx, buf);
        }
        this.held.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    /// `false`, so that h2 copies small DATA payloads into its own buffer
    /// and one flush covers a whole small answer (see the module's doc).
    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn socket_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (accepted.unwrap().0, client.unwrap())
    }

    #[tokio::test]
    async fn writes_leave_at_the_flush_in_order() {
        let (server, mut peer) = socket_pair().await;
        let mut batch = WriteBatch::new(server);
        for part in [&b"HEADERS"[..], b" DATA", b" TRAILERS"] {
            batch.write_all(part).await.unwrap();
        }
        let mut buf = [0u8; 64];
        let early = tokio::time::timeout(Duration::from_millis(100), peer.read(&mut buf)).await;
        assert!(early.is_err(), "bytes left before the flush: {early:?}");
        batch.flush().await.unwrap();
        let mut got = vec![0u8; "HEADERS DATA TRAILERS".len()];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"HEADERS DATA TRAILERS");
    }

    /// 8 MiB in pieces of every size around the limit, through a socket
    /// whose reader lags: a flush that finds the socket full resumes where
    /// it stopped, and a piece over the limit follows what was held.
    #[tokio::test]
    async fn a_full_socket_loses_and_reorders_nothing() {
        let (server, mut peer) = socket_pair().await;
        let total = 8 << 20;
        let expected: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::with_capacity(total);
            let mut buf = vec![0u8; 7919];
            while got.len() < total {
                let n = peer.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed after {} bytes", got.len());
                got.extend_from_slice(&buf[..n]);
                if got.len() % 5 == 0 {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
            got
        });
        let mut batch = WriteBatch::new(server);
        let sizes = [
            1,
            9,
            770,
            1023,
            16_384,
            LIMIT - 1,
            LIMIT,
            LIMIT + 1,
            3 * LIMIT,
        ];
        let (mut at, mut piece) = (0, 0);
        while at < total {
            let end = (at + sizes[piece % sizes.len()]).min(total);
            batch.write_all(&expected[at..end]).await.unwrap();
            // Every size meets both an empty and a non-empty buffer.
            if piece % 4 == 3 {
                batch.flush().await.unwrap();
            }
            (at, piece) = (end, piece + 1);
        }
        batch.flush().await.unwrap();
        assert!(
            batch.held.capacity() <= KEEP,
            "kept {}",
            batch.held.capacity()
        );
        let got = reader.await.unwrap();
        assert!(got == expected, "the bytes differ or are out of order");
    }

    /// A piece over the limit, written while bytes are held, leaves after
    /// them.
    #[tokio::test]
    async fn a_piece_over_the_limit_follows_what_was_held() {
        let (server, mut peer) = socket_pair().await;
        let mut batch = WriteBatch::new(server);
        batch.write_all(b"0123456789").await.unwrap();
        let big = vec![b'x'; LIMIT + 1];
        batch.write_all(&big).await.unwrap();
        batch.flush().await.unwrap();
        let mut got = vec![0u8; 10 + big.len()];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..10], b"0123456789");
        assert!(got[10..] == big[..]);
    }

    /// Counts the writes that reach the socket under h2; `vectored: false`
    /// declares the socket non-vectored without holding anything.
    struct CountWrites<IO> {
        io: IO,
        writes: Arc<AtomicUsize>,
        vectored: bool,
    }

    impl<IO: AsyncRead + Unpin> AsyncRead for CountWrites<IO> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
        }
    }

    impl<IO: AsyncWrite + Unpin> AsyncWrite for CountWrites<IO> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.writes.fetch_add(1, Ordering::Relaxed);
            Pin::new(&mut this.io).poll_write(cx, buf)
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.writes.fetch_add(1, Ordering::Relaxed);
            Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored && self.io.is_write_vectored()
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_flush(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
        }
    }

    /// The socket writes h2 makes for one answer shaped like a 1-id gRPC
    /// answer (HEADERS, `payload` bytes of DATA, trailers), the second of
    /// two on the connection (so HPACK's table is warm, as in steady state).
    async fn writes_per_answer(payload: usize, socket: Socket) -> usize {
        let (server, client) = socket_pair().await;
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = CountWrites {
            io: server,
            writes: writes.clone(),
            vectored: socket == Socket::Vectored,
        };
        let batched = socket == Socket::Batched;
        let server = tokio::spawn(async move {
            if batched {
                serve_answers(
                    h2::server::handshake(WriteBatch::new(counted))
                        .await
                        .unwrap(),
                    payload,
                )
                .await
            } else {
                serve_answers(h2::server::handshake(counted).await.unwrap(), payload).await
            }
        });
        let (mut client, connection) = h2::client::handshake(client).await.unwrap();
        tokio::spawn(connection);
        let mut per_answer = 0;
        for _ in 0..2 {
            client = client.ready().await.unwrap();
            let before = writes.load(Ordering::Relaxed);
            let request = axum::http::Request::post("http://quiver/q")
                .body(())
                .unwrap();
            let (answer, _) = client.send_request(request, true).unwrap();
            let mut body = answer.await.unwrap().into_body();
            let mut got = 0;
            while let Some(data) = body.data().await {
                let data = data.unwrap();
                got += data.len();
                body.flow_control().release_capacity(data.len()).unwrap();
            }
            assert_eq!(got, payload);
            let trailers = body.trailers().await.unwrap().expect("trailers");
            assert_eq!(trailers["grpc-status"], "0");
            per_answer = writes.load(Ordering::Relaxed) - before;
        }
        drop(client);
        server.abort();
        per_answer
    }

    async fn serve_answers<IO>(
        mut connection: h2::server::Connection<IO, bytes::Bytes>,
        payload: usize,
    ) where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        while let Some(accepted) = connection.accept().await {
            let (_request, mut respond) = accepted.unwrap();
            // As hyper answers: headers, the body's one chunk, its trailers,
            // all before the connection is polled again.
            let response = axum::http::Response::builder()
                .header("content-type", "application/grpc")
                .body(())
                .unwrap();
            let mut stream = respond.send_response(response, false).unwrap();
            stream.reserve_capacity(1);
            stream
                .send_data(bytes::Bytes::from(vec![7u8; payload]), false)
                .unwrap();
            let mut trailers = axum::http::HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            stream.send_trailers(trailers).unwrap();
        }
    }

    #[derive(PartialEq, Clone, Copy)]
    enum Socket {
        /// A TCP socket as it is: h2 writes DATA of 256 bytes or more in place.
        Vectored,
        /// Declared non-vectored, nothing held.
        NotVectored,
        /// Under a [`WriteBatch`].
        Batched,
    }

    #[tokio::test]
    async fn a_small_answer_leaves_in_one_write() {
        // On the bare socket h2 writes the DATA payload in place and the
        // trailers after it: two writes (a 1-id answer is ~770 bytes).
        assert_eq!(writes_per_answer(770, Socket::Vectored).await, 2);
        assert_eq!(writes_per_answer(770, Socket::Batched).await, 1);
        assert_eq!(writes_per_answer(200, Socket::Batched).await, 1);
    }

    #[tokio::test]
    async fn a_larger_answer_joins_its_payload_to_the_frames_before_it() {
        // Over 1 KiB h2 hands the payload over apart from the frames before
        // it, then flushes; the trailers follow in their own write. Declared
        // non-vectored without holding, that is three writes; held, two.
        assert_eq!(writes_per_answer(2048, Socket::NotVectored).await, 3);
        assert_eq!(writes_per_answer(2048, Socket::Batched).await, 2);
        assert_eq!(writes_per_answer(2048, Socket::Vectored).await, 2);
    }
}

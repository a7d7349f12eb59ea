//! The connection layer, on both ports, over real sockets (issue 14, items
//! 1, 2 and 4): a connection must send a request head in time, each
//! listener holds a bounded number of connections, and HTTP/2 streams and
//! resets per connection are bounded.

use crate::support::*;
use quiver_proto::serving::GetServerInfoRequest;
use quiver_serve::ServeConfig;
use serde_json::json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The client preface and an empty SETTINGS frame: an HTTP/2 connection
/// ready for requests.
const PREFACE_AND_SETTINGS: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// Reads (and discards) until the server closes the connection; the time
/// that took, or `None` if it was still open after `limit`.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A client that sends `sent` (after a TLS handshake, given `cert`) and
/// then nothing more.
async fn silent_client(addr: SocketAddr, cert: Option<&TestCert>, sent: &'static [u8]) -> Duration {
    let limit = Duration::from_secs(3);
    let closed = match cert {
        None => {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(sent).await.unwrap();
            closed_within(&mut tcp, limit).await
        }
        Some(cert) => {
            let alpn: &[&[u8]] = if sent.starts_with(b"PRI") {
                &[b"h2"]
            } else {
                &[b"http/1.1", b"h2"]
            };
            let mut tls = cert.connect(addr, alpn).await.unwrap();
            tls.write_all(sent).await.unwrap();
            tls.flush().await.unwrap();
            closed_within(&mut tls, limit).await
        }
    };
    closed.unwrap_or_else(|| panic!("{addr}: sent {sent:?}, still open after {limit:?}"))
}

/// Issue 14, item 1: with a 300 ms header timeout, connections that never
/// send a complete request head are closed, on both ports: silence, half an
/// HTTP/2 preface, a whole preface and no request, half an HTTP/1 head, and
/// under TLS, an abandoned handshake.
async fn silent_connections_are_closed(tls: bool) {
    let (_repo, definitions) = computed_repo().await;
    let cert = TestCert::generate();
    let config = ServeConfig {
        header_timeout: Duration::from_millis(300),
        tls_cert: tls.then(|| cert.cert_path()),
        tls_key: tls.then(|| cert.key_path()),
        ..test_config()
    };
    let server = start(&definitions, config).await;
    let cert = tls.then_some(&cert);
    // Half an HTTP/1 head (the gRPC port refuses HTTP/1 at once).
    let mut clients = vec![silent_client(
        server.http,
        cert,
        b"GET /health HTTP/1.1\r\nhost: lo",
    )];
    for addr in [server.http, server.grpc] {
        for sent in [&b""[..], &PREFACE[..10], PREFACE_AND_SETTINGS] {
            clients.push(silent_client(addr, cert, sent));
        }
    }
    for waited in futures::future::join_all(clients).await {
        // Never before the timeout (the client starts its clock first).
        assert!(waited >= Duration::from_millis(250), "{waited:?}");
    }
    if tls {
        // A TLS handshake begun and abandoned: a record header announcing
        // 200 bytes of ClientHello, then 3 of them.
        for addr in [server.http, server.grpc] {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(&[0x16, 3, 1, 0, 200, 1, 0, 0]).await.unwrap();
            let closed = closed_within(&mut tcp, Duration::from_secs(3)).await;
            assert!(
                closed.is_some(),
                "{addr}: a stalled handshake was still open"
            );
        }
    }
    // Well-behaved clients are served meanwhile.
    let health = match cert {
        None => http(server.http, "GET", "/health", &[], None).await,
        Some(cert) => {
            let tls = cert.connect(server.http, &[b"http/1.1"]).await.unwrap();
            exchange(tls, "GET", "/health", &[], None).await
        }
    };
    assert_eq!(health.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_send_a_request_head_are_closed() {
    silent_connections_are_closed(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_send_a_request_head_are_closed_under_tls() {
    silent_connections_are_closed(true).await;
}

/// The head deadline ends at the first request: an HTTP/2 connection that
/// has made a request may idle past it and make another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_made_a_request_outlives_the_head_deadline() {
    let (_repo, definitions) = computed_repo().await;
    let config = ServeConfig {
        header_timeout: Duration::from_millis(300),
        ..test_config()
    };
    let server = start(&definitions, config).await;
    let tcp = TcpStream::connect(server.http).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    for _ in 0..2 {
        let request = hyper::Request::get(format!("http://{}/health", server.http))
            .body(http_body_util::Empty::<axum::body::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        // Three header timeouts.
        tokio::time::sleep(Duration::from_millis(900)).await;
    }
}

/// Issue 14, item 2: 300 idle connections against a cap of 32 per listener.
/// Each one beyond the cap closes the oldest connection that has not sent a
/// request, so 268 are closed, and well-behaved clients are served.
async fn idle_connections_beyond_the_cap_make_room(http_threads: usize) {
    let (_repo, definitions) = computed_repo().await;
    let config = ServeConfig {
        max_connections: 32,
        // Long enough that no idle connection is closed for its deadline.
        header_timeout: Duration::from_secs(120),
        http_threads,
        ..test_config()
    };
    let server = start(&definitions, config).await;
    for addr in [server.http, server.grpc] {
        let mut idle = Vec::new();
        for _ in 0..300 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        let closed = futures::future::join_all(
            idle.iter_mut()
                .map(|tcp| closed_within(tcp, Duration::from_secs(3))),
        )
        .await;
        let closed = closed.iter().filter(|c| c.is_some()).count();
        assert_eq!(closed, 300 - 32, "{addr}: idle connections closed");
        // The 32 newest are still held open; a well-behaved client is served.
        if addr == server.http {
            assert_eq!(
                http(server.http, "GET", "/health", &[], None).await.status,
                200
            );
            let answer = post_features(
                server.http,
                &json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum"]}),
            )
            .await;
            assert_eq!(answer.json()["results"][1]["values"], json!([2.0]));
        } else {
            let mut client = server.grpc_client().await;
            assert!(
                client
                    .get_server_info(GetServerInfoRequest {})
                    .await
                    .is_ok()
            );
        }
        drop(idle);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_cap_make_room_for_others() {
    idle_connections_beyond_the_cap_make_room(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_cap_make_room_for_others_on_http_threads() {
    idle_connections_beyond_the_cap_make_room(2).await;
}

/// One keep-alive HTTP/1 request on `connection`, leaving it open; false
/// if the server closed it or did not answer within 5 s.
async fn health_keep_alive(connection: &mut KeepAlive) -> bool {
    let request = hyper::Request::get("/health")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answered = async {
        let response = connection.send_request(request).await.ok()?;
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some(String::from_utf8_lossy(&body).contains(r#"{"status":"ok"}"#))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), answered).await,
        Ok(Some(true))
    )
}

/// At the cap with every connection busy with requests, a new connection is
/// closed at once; once one closes, the next is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_slot_has_made_a_request_new_connections_are_refused() {
    let (_repo, definitions) = computed_repo().await;
    let config = ServeConfig {
        max_connections: 2,
        header_timeout: Duration::from_secs(120),
        ..test_config()
    };
    let server = start(&definitions, config).await;
    let mut first = keep_alive(server.http).await;
    let mut second = keep_alive(server.http).await;
    assert!(health_keep_alive(&mut first).await);
    assert!(health_keep_alive(&mut second).await);
    let mut third = keep_alive(server.http).await;
    assert!(!health_keep_alive(&mut third).await, "beyond the cap");
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut next = keep_alive(server.http).await;
        if health_keep_alive(&mut next).await {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came free");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(health_keep_alive(&mut second).await, "the served one stays");
}

/// What a server said on an HTTP/2 connection to a burst of malformed
/// requests.
struct H2Reply {
    max_concurrent_streams: Option<u32>,
    /// The GOAWAY error code, if the server sent one.
    goaway: Option<u32>,
}

/// Opens an HTTP/2 connection, sends `malformed` requests (a `connection`
/// header, forbidden in HTTP/2: the server must reset each, the MadeYouReset
/// pattern), and reads the server's frames until it has reset them all, or
/// sent a GOAWAY.
async fn malformed_requests(addr: SocketAddr, malformed: u32) -> H2Reply {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut out = PREFACE_AND_SETTINGS.to_vec();
    for n in 0..malformed {
        let stream = 1 + 2 * n;
        // HEADERS, END_STREAM | END_HEADERS: `:method POST`, `:scheme
        // http`, `:path /` (static table), then `connection: x` (a literal).
        let block = b"\x83\x86\x84\x00\x0aconnection\x01x";
        out.extend_from_slice(&[0, 0, block.len() as u8, 1, 5]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(block);
    }
    let (mut read, mut write) = tcp.split();
    let writing = async {
        // The server may close mid-burst.
        let _ = write.write_all(&out).await;
    };
    let reading = async {
        let mut reply = H2Reply {
            max_concurrent_streams: None,
            goaway: None,
        };
        let mut resets = 0;
        while resets < malformed {
            let mut head = [0u8; 9];
            if read.read_exact(&mut head).await.is_err() {
                break;
            }
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            if read.read_exact(&mut payload).await.is_err() {
                break;
            }
            match (head[3], head[4]) {
                // SETTINGS (not an ACK): MAX_CONCURRENT_STREAMS is 0x3.
                (4, 0) => {
                    for setting in payload.chunks(6) {
                        if setting[..2] == [0, 3] {
                            reply.max_concurrent_streams =
                                Some(u32::from_be_bytes(setting[2..6].try_into().unwrap()));
                        }
                    }
                }
                // RST_STREAM.
                (3, _) => resets += 1,
                // GOAWAY.
                (7, _) => {
                    reply.goaway = Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
                    break;
                }
                _ => {}
            }
        }
        reply
    };
    let ((), reply) = tokio::time::timeout(Duration::from_secs(30), async {
        futures::join!(writing, reading)
    })
    .await
    .expect("neither every reset nor a GOAWAY within 30 s");
    reply
}

/// Issue 14, item 4: both ports bound the streams of an HTTP/2 connection
/// (`max_concurrent_streams`) and the streams the server resets for a
/// client's errors (past 1024 of them: GOAWAY ENHANCE_YOUR_CALM).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_and_resets_are_bounded_on_both_ports() {
    let (_repo, definitions) = computed_repo().await;
    let config = ServeConfig {
        max_concurrent_streams: 50,
        ..test_config()
    };
    let server = start(&definitions, config).await;
    for addr in [server.http, server.grpc] {
        let few = malformed_requests(addr, 10).await;
        assert_eq!(few.max_concurrent_streams, Some(50), "{addr}");
        assert_eq!(few.goaway, None, "{addr}: ten resets are allowed");
        let many = malformed_requests(addr, 1100).await;
        // ENHANCE_YOUR_CALM.
        assert_eq!(many.goaway, Some(0xb), "{addr}: 1100 resets");
    }
    // The server goes on serving.
    let mut client = server.grpc_client().await;
    assert!(
        client
            .get_server_info(GetServerInfoRequest {})
            .await
            .is_ok()
    );
}

/// The child half of `accept_errors_back_off_when_out_of_file_descriptors`:
/// a server whose process may open only a few more files, until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a child process by accept_errors_back_off_when_out_of_file_descriptors"]
async fn serve_with_few_file_descriptors() {
    if std::env::var_os("QUIVER_TEST_FEW_FILES").is_none() {
        return;
    }
    let (_repo, definitions) = computed_repo().await;
    let config = ServeConfig {
        max_connections: 10_000,
        ..test_config()
    };
    let server = start(&definitions, config).await;
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let limit = open + 16;
    let lowered = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .unwrap();
    assert!(lowered.success());
    println!("LISTENING {} {}", server.http, server.grpc);
    std::future::pending::<()>().await;
}

/// Kills the child process when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 14, item 2: a server out of file descriptors backs off between
/// failed accepts instead of retrying in a loop, and accepts again once
/// descriptors are free. A child process (this binary, running
/// `serve_with_few_file_descriptors`) lowers its own open-files limit; 100
/// connections to each port exhaust it for two seconds, in which a backoff
/// of 5 ms doubling to 1 s fails about ten accepts per listener (a loop
/// would fail thousands).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_errors_back_off_when_out_of_file_descriptors() {
    use std::io::BufRead;
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("prlimit (util-linux) is needed to lower a child's open-files limit");
    }
    let mut child = Child(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "connections::serve_with_few_file_descriptors",
                "--ignored",
                "--nocapture",
            ])
            .env("QUIVER_TEST_FEW_FILES", "1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let addrs = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("LISTENING ").map(str::to_string))
    })
    .await
    .unwrap()
    .expect("the child server did not start");
    let addrs: Vec<SocketAddr> = addrs.split(' ').map(|a| a.parse().unwrap()).collect();
    let mut held = Vec::new();
    for addr in &addrs {
        // Within the listen backlog (128), so that connects complete
        // while the child cannot accept.
        for _ in 0..100 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(held);
    // Accepts resume: /metrics is answered once descriptors are free.
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let response = tokio::time::timeout(
            Duration::from_secs(2),
            http(addrs[0], "GET", "/metrics", &[], None),
        )
        .await;
        if let Ok(response) = response {
            break String::from_utf8(response.body).unwrap();
        }
        assert!(Instant::now() < deadline, "the child never accepted again");
    };
    for listener in ["HTTP", "gRPC"] {
        let prefix = format!("quiver_serve_accept_errors_total{{listener=\"{listener}\"}} ");
        let failed: f64 = metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no accept errors counted for {listener}:\n{metrics}"))
            .parse()
            .unwrap();
        assert!(
            (1.0..=60.0).contains(&failed),
            "{listener}: {failed} failed accepts in about two seconds"
        );
    }
}

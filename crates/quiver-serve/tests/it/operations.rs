//! Overload, slow clients and graceful shutdown.

use crate::support::*;
use quiver_serve::ServeConfig;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn body() -> Vec<u8> {
    json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum"]})
        .to_string()
        .into_bytes()
}

/// Sends the headers of a `POST /get-online-features` and the first
/// `sent` bytes of its body, then stops.
async fn start_slow_post(addr: std::net::SocketAddr, body: &[u8], sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /get-online-features HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..sent]).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

async fn read_response(mut stream: TcpStream) -> HttpResponse {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse_response(&raw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_a_fast_503() {
    let (_repo, definitions) = computed_repo().await;
    let config = quiver_serve::ServeConfig {
        max_concurrent_requests: 1,
        ..test_config()
    };
    let (server, gate) = start_gated(&definitions, config).await;
    let body = body();
    // A request held in the store holds the one slot.
    gate.send_replace(false);
    let held = read_response(start_slow_post(server.http, &body, body.len()).await);
    let held = tokio::spawn(held);
    server.wait_for_in_flight(1).await;
    let refused = post_features(server.http, &serde_json::from_slice(&body).unwrap()).await;
    let message = refused.expect_error(503, "overloaded");
    assert!(message.contains("1 concurrent"), "{message}");
    assert_eq!(refused.header("retry-after"), Some("1"));
    // Refused at once, not queued until the slot came free: the held
    // request still held it when the 503 arrived.
    assert_eq!(server.in_flight.count(), 1, "the slot was freed first");
    // /health is never refused: it is outside the limit.
    assert_eq!(
        http(server.http, "GET", "/health", &[], None).await.status,
        200
    );
    gate.send_replace(true);
    assert_eq!(held.await.unwrap().status, 200);
}

/// Issue 14, item 5: a body that trickles in holds no slot of
/// `max_concurrent_requests`, so slow clients cannot turn every data request
/// into a 503; each still gets its 408 when its body timeout passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_hold_no_slot_and_time_out() {
    let (_repo, definitions) = computed_repo().await;
    let config = quiver_serve::ServeConfig {
        max_concurrent_requests: 1,
        body_timeout: Duration::from_millis(1_500),
        ..test_config()
    };
    let server = start(&definitions, config).await;
    let body = body();
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(start_slow_post(server.http, &body, 10).await);
    }
    server.wait_for_bodies_arriving(50).await;
    assert_eq!(server.in_flight.count(), 0, "a slow body holds a slot");
    let ok = post_features(server.http, &serde_json::from_slice(&body).unwrap()).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(ok.json()["results"][1]["values"], json!([2.0]));
    for stalled in slow {
        read_response(stalled)
            .await
            .expect_error(408, "body_timeout");
    }
    assert_eq!(server.in_flight.bodies_arriving(), 0);
}

/// Slow bodies together hold at most `max_buffered_body_bytes`: beyond it, a
/// slow body waits (its bytes stay in the kernel) until another finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_share_a_byte_budget() {
    let (_repo, definitions) = computed_repo().await;
    let config = quiver_serve::ServeConfig {
        // One slow body's reservation (its length, in whole KiB) spends it.
        max_body_bytes: 1024,
        max_buffered_body_bytes: 1024,
        body_timeout: Duration::from_secs(30),
        ..test_config()
    };
    let server = start(&definitions, config).await;
    let body = body();
    let mut first = start_slow_post(server.http, &body, 10).await;
    server.wait_for_bodies_arriving(1).await;
    // The second's whole body is sent, but the first holds the budget.
    let mut second = start_slow_post(server.http, &body, 10).await;
    server.wait_for_bodies_arriving(2).await;
    second.write_all(&body[10..]).await.unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut byte)).await;
    assert!(early.is_err(), "the second body was read beyond the budget");
    first.write_all(&body[10..]).await.unwrap();
    assert_eq!(read_response(first).await.status, 200);
    let rest = read_response(second).await;
    assert_eq!(rest.status, 200, "{}", String::from_utf8_lossy(&rest.body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_slow_to_send_headers_is_disconnected() {
    let (_repo, definitions) = computed_repo().await;
    let config = quiver_serve::ServeConfig {
        header_timeout: Duration::from_secs(1),
        ..test_config()
    };
    let server = start(&definitions, config).await;
    let mut stream = TcpStream::connect(server.http).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: loc")
        .await
        .unwrap();
    let started = Instant::now();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await;
    assert!(read.is_ok(), "the connection was still open after 5 s");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(!String::from_utf8_lossy(&raw).contains("200 OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_requests_in_flight() {
    shutdown_drains(test_config()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_requests_in_flight_on_http_threads() {
    shutdown_drains(ServeConfig {
        http_threads: 2,
        ..test_config()
    })
    .await;
}

/// With two HTTP threads, every connection is answered, whichever thread it
/// is handed to (how they are spread: `handover`'s unit tests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_threads_answer_every_connection() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(
        &definitions,
        ServeConfig {
            http_threads: 2,
            ..test_config()
        },
    )
    .await;
    let body = body();
    let requests = (0..16).map(|_| {
        let body = body.clone();
        let addr = server.http;
        tokio::spawn(
            async move { read_response(start_slow_post(addr, &body, body.len()).await).await },
        )
    });
    for response in futures::future::join_all(requests).await {
        let response = response.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.json()["results"][1]["values"], json!([2.0]));
    }
    server.stop().await.expect("a clean shutdown");
}

/// Every HTTP thread reads the store: with 300 of them, more than LMDB's
/// default reader table of 126 slots, none may answer 500 for want of a
/// slot (`MDB_READERS_FULL`). Each connection goes to the thread with the
/// fewest open, and all stay open until every one has sent its headers, so
/// the reads are spread over the threads, many at the same moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_http_threads_never_run_out_of_store_reader_slots() {
    const THREADS: usize = 300;
    let (_repo, definitions) = computed_repo().await;
    let server = start(
        &definitions,
        ServeConfig {
            http_threads: THREADS,
            max_concurrent_requests: 2 * THREADS,
            // Opening 300 connections on a loaded machine can take a while.
            header_timeout: Duration::from_secs(300),
            body_timeout: Duration::from_secs(300),
            ..test_config()
        },
    )
    .await;
    let body = body();
    let mut stalled = Vec::with_capacity(THREADS);
    for _ in 0..THREADS {
        stalled.push(start_slow_post(server.http, &body, 10).await);
    }
    // Every connection has sent its headers and waits on its body (a
    // request is admitted once its body is in), so all stay open meanwhile.
    server.wait_for_bodies_arriving(THREADS).await;
    let answers = stalled.into_iter().map(|mut stream| {
        let rest = body[10..].to_vec();
        tokio::spawn(async move {
            stream.write_all(&rest).await.unwrap();
            read_response(stream).await
        })
    });
    for answer in futures::future::join_all(answers).await {
        let answer = answer.unwrap();
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.json()["results"][1]["values"], json!([2.0]));
    }
    server.stop().await.expect("a clean shutdown");
}

async fn shutdown_drains(config: ServeConfig) {
    let (_repo, definitions) = computed_repo().await;
    let mut server = start(&definitions, config).await;
    let body = body();
    let in_flight = start_slow_post(server.http, &body, 10).await;
    server.wait_for_bodies_arriving(1).await;
    let stopped = server.begin_stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !stopped.is_finished(),
        "the server stopped with a request in flight"
    );
    // The client finishes its request after shutdown began and still gets its answer.
    let mut in_flight = in_flight;
    in_flight.write_all(&body[10..]).await.unwrap();
    let response = read_response(in_flight).await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.json()["results"][1]["values"], json!([2.0]));
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the server stops once drained")
        .unwrap()
        .unwrap();
}

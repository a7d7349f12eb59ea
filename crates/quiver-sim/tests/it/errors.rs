//! Failures are counted by kind and stay in the percentiles.

use crate::servers::{self, Behaviour};
use crate::support::{MS, keys, run, settings};
use quiver_sim::{LoadModel, SimError, StopCondition, Target, TargetSpec};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_errors_are_counted_by_status() {
    let server = servers::http(Behaviour::Status(503)).await;
    let result = run(settings(
        TargetSpec::Http { url: server.url },
        LoadModel::Closed { workers: 2 },
        StopCondition::Requests(50),
    ))
    .await;
    assert_eq!(result.totals.requests, 50);
    assert_eq!(result.totals.errors, 50);
    assert_eq!(result.totals.errors_by_kind.get("http_503"), Some(&50));
    assert_eq!(result.response_time.histogram.len(), 50);
    // The example keeps the server's explanation, not just the code.
    assert_eq!(
        result.error_examples["http_503"],
        r#"HTTP status 503: {"error":"overloaded"}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_errors_are_counted_by_code() {
    let server = servers::grpc(Behaviour::Status(503)).await;
    let result = run(settings(
        TargetSpec::Grpc {
            url: server.url,
            rpc: quiver_sim::GrpcRpc::Feast,
            connections: None,
        },
        LoadModel::Closed { workers: 2 },
        StopCondition::Requests(40),
    ))
    .await;
    assert_eq!(
        result.totals.errors_by_kind.get("grpc_unavailable"),
        Some(&40)
    );
    assert_eq!(result.response_time.histogram.len(), 40);
    assert!(result.error_examples["grpc_unavailable"].contains("overloaded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_recorded_at_the_time_waited() {
    let server = servers::http(Behaviour::Sleep(Duration::from_millis(400))).await;
    let mut s = settings(
        TargetSpec::Http { url: server.url },
        LoadModel::Closed { workers: 2 },
        StopCondition::Requests(6),
    );
    s.timeout = Duration::from_millis(50);
    let result = run(s).await;
    assert_eq!(result.totals.errors_by_kind.get("timeout"), Some(&6));
    let h = &result.response_time.histogram;
    assert_eq!(h.len(), 6);
    assert!(
        h.min() >= 50 * MS && h.max() < 300 * MS,
        "{} {}",
        h.min(),
        h.max()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_shared_connection_is_replaced_once() {
    let server = servers::grpc(Behaviour::Sleep(Duration::from_millis(20))).await;
    let proxy = servers::breaking_proxy(&server).await;
    let workers = 8;
    let s = settings(
        TargetSpec::Grpc {
            url: proxy.url.clone(),
            rpc: quiver_sim::GrpcRpc::Columnar,
            connections: Some(1),
        },
        LoadModel::Closed { workers },
        StopCondition::Requests(300),
    );
    // Break the connection mid-run, while the workers' calls are in flight.
    let requests = Arc::clone(&server.requests);
    let breaker = tokio::spawn(async move {
        while requests.load(Ordering::Relaxed) < 100 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        proxy.break_all();
    });
    let result = run(s).await;
    breaker.await.unwrap();
    assert_eq!(result.totals.requests, 300);
    // The calls in flight at the break failed, as broken calls, and no
    // worker failed again: each lost at most its one call in flight.
    let broken = result.totals.errors;
    assert!(broken >= 1, "the break was not seen: {:?}", result.totals);
    assert!(broken <= workers as u64, "{:?}", result.error_examples);
    assert_eq!(result.totals.errors_by_kind.get("transport"), Some(&broken));
    // One replacement for all eight workers, not one each, and they
    // multiplex on it as they did on the first.
    let connections = server.connections.lock().unwrap().clone();
    assert_eq!(connections.len(), 2, "{connections:?}");
    for load in connections.values() {
        assert!(load.most_in_flight >= 3, "{connections:?}");
    }
}

#[tokio::test]
async fn an_absent_server_fails_before_the_run() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    for target in [
        TargetSpec::Http { url: url.clone() },
        TargetSpec::Grpc {
            url: url.clone(),
            rpc: quiver_sim::GrpcRpc::Columnar,
            connections: None,
        },
    ] {
        let s = settings(
            target,
            LoadModel::Closed { workers: 1 },
            StopCondition::Requests(1),
        );
        let error = Target::prepare(&s, None, &keys()).await.err().unwrap();
        assert!(matches!(error, SimError::Connect { .. }), "{error}");
        // The address once, then the cause.
        let message = error.to_string();
        assert_eq!(message.matches(&port.to_string()).count(), 1, "{message}");
        assert!(message.contains("refused"), "{message}");
    }
}

#[test]
fn bad_settings_are_refused_with_the_flag_named() {
    let mut s = settings(
        TargetSpec::Noop,
        LoadModel::Open {
            rate: -5.0,
            connections: 1,
        },
        StopCondition::Requests(1),
    );
    assert!(s.validate().unwrap_err().to_string().contains("--rate"));
    s.load = LoadModel::Closed { workers: 1 };
    s.batch_size = 0;
    assert!(
        s.validate()
            .unwrap_err()
            .to_string()
            .contains("--batch-size")
    );
}

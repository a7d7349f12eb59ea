//! Percentiles of a known latency distribution: a server where every 10th
//! request sleeps 25 ms and the rest 2 ms.

use crate::servers::{self, Behaviour};
use crate::support::{MS, run, settings};
use quiver_sim::{LoadModel, StopCondition, TargetSpec};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Recorded values above `ns`.
fn count_above(h: &hdrhistogram::Histogram<u64>, ns: u64) -> u64 {
    h.iter_recorded()
        .filter(|v| v.value_iterated_to() > ns)
        .map(|v| v.count_at_value())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_percentiles_match_a_known_distribution() {
    let server = servers::http(Behaviour::EveryNth {
        every: 10,
        fast: Duration::from_millis(2),
        slow: Duration::from_millis(25),
    })
    .await;
    let result = run(settings(
        TargetSpec::Http {
            url: server.url.clone(),
        },
        LoadModel::Closed { workers: 4 },
        StopCondition::Requests(1000),
    ))
    .await;
    let h = &result.response_time.histogram;
    assert_eq!(h.len(), 1000);
    assert_eq!(server.requests.load(Ordering::Relaxed), 1000);
    assert_eq!(result.totals.errors, 0, "{:?}", result.error_examples);
    // Exactly the slow tenth slept 25 ms, so at least 100 answers took that
    // long. Sleeps are lower bounds; a loaded machine adds to them, so the
    // checks below bound from one side only, or with the 25 ms gap between
    // the two kinds of request as the margin.
    assert_eq!(server.slow_requests.load(Ordering::Relaxed), 100);
    assert!(count_above(h, 25 * MS - 1) >= 100);
    assert!(h.min() >= 2 * MS, "min {}", h.min());
    // The median is a fast request, the 99th percentile a slow one.
    let p50 = h.value_at_quantile(0.5);
    assert!((2 * MS..25 * MS).contains(&p50), "p50 {p50}");
    let p99 = h.value_at_quantile(0.99);
    assert!(p99 >= 25 * MS, "p99 {p99}");
    assert!(h.max() >= 25 * MS);
    // The summary in the result file says the same in microseconds.
    assert_eq!(result.response_time.summary.p99_us, p99 as f64 / 1000.0);
    // A closed loop: response time is service time.
    assert_eq!(
        result.response_time.histogram,
        result.service_time.histogram
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_latency_includes_the_servers_sleep() {
    let server = servers::grpc(Behaviour::Sleep(Duration::from_millis(3))).await;
    let result = run(settings(
        TargetSpec::Grpc {
            url: server.url.clone(),
            rpc: quiver_sim::GrpcRpc::Columnar,
            connections: None,
        },
        LoadModel::Closed { workers: 3 },
        StopCondition::Requests(300),
    ))
    .await;
    let h = &result.response_time.histogram;
    assert_eq!(h.len(), 300);
    assert_eq!(server.requests.load(Ordering::Relaxed), 300);
    assert_eq!(result.totals.errors, 0, "{:?}", result.error_examples);
    assert!(h.min() >= 3 * MS, "min {}", h.min());
    // An upper bound with a wide margin: the median is the sleep plus a
    // request's own cost, not some other wait (a reconnect, a timeout).
    assert!(h.value_at_quantile(0.5) < 30 * MS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_workers_share_the_connections_asked_for() {
    let server = servers::grpc(Behaviour::Sleep(Duration::from_millis(20))).await;
    let result = run(settings(
        TargetSpec::Grpc {
            url: server.url.clone(),
            rpc: quiver_sim::GrpcRpc::Columnar,
            connections: Some(2),
        },
        LoadModel::Closed { workers: 8 },
        StopCondition::Requests(160),
    ))
    .await;
    assert_eq!(result.totals.errors, 0, "{:?}", result.error_examples);
    let connections = server.connections.lock().unwrap().clone();
    // Every call came over one of two connections, and each connection
    // carried the calls of its four workers at once, not one by one.
    assert_eq!(connections.len(), 2, "{connections:?}");
    assert_eq!(
        connections.values().map(|c| c.calls).sum::<u64>(),
        server.requests.load(Ordering::Relaxed)
    );
    for load in connections.values() {
        assert!(load.most_in_flight >= 3, "{connections:?}");
    }
}

#[test]
fn shared_connections_are_checked_against_the_workers() {
    let mut s = settings(
        TargetSpec::Grpc {
            url: "http://127.0.0.1:1".to_string(),
            rpc: quiver_sim::GrpcRpc::Columnar,
            connections: Some(5),
        },
        LoadModel::Closed { workers: 4 },
        StopCondition::Requests(1),
    );
    let error = s.validate().unwrap_err().to_string();
    assert!(
        error.contains("--connections") && error.contains("between 1 and the 4 workers"),
        "{error}"
    );
    s.target = TargetSpec::Grpc {
        url: "http://127.0.0.1:1".to_string(),
        rpc: quiver_sim::GrpcRpc::Columnar,
        connections: Some(0),
    };
    assert!(s.validate().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_send_as_many_ids_as_asked() {
    let server = servers::http(Behaviour::Instant).await;
    let mut s = settings(
        TargetSpec::Http {
            url: server.url.clone(),
        },
        LoadModel::Closed { workers: 2 },
        StopCondition::Requests(200),
    );
    s.batch_size = 25;
    s.distribution = quiver_sim::KeyDistribution::Zipf { exponent: 1.0 };
    let result = run(s).await;
    // The server answers 400 unless the body holds a non-empty list of
    // distinct ids (Zipf-skewed draws repeat ids often).
    assert_eq!(result.totals.errors, 0, "{:?}", result.error_examples);
    assert_eq!(result.totals.requests, 200);
    assert!((result.totals.ids_per_second / result.totals.throughput_rps - 25.0).abs() < 1e-9);
}

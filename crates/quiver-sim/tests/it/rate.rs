//! The open loop keeps its rate: 10,000 requests/s within 2%.

use crate::servers::{self, Behaviour};
use crate::support::{run, settings};
use quiver_sim::{LoadModel, SimResult, StopCondition, TargetSpec};
use std::time::Duration;

fn assert_rate_holds(result: &SimResult, rate: f64) {
    let throughput = result.totals.throughput_rps;
    assert!(
        (throughput - rate).abs() / rate < 0.02,
        "throughput {throughput:.0}/s for a rate of {rate}/s"
    );
    // Every full second, not only the average.
    let full = &result.seconds[..result.seconds.len() - 1];
    assert!(!full.is_empty());
    for row in full {
        let off = (row.requests as f64 - rate).abs() / rate;
        assert!(
            off < 0.05,
            "second {}: {} requests",
            row.second,
            row.requests
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_holds_10k_per_second_in_process() {
    let result = run(settings(
        TargetSpec::Noop,
        LoadModel::Open {
            rate: 10_000.0,
            connections: 16,
        },
        StopCondition::Duration(Duration::from_secs(3)),
    ))
    .await;
    assert_eq!(result.totals.requests, 30_000);
    assert_rate_holds(&result, 10_000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_holds_10k_per_second_over_http() {
    let server = servers::http(Behaviour::Instant).await;
    let mut s = settings(
        TargetSpec::Http {
            url: server.url.clone(),
        },
        LoadModel::Open {
            rate: 10_000.0,
            connections: 32,
        },
        StopCondition::Duration(Duration::from_secs(3)),
    );
    s.warmup = Duration::from_millis(500);
    let result = run(s).await;
    assert_eq!(result.totals.requests, 30_000);
    assert_eq!(result.totals.errors, 0, "{:?}", result.error_examples);
    assert_rate_holds(&result, 10_000.0);
}

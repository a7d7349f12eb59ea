//! Coordinated-omission correction: one planted 200 ms server-wide stall.
//! The open loop's response time shows it in the tail; service time, like a
//! closed loop, nearly hides it.

use crate::servers::{self, Behaviour};
use crate::support::{MS, run, settings};
use quiver_sim::{LoadModel, StopCondition, TargetSpec};
use std::time::Duration;

const STALL: Behaviour = Behaviour::StallOnce {
    at: 1_000,
    stall: Duration::from_millis(200),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_the_corrected_tail() {
    let server = servers::http(STALL).await;
    let result = run(settings(
        TargetSpec::Http { url: server.url },
        LoadModel::Open {
            rate: 1_000.0,
            connections: 2,
        },
        StopCondition::Duration(Duration::from_secs(3)),
    ))
    .await;
    assert_eq!(result.totals.errors, 0, "{:?}", result.error_examples);
    let corrected = result.response_time.histogram.value_at_quantile(0.999);
    let uncorrected = result.service_time.histogram.value_at_quantile(0.999);
    // About 200 requests were due during the stall: 7% of the run waited.
    assert!(corrected > 100 * MS, "corrected p99.9 {corrected}");
    assert!(result.response_time.histogram.max() > 190 * MS);
    // Only the two requests in flight saw the stall as service time.
    assert!(uncorrected < 20 * MS, "uncorrected p99.9 {uncorrected}");
    assert!(corrected > 5 * uncorrected);
    let due_in_stall = result
        .response_time
        .histogram
        .iter_recorded()
        .filter(|v| v.value_iterated_to() > 50 * MS)
        .map(|v| v.count_at_value())
        .sum::<u64>();
    assert!(due_in_stall > 100, "{due_in_stall} requests above 50 ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_hides_the_same_stall() {
    let server = servers::http(STALL).await;
    let result = run(settings(
        TargetSpec::Http { url: server.url },
        LoadModel::Closed { workers: 2 },
        StopCondition::Duration(Duration::from_secs(2)),
    ))
    .await;
    let h = &result.response_time.histogram;
    // The stall is there (the max) but too rare to reach p99.9.
    assert!(h.max() > 150 * MS);
    assert!(
        h.value_at_quantile(0.999) < 20 * MS,
        "{}",
        h.value_at_quantile(0.999)
    );
}

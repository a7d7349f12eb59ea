//! Coordinated-omission correction: one planted 200 ms server-wide stall.
//! The open loop's response time shows it in the tail; service time, like a
//! closed loop, nearly hides it.

use crate::servers::{self, Behaviour};
use crate::support::{MS, run, settings};
use hdrhistogram::Histogram;
use quiver_sim::{LoadModel, StopCondition, TargetSpec};
use std::time::Duration;

/// Recorded values above `ns`.
fn count_above(h: &Histogram<u64>, ns: u64) -> u64 {
    h.iter_recorded()
        .filter(|v| v.value_iterated_to() > ns)
        .map(|v| v.count_at_value())
        .sum()
}

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
    let (response, service) = (
        &result.response_time.histogram,
        &result.service_time.histogram,
    );
    // About 200 requests were due during the stall and waited for its end:
    // 7% of the run, so deep in the corrected tail.
    assert!(response.max() > 190 * MS);
    let due_in_stall = count_above(response, 50 * MS);
    assert!(due_in_stall > 100, "{due_in_stall} requests above 50 ms");
    assert!(response.value_at_quantile(0.999) > 100 * MS);
    // Only the two requests in flight (one per connection) saw the stall as
    // service time: too few to reach the uncorrected p99.9 of 3,000.
    let stalled_in_service = count_above(service, 100 * MS);
    assert!(
        (1..=2).contains(&stalled_in_service),
        "{stalled_in_service} service times above 100 ms"
    );
    assert!(service.value_at_quantile(0.999) < 100 * MS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_hides_the_same_stall() {
    let server = servers::http(STALL).await;
    // A request count, not a duration: the stall at request 1,000 must be
    // reached however slow the machine is.
    let result = run(settings(
        TargetSpec::Http { url: server.url },
        LoadModel::Closed { workers: 2 },
        StopCondition::Requests(3_000),
    ))
    .await;
    let h = &result.response_time.histogram;
    // The stall is there (the max), seen by the two requests in flight, too
    // rare to reach p99.9.
    assert!(h.max() > 150 * MS);
    let stalled = count_above(h, 100 * MS);
    assert!((1..=2).contains(&stalled), "{stalled} above 100 ms");
    assert!(h.value_at_quantile(0.999) < 100 * MS);
}

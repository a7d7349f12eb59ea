//! The open loop keeps its schedule: request *i* is due at `start + i / rate`
//! whatever the target does, every due request is sent, and none is sent
//! early.
//!
//! Only what holds on any machine is asserted here. How closely a given
//! machine keeps 10,000 requests/s is a figure of that machine, measured by
//! `examples/ceiling.rs` (docs/BENCHMARKS.md): on a loaded 2-core runner the
//! generator can fall behind, and then the schedule's lag shows up as
//! response time (the point of an open loop), not as a failed test.

use crate::servers::{self, Behaviour};
use crate::support::{run, settings};
use quiver_sim::{LoadModel, SimResult, StopCondition, TargetSpec};
use std::time::Duration;

/// What an open loop of `rate`/s over `secs` guarantees, however slow the machine.
fn assert_schedule_kept(result: &SimResult, rate: f64, secs: u64) {
    let due = rate as u64 * secs;
    // Every due request was sent and recorded, no more and no fewer.
    assert_eq!(result.totals.requests, due);
    let per_second: u64 = result.seconds.iter().map(|row| row.requests).sum();
    assert_eq!(per_second, due, "per-second rows lose or invent requests");
    // None ran ahead of schedule: the last one was due (due - 1) / rate after
    // the start, so the measured span is at least that long.
    let earliest_end = (due - 1) as f64 / rate;
    assert!(
        result.totals.elapsed_secs >= earliest_end,
        "{due} requests finished after {:.3} s, before the last was due at {earliest_end:.3} s",
        result.totals.elapsed_secs
    );
    assert!(result.totals.throughput_rps <= rate * due as f64 / (due - 1) as f64);
    // Response time counts from the due time, service time from the actual
    // send, which is never earlier: every quantile of the first is at least
    // that of the second.
    let (response, service) = (
        &result.response_time.histogram,
        &result.service_time.histogram,
    );
    for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
        assert!(
            response.value_at_quantile(q) >= service.value_at_quantile(q),
            "response time below service time at quantile {q}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_every_due_request_in_process() {
    let result = run(settings(
        TargetSpec::Noop,
        LoadModel::Open {
            rate: 10_000.0,
            connections: 16,
        },
        StopCondition::Duration(Duration::from_secs(3)),
    ))
    .await;
    assert_schedule_kept(&result, 10_000.0, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_every_due_request_over_http() {
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
    assert_eq!(result.totals.errors, 0, "{:?}", result.error_examples);
    assert_schedule_kept(&result, 10_000.0, 3);
    // Warm-up requests reached the server but not the measurement.
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::Relaxed),
        35_000
    );
}

//! The load generator's own ceiling: requests/s it issues against a target
//! that costs nothing (in process) and against a trivial HTTP server. Build it
//! without the offline feature so a release build skips DataFusion:
//!
//! ```sh
//! cargo run --release -p quiver-sim --no-default-features --example trivial_http_server -- 127.0.0.1:6599 &
//! cargo run --release -p quiver-sim --no-default-features --example ceiling -- http://127.0.0.1:6599
//! ```

use quiver_sim::{
    FeatureSelection, KeyDistribution, KeySpace, LoadModel, SimPlan, SimResult, SimSettings,
    StopCondition, Target, TargetSpec,
};
use std::time::Duration;

fn settings(target: TargetSpec, load: LoadModel) -> SimSettings {
    SimSettings {
        target,
        features: FeatureSelection::Features(vec!["v:f".to_string()]),
        entity_key: "id".to_string(),
        batch_size: 1,
        distribution: KeyDistribution::Uniform,
        load,
        warmup: Duration::from_secs(1),
        stop: StopCondition::Duration(Duration::from_secs(5)),
        timeout: Duration::from_secs(1),
        seed: 1,
    }
}

async fn measure(name: &str, settings: SimSettings) -> SimResult {
    let keys = KeySpace::new((0..5560).map(|i| format!("MAC{i:06}")).collect(), false)
        .expect("ids are given");
    let target = Target::prepare(&settings, None, &keys)
        .await
        .expect("the target is there");
    let result = quiver_sim::run(SimPlan {
        settings,
        target,
        keys,
        live_line: false,
    })
    .await
    .expect("the run completes");
    let r = &result.response_time.summary;
    let s = &result.service_time.summary;
    println!(
        "{name:<44} {:>9.0} req/s  errors {}  response p50 {:>8.1} µs p99 {:>8.1} µs p99.9 {:>8.1} µs  service p50 {:>6.1} µs p99 {:>8.1} µs",
        result.totals.throughput_rps,
        result.totals.errors,
        r.p50_us,
        r.p99_us,
        r.p999_us,
        s.p50_us,
        s.p99_us
    );
    result
}

fn main() {
    let url = std::env::args().nth(1);
    let threads = std::env::var("GENERATOR_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("a Tokio runtime starts");
    runtime.block_on(async {
        for workers in [1, 16, 64] {
            measure(
                &format!("noop, closed loop, {workers} workers"),
                settings(TargetSpec::Noop, LoadModel::Closed { workers }),
            )
            .await;
        }
        for rate in [20_000.0, 50_000.0, 100_000.0] {
            measure(
                &format!("noop, open loop, {rate:.0}/s, 64 connections"),
                settings(
                    TargetSpec::Noop,
                    LoadModel::Open {
                        rate,
                        connections: 64,
                    },
                ),
            )
            .await;
        }
        if let Some(url) = url {
            for workers in [16, 64] {
                measure(
                    &format!("http, closed loop, {workers} workers"),
                    settings(
                        TargetSpec::Http { url: url.clone() },
                        LoadModel::Closed { workers },
                    ),
                )
                .await;
            }
            for rate in [10_000.0, 20_000.0] {
                measure(
                    &format!("http, open loop, {rate:.0}/s, 64 connections"),
                    settings(
                        TargetSpec::Http { url: url.clone() },
                        LoadModel::Open {
                            rate,
                            connections: 64,
                        },
                    ),
                )
                .await;
            }
        }
    });
}

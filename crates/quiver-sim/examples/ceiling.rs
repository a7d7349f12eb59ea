//! The load generator's own ceiling: requests/s it issues against a target
//! that costs nothing (in process) and against a trivial HTTP server. Build it
//! without the offline feature so a release build skips DataFusion:
//!
//! ```sh
//! cargo run --release -p quiver-sim --no-default-features --example trivial_http_server -- 127.0.0.1:6599 &
//! cargo run --release -p quiver-sim --no-default-features --example ceiling -- http://127.0.0.1:6599
//! ```
//!
//! With `STORE_REPO=DIR STORE_IDS=FILE` it also measures the embedded online
//! store of an applied and materialised repository (`quiver demo`), reading
//! every feature of the repository per request, as `--target store` does.

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
        access: Default::default(),
    }
}

async fn measure(name: &str, settings: SimSettings) -> SimResult {
    let keys = KeySpace::new((0..5560).map(|i| format!("MAC{i:06}")).collect(), false)
        .expect("ids are given");
    measure_with(name, settings, None, keys).await
}

async fn measure_with(
    name: &str,
    settings: SimSettings,
    repo: Option<&quiver_core::FeatureRepo>,
    keys: KeySpace,
) -> SimResult {
    let target = Target::prepare(&settings, repo, &keys)
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
        if let (Ok(dir), Ok(ids)) = (std::env::var("STORE_REPO"), std::env::var("STORE_IDS")) {
            let repo = quiver_core::Registry::load(std::path::Path::new(&dir))
                .expect("an applied repository")
                .repo;
            let keys = KeySpace::from_file(std::path::Path::new(&ids), false).expect("an id file");
            let features = repo.all_features();
            for (workers, batch) in [(2, 1), (16, 1), (16, 100)] {
                let mut s = settings(
                    TargetSpec::Store { repo: dir.clone() },
                    LoadModel::Closed { workers },
                );
                s.features = FeatureSelection::Features(features.clone());
                s.batch_size = batch;
                let result = measure_with(
                    &format!("store, closed loop, {workers} workers, batch {batch}"),
                    s,
                    Some(&repo),
                    keys.clone(),
                )
                .await;
                println!("{:>44} {:>9.0} ids/s", "", result.totals.ids_per_second);
            }
            let mut s = settings(
                TargetSpec::Store { repo: dir.clone() },
                LoadModel::Open {
                    rate: 20_000.0,
                    connections: 64,
                },
            );
            s.features = FeatureSelection::Features(features.clone());
            measure_with("store, open loop, 20000/s", s, Some(&repo), keys.clone()).await;
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

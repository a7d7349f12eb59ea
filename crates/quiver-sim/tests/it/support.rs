//! Settings and runs shared by the tests.

use quiver_sim::{
    FeatureSelection, KeyDistribution, KeySpace, LoadModel, SimPlan, SimResult, SimSettings,
    StopCondition, Target, TargetSpec,
};
use std::time::Duration;

/// Settings for a short run against `target`: no warm-up, 1 s timeout.
pub fn settings(target: TargetSpec, load: LoadModel, stop: StopCondition) -> SimSettings {
    SimSettings {
        target,
        features: FeatureSelection::Features(vec![
            "energy_features:energy_sum_3months".to_string(),
        ]),
        entity_key: "id".to_string(),
        batch_size: 1,
        distribution: KeyDistribution::Uniform,
        load,
        warmup: Duration::ZERO,
        stop,
        timeout: Duration::from_secs(1),
        seed: 7,
        access: Default::default(),
    }
}

/// 100 ids.
pub fn keys() -> KeySpace {
    KeySpace::new((0..100).map(|i| format!("MAC{i:06}")).collect(), false).unwrap()
}

/// Prepares the target and runs.
pub async fn run(settings: SimSettings) -> SimResult {
    let keys = keys();
    let target = Target::prepare(&settings, None, &keys).await.unwrap();
    quiver_sim::run(SimPlan {
        settings,
        target,
        keys,
        live_line: false,
    })
    .await
    .unwrap()
}

pub const MS: u64 = 1_000_000;

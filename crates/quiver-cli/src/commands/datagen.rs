//! `quiver datagen energy`: the synthetic smart-meter dataset.

use crate::args::EnergyArgs;
use crate::output::bar;
use crate::output::thousands;
use quiver_datagen::energy::{self, EnergyConfig};

pub fn run(args: &EnergyArgs) -> anyhow::Result<()> {
    let config = EnergyConfig {
        households: args.households,
        seed: args.seed,
        ..EnergyConfig::default()
    };
    let started = std::time::Instant::now();
    let progress = bar(args.households as u64, "Generating households");
    let stats = energy::write_csv_file(&config, &args.out, |_| progress.inc(1))?;
    progress.finish_and_clear();
    println!(
        "Wrote {} rows for {} households to {} in {:.1} s (seed {}).",
        thousands(stats.rows),
        thousands(stats.households),
        args.out.display(),
        started.elapsed().as_secs_f64(),
        args.seed
    );
    Ok(())
}

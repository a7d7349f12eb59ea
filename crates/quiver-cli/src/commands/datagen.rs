//! `quiver datagen energy`: the synthetic smart-meter dataset.

use crate::args::EnergyArgs;
use crate::output::bar;
use crate::output::thousands;
use anyhow::Context;
use quiver_datagen::energy::{self, EnergyConfig};

pub fn run(args: &EnergyArgs) -> anyhow::Result<()> {
    let config = EnergyConfig {
        households: args.households,
        seed: args.seed,
        ..EnergyConfig::default()
    };
    let started = std::time::Instant::now();
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // Write beside the target, then rename: a reader never sees half a file.
    let tmp = args.out.with_extension("csv.partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let progress = bar(args.households as u64, "Generating households");
    let stats = energy::write_csv(&config, file, |_| progress.inc(1))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    progress.finish_and_clear();
    std::fs::rename(&tmp, &args.out)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), args.out.display()))?;
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

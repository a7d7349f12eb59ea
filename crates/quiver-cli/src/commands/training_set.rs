//! `quiver training-set`: Feast's `get_historical_features`, from the CLI.

use crate::args::{FileFormat, TrainingSetArgs};
use crate::output::{load_registry, thousands};
use quiver_offline::{TableFormat, TrainingSet, ViewFeatures};
use std::path::Path;
use std::time::Instant;

fn format_of(path: &Path, given: Option<FileFormat>, what: &str) -> anyhow::Result<TableFormat> {
    match given {
        Some(FileFormat::Csv) => Ok(TableFormat::Csv),
        Some(FileFormat::Parquet) => Ok(TableFormat::Parquet),
        None => TableFormat::of_path(path).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: cannot tell the {what} format from the extension; name the file .csv or .parquet, or pass the format",
                path.display()
            )
        }),
    }
}

pub async fn run(args: &TrainingSetArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let repo = load_registry(&args.repo.repo)?;
    let selection = match &args.feature_service {
        Some(service) => quiver_core::FeatureSelection::Service(service.clone()),
        None => quiver_core::FeatureSelection::Features(args.features.clone()),
    };
    let selected = repo.select_features(&selection)?;
    let views = selected
        .into_iter()
        .map(|(view, features)| ViewFeatures {
            entity: repo.entity_of(view).clone(),
            view: view.clone(),
            features,
        })
        .collect();
    let request = TrainingSet {
        entities: args.entities.clone(),
        entities_format: format_of(&args.entities, args.entities_format, "entity file")?,
        timestamp_column: args.timestamp_column.clone(),
        views,
        at: args.as_of.selection(),
        full_feature_names: args.full_feature_names,
        memory_limit: args.memory_limit_mib.max(16) * 1024 * 1024,
        spill_dir: args.spill_dir.clone(),
    };
    let out_format = format_of(&args.out, args.format, "output")?;
    let offline = quiver_offline::OfflineStore::for_repo(&repo)?;
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = crate::output::bar(0, "Joining features");
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    };
    let progress = |rows: u64, total: u64| {
        if bar.length() != Some(total) {
            bar.set_length(total);
            bar.set_message("Writing training set");
        }
        bar.set_position(rows);
    };
    let summary = request
        .write(&offline, &args.out, out_format, &progress)
        .await;
    bar.finish_and_clear();
    let summary = summary?;
    println!(
        "Training set: {} rows, {} columns, written to {}.",
        thousands(summary.rows as usize),
        summary.columns.len(),
        args.out.display()
    );
    for view in &summary.views {
        println!(
            "  {:<24} offline version {}: {} rows with features, {} without (none at or before their timestamp within the TTL)",
            view.view,
            view.version,
            thousands(view.rows_matched as usize),
            thousands((summary.rows - view.rows_matched) as usize)
        );
    }
    println!("  took {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

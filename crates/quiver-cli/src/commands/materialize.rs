//! `quiver materialize VIEW…` and `quiver materialize-incremental VIEW…`:
//! the online store loaded from the offline tables (Feast's verbs).

use crate::args::{MaterializeArgs, MaterializeIncrementalArgs};
use crate::output::{load_registry, thousands};
use quiver_job::{MaterializeOptions, MaterializeSummary, Progress};
use quiver_offline::AsOf;
use std::path::Path;

pub async fn run(args: &MaterializeArgs) -> anyhow::Result<()> {
    let window = args.start.clone().zip(args.end.clone());
    for view in &args.views {
        let options = MaterializeOptions {
            at: args.as_of.selection(),
            event_times: window.clone(),
            incremental: false,
            progress: progress(args.quiet),
        };
        print_summary(&materialize(&args.repo.repo, view, options).await?);
    }
    Ok(())
}

pub async fn run_incremental(args: &MaterializeIncrementalArgs) -> anyhow::Result<()> {
    for view in &args.views {
        let options = MaterializeOptions {
            at: AsOf::Latest,
            event_times: None,
            incremental: true,
            progress: progress(args.quiet),
        };
        print_summary(&materialize(&args.repo.repo, view, options).await?);
    }
    Ok(())
}

fn progress(quiet: bool) -> Progress {
    if quiet {
        Progress::hidden()
    } else {
        Progress::stderr()
    }
}

pub async fn materialize(
    repo_dir: &Path,
    view: &str,
    options: MaterializeOptions,
) -> anyhow::Result<MaterializeSummary> {
    let repo = load_registry(repo_dir)?;
    let online = quiver_backends::open_online_store(&repo).await?;
    let offline = quiver_offline::OfflineStore::for_repo(&repo)?;
    Ok(quiver_job::materialize(&repo, view, online.as_ref(), &offline, options).await?)
}

fn print_summary(s: &MaterializeSummary) {
    let read = match (s.from_version, s.files_read) {
        (Some(from), Some(files)) if from == s.offline_version => format!(
            "already at offline version {} ({files} new files)",
            s.offline_version
        ),
        (Some(from), Some(files)) => format!(
            "versions {}..={} of the offline table: {files} added files",
            from + 1,
            s.offline_version
        ),
        _ => format!("offline version {}", s.offline_version),
    };
    println!("Feature view {}: materialized {read}.", s.view);
    println!(
        "  online   {} entities read, {} updated{}",
        thousands(s.rows_read),
        thousands(s.rows_written),
        if s.rows_skipped_older > 0 {
            format!(
                ", {} kept (the store already had later rows)",
                thousands(s.rows_skipped_older)
            )
        } else {
            String::new()
        }
    );
    if s.retries > 0 {
        println!(
            "  online   {} writes retried, all succeeded",
            thousands(s.retries)
        );
    }
    if !s.recorded {
        println!("  online   a window only: the store's recorded offline version is unchanged");
    }
    let rate = s.rows_read as f64 / s.elapsed.as_secs_f64().max(1e-9);
    println!(
        "  took {:.1} s ({} entities/s)",
        s.elapsed.as_secs_f64(),
        thousands(rate as usize)
    );
}

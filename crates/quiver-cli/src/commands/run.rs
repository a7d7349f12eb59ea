//! `quiver run VIEW`: the feature job.

use crate::args::RunArgs;
use crate::output::thousands;
use quiver_job::{Progress, RunOptions, RunSummary};
use std::path::Path;

pub async fn run(args: &RunArgs) -> anyhow::Result<()> {
    let progress = if args.quiet {
        Progress::hidden()
    } else {
        Progress::stderr()
    };
    let range = args.start.clone().zip(args.end.clone());
    let memory_limit = args.memory_limit_mib.max(64) * 1024 * 1024;
    let summary = run_job(&args.repo.repo, &args.view, range, progress, memory_limit).await?;
    print_summary(&summary);
    Ok(())
}

pub async fn run_job(
    repo_dir: &Path,
    view: &str,
    replace_range: Option<(String, String)>,
    progress: Progress,
    memory_limit: usize,
) -> anyhow::Result<RunSummary> {
    let repo = crate::output::load_registry(repo_dir)?;
    let online = quiver_backends::open_online_store(&repo).await?;
    let offline = quiver_offline::OfflineStore::for_repo(&repo)?;
    let options = RunOptions {
        replace_range,
        progress,
        memory_limit,
    };
    let summary = quiver_job::run_view(&repo, view, online.as_ref(), &offline, options).await;
    Ok(summary?)
}

pub fn print_summary(s: &RunSummary) {
    println!(
        "Feature view {}: read {} source rows, computed {} feature rows.",
        s.view,
        thousands(s.rows_read),
        thousands(s.rows_computed)
    );
    if let Some(repaired) = s.online_rows_repaired {
        println!(
            "  online   repaired first: {} entities rewritten from offline version {}",
            thousands(repaired),
            s.offline_version_before.unwrap_or_default()
        );
    }
    if Some(s.offline_version) == s.offline_version_before {
        println!(
            "  offline  no new rows; table unchanged at version {} ({})",
            s.offline_version, s.offline_table
        );
    } else {
        println!(
            "  offline  {} rows committed as Delta version {} ({})",
            thousands(s.offline_rows_written),
            s.offline_version,
            s.offline_table
        );
        println!(
            "  online   {} entities updated{}",
            thousands(s.online_rows_written),
            if s.online_rows_skipped_older > 0 {
                format!(
                    ", {} kept (the store already had later rows)",
                    thousands(s.online_rows_skipped_older)
                )
            } else {
                String::new()
            }
        );
        if s.online_write_retries > 0 {
            println!(
                "  online   {} writes retried after a timeout or throttling, all succeeded",
                thousands(s.online_write_retries)
            );
        }
    }
    if s.spilled_bytes > 0 {
        println!(
            "  memory   spilled {:.1} MiB to disk to stay within the memory limit",
            s.spilled_bytes as f64 / (1024.0 * 1024.0)
        );
    }
    println!("  took {:.1} s", s.elapsed.as_secs_f64());
}

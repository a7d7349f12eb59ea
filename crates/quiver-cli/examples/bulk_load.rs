//! Loads a view's whole offline history, every row and not only the latest
//! of each entity, into the repository's online store, and prints rows/s:
//! the bulk load a Spark job writing every row to Keyspaces does, measured
//! on Quiver's stores (`benches/online-stores/run.sh` runs it on each).
//!
//! ```sh
//! cargo run --release -p quiver-cli --example bulk_load -- REPO VIEW [CHUNK_ROWS]
//! ```
//!
//! Rows go to `OnlineStore::write` in chunks of `CHUNK_ROWS` (default
//! 50,000, as `quiver materialize` does) in the table's file order; each
//! store keeps the latest event per entity, so the rows a chunk holds for an
//! entity older than its stored row are counted as skipped, not written.

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use quiver_core::FeatureRepo;
use quiver_offline::datafusion::prelude::SessionContext;
use quiver_offline::{AsOf, OfflineStore};
use quiver_online::{EntityRow, ViewLayout, WriteOutcome};
use std::path::PathBuf;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (repo_dir, view_name, chunk) = match args.as_slice() {
        [repo, view] => (repo, view, 50_000),
        [repo, view, chunk] => (repo, view, chunk.parse().context("CHUNK_ROWS")?),
        _ => bail!("usage: bulk_load REPO VIEW [CHUNK_ROWS]"),
    };
    let repo = FeatureRepo::load(&PathBuf::from(repo_dir))?;
    let view = repo.feature_view(view_name)?;
    let entity = repo.entity_of(view);
    let layout = ViewLayout::of(view, entity);
    let online = quiver_backends::open_online_store(&repo).await?;
    let offline = OfflineStore::for_repo(&repo)?;

    let ctx = SessionContext::new();
    if offline
        .register(&ctx, &view.name, "history", AsOf::Latest)
        .await?
        .is_none()
    {
        bail!(
            "view `{}` has no offline table yet: run the job first",
            view.name
        );
    }
    let columns: Vec<String> = [&entity.join_key, &view.event_time]
        .into_iter()
        .chain(view.features.iter().map(|f| &f.name))
        .map(|c| format!("\"{c}\""))
        .collect();
    let total: i64 = {
        let batches = ctx
            .sql("SELECT count(*) FROM history")
            .await?
            .collect()
            .await?;
        quiver_offline::arrow::array::AsArray::as_primitive::<
            quiver_offline::arrow::datatypes::Int64Type,
        >(batches[0].column(0))
        .value(0)
    };
    let progress = ProgressBar::new(total as u64).with_style(ProgressStyle::with_template(
        "{bar:40} {human_pos}/{human_len} rows  {per_sec}  eta {eta}",
    )?);

    let started = Instant::now();
    let mut stream = ctx
        .sql(&format!("SELECT {} FROM history", columns.join(", ")))
        .await?
        .execute_stream()
        .await?;
    let mut pending: Vec<EntityRow> = Vec::with_capacity(chunk);
    let mut outcome = WriteOutcome::default();
    let mut offered = 0usize;
    let mut write = async |rows: &mut Vec<EntityRow>| -> anyhow::Result<()> {
        let done = online.write(&layout, rows, None).await?;
        outcome.written += done.written;
        outcome.skipped_older += done.skipped_older;
        outcome.retries += done.retries;
        offered += rows.len();
        progress.set_position(offered as u64);
        rows.clear();
        Ok(())
    };
    while let Some(batch) = stream.next().await {
        let rows = quiver_job::entity_rows(&batch?).map_err(anyhow::Error::msg)?;
        for row in rows {
            pending.push(row);
            if pending.len() == chunk {
                write(&mut pending).await?;
            }
        }
    }
    if !pending.is_empty() {
        write(&mut pending).await?;
    }
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} rows of {} in {seconds:.1} s: {:.0} rows/s; {} written, {} older than the stored row skipped, {} retries",
        offered,
        view.name,
        offered as f64 / seconds,
        outcome.written,
        outcome.skipped_older,
        outcome.retries
    );
    Ok(())
}

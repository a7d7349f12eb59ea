//! `quiver history VIEW --id ID`: an entity's rows in the offline store.

use crate::args::{Format, HistoryArgs};
use crate::output::load_registry;
use quiver_offline::arrow;

pub async fn run(args: &HistoryArgs) -> anyhow::Result<()> {
    let repo = load_registry(&args.repo.repo)?;
    let view = repo.feature_view(&args.view)?;
    let entity = repo.entity_of(view);
    let offline = quiver_offline::OfflineStore::for_repo(&repo)?;
    let batches = offline
        .history(view, entity, &args.id, args.as_of.selection())
        .await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    match args.format {
        Format::Table => {
            println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
            eprintln!("{rows} rows for {} = {}", entity.join_key, args.id);
        }
        Format::Json => {
            // Explicit nulls: a missing value is `null`, not an absent key.
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(std::io::stdout().lock());
            let refs: Vec<&arrow::record_batch::RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs)?;
            writer.finish()?;
            println!();
        }
    }
    Ok(())
}

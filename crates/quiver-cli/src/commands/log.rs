//! `quiver log VIEW`: the versions of a view's offline table.

use crate::args::{Format, LogArgs};
use crate::output::load_registry;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

pub async fn run(args: &LogArgs) -> anyhow::Result<()> {
    let repo = load_registry(&args.repo.repo)?;
    let view = repo.feature_view(&args.view)?;
    let offline = quiver_offline::OfflineStore::for_repo(&repo)?;
    let commits = offline.log(&view.name).await?;
    let count = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
    match args.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = commits
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "version": c.version,
                        "timestamp": c.timestamp.map(|t| t.to_rfc3339()),
                        "operation": c.operation,
                        "parameters": c.parameters,
                        "rows_added": c.rows_added,
                        "rows_removed": c.rows_removed,
                        "files_added": c.files_added,
                        "files_removed": c.files_removed,
                        "writer": c.writer,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        Format::Table => {
            let mut table = Table::new();
            table.load_style(UTF8_FULL_CONDENSED);
            table.set_header([
                "version",
                "committed (UTC)",
                "operation",
                "rows added",
                "rows removed",
                "files +/-",
                "written by",
                "parameters",
            ]);
            for c in &commits {
                table.add_row([
                    c.version.to_string(),
                    c.timestamp
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default(),
                    c.operation.clone(),
                    count(c.rows_added),
                    count(c.rows_removed),
                    format!("+{} -{}", c.files_added, c.files_removed),
                    c.writer.clone(),
                    c.parameters.clone(),
                ]);
            }
            println!("{table}");
            eprintln!(
                "{} versions of {}",
                commits.len(),
                offline.table_url(&view.name)
            );
        }
    }
    Ok(())
}

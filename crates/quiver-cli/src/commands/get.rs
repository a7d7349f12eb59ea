//! `quiver get VIEW --id ID…`: latest features from the online store.

use crate::args::{Format, GetArgs};
use crate::output::{load_registry, time_text, value_json, value_text};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use quiver_core::Ttl;
use quiver_online::{FeatureRow, OnlineStore, ViewLayout};

/// The answer for one id.
pub struct Lookup {
    pub id: String,
    pub status: &'static str,
    pub row: Option<FeatureRow>,
}

pub async fn run(args: &GetArgs) -> anyhow::Result<()> {
    let repo = load_registry(&args.repo.repo)?;
    let view = repo.feature_view(&args.view)?;
    let entity = repo.entity_of(view);
    let store = quiver_backends::open_online_store(&repo).await?;
    let (layout, lookups) = lookup(store.as_ref(), &view.name, view.ttl(), &args.ids).await?;
    warn_if_behind(&repo, store.as_ref(), &view.name).await;
    match args.format {
        Format::Json => print_json(&entity.join_key, &layout, &lookups),
        Format::Table => print_table(&entity.join_key, &layout, &lookups),
    }
    Ok(())
}

/// Reads `ids` of `view` and classifies each: found, not_found or
/// outside_max_age (older than the view's ttl: Feast's `OUTSIDE_MAX_AGE`, as
/// `quiver serve` says).
pub async fn lookup(
    store: &dyn OnlineStore,
    view: &str,
    ttl: Ttl,
    ids: &[String],
) -> anyhow::Result<(std::sync::Arc<ViewLayout>, Vec<Lookup>)> {
    // Rows and layout from one snapshot: a job redefining the view between
    // two separate reads would otherwise have its values named wrongly.
    let keys: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (layout, rows) = store.read_with_layout(view, &keys).await?;
    let now = chrono::Utc::now().timestamp_micros();
    let lookups = ids
        .iter()
        .zip(rows)
        .map(|(id, row)| {
            let status = match &row {
                None => "not_found",
                Some(r) if ttl.is_outside_max_age(r.event_time_micros, now) => "outside_max_age",
                Some(_) => "found",
            };
            Lookup {
                id: id.clone(),
                status,
                row,
            }
        })
        .collect();
    Ok((layout, lookups))
}

async fn warn_if_behind(repo: &quiver_core::FeatureRepo, store: &dyn OnlineStore, view: &str) {
    let Ok(offline) = quiver_offline::OfflineStore::for_repo(repo) else {
        return;
    };
    if let (Ok(Some(table)), Ok(online)) = (
        offline.version(view).await,
        store.offline_version(view).await,
    ) && online != Some(table)
    {
        eprintln!(
            "warning: the online store reflects offline version {} but the table is at version {table}; `quiver run {view}` repairs it",
            online.map_or("none".to_string(), |v| v.to_string())
        );
    }
}

fn print_json(key: &str, layout: &ViewLayout, lookups: &[Lookup]) {
    let objects: Vec<serde_json::Value> = lookups
        .iter()
        .map(|l| {
            let mut object = serde_json::Map::new();
            object.insert(key.to_string(), l.id.clone().into());
            object.insert("status".to_string(), l.status.into());
            if let Some(row) = &l.row {
                object.insert(
                    layout.event_time.clone(),
                    time_text(row.event_time_micros).into(),
                );
                let features: serde_json::Map<_, _> = layout
                    .features
                    .iter()
                    .zip(&row.values)
                    .map(|((name, _), v)| (name.clone(), value_json(v)))
                    .collect();
                object.insert("features".to_string(), features.into());
            }
            serde_json::Value::Object(object)
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&objects).expect("JSON values serialise")
    );
}

/// One column per id, one row per feature: ids are few, features many.
fn print_table(key: &str, layout: &ViewLayout, lookups: &[Lookup]) {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    let mut header = vec![key.to_string()];
    header.extend(lookups.iter().map(|l| l.id.clone()));
    table.set_header(header);
    let mut status = vec!["status".to_string()];
    status.extend(lookups.iter().map(|l| l.status.to_string()));
    table.add_row(status);
    let mut time = vec![layout.event_time.clone()];
    time.extend(lookups.iter().map(|l| {
        l.row
            .as_ref()
            .map_or(String::new(), |r| time_text(r.event_time_micros))
    }));
    table.add_row(time);
    for (i, (name, _)) in layout.features.iter().enumerate() {
        let mut line = vec![name.clone()];
        line.extend(lookups.iter().map(|l| {
            l.row
                .as_ref()
                .and_then(|r| r.values.get(i))
                .map_or(String::new(), value_text)
        }));
        table.add_row(line);
    }
    println!("{table}");
}

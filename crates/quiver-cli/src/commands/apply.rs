//! `quiver apply`: validate definitions (SQL included), prepare the online
//! store for them (tables of a Cassandra store), and record them.

use quiver_core::{FeatureRepo, Registry};
use std::path::Path;

pub async fn run(repo_dir: &Path) -> anyhow::Result<()> {
    let repo = FeatureRepo::load(repo_dir)?;
    let views = quiver_job::validate_repo(&repo).await?;
    // Before the registry: a store that refuses the new definitions (a
    // feature whose type changed) leaves the applied ones in force.
    quiver_backends::prepare_online_store(&repo).await?;
    let online = repo.online_store.kind().to_string();
    let summary = format!(
        "{} entities, {} sources, {} feature views, {} feature services",
        repo.entities.len(),
        repo.sources.len(),
        repo.feature_views.len(),
        repo.feature_services.len()
    );
    let path = Registry::new(repo).save()?;
    println!("Applied {summary}.");
    for view in views {
        println!(
            "  feature view {}: {} features from source {} (event time: {})",
            view.view, view.features, view.source, view.event_time_type
        );
    }
    println!("Online store ({online}): ready for every view.");
    println!("Registry: {}", path.display());
    Ok(())
}

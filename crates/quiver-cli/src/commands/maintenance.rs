//! `quiver optimize VIEW` and `quiver vacuum VIEW --retain HOURS`.

use crate::args::{OptimizeArgs, VacuumArgs};
use crate::output::load_registry;
use std::num::NonZeroU64;

pub async fn optimize(args: &OptimizeArgs) -> anyhow::Result<()> {
    let repo = load_registry(&args.repo.repo)?;
    let view = repo.feature_view(&args.view)?;
    let entity = repo.entity_of(view);
    let offline = quiver_offline::OfflineStore::for_repo(&repo)?;
    // The argument's range (1 MiB to 1 TiB) keeps this from overflowing.
    let target = NonZeroU64::new(args.target_size_mib * 1024 * 1024).expect("at least 1 MiB");
    let z_order = args.z_order.then_some(entity.join_key.as_str());
    let done = offline.optimize(&view.name, z_order, target).await?;
    if done.files_added == 0 && done.files_removed == 0 {
        println!(
            "Feature view {}: nothing to compact; table unchanged at version {}.",
            view.name, done.version
        );
    } else {
        println!(
            "Feature view {}: {} files rewritten as {} in {} partitions{}; table version {}.",
            view.name,
            done.files_removed,
            done.files_added,
            done.partitions_optimized,
            if args.z_order {
                format!(", Z-ordered by {}", entity.join_key)
            } else {
                String::new()
            },
            done.version
        );
    }
    Ok(())
}

pub async fn vacuum(args: &VacuumArgs) -> anyhow::Result<()> {
    let repo = load_registry(&args.repo.repo)?;
    let view = repo.feature_view(&args.view)?;
    let offline = quiver_offline::OfflineStore::for_repo(&repo)?;
    let done = offline
        .vacuum(&view.name, args.retain, args.dry_run)
        .await?;
    let verb = if done.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for file in &done.files {
        println!("{file}");
    }
    eprintln!(
        "Feature view {}: {verb} {} files not referenced by the table and older than {} hours.",
        view.name,
        done.files.len(),
        args.retain
    );
    Ok(())
}

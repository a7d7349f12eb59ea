//! `quiver demo`: datagen → init → apply → run → get, on the embedded defaults.

use crate::args::{DemoArgs, EnergyArgs, Format, GetArgs, RepoArg};
use quiver_core::scaffold::{ENERGY_SOURCE_FILE, ENERGY_VIEW};
use quiver_datagen::energy::{EnergyConfig, household_id};

pub async fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let dir = &args.dir;
    let step = |n: u32, text: &str| println!("\n== {n}/5 {text}");

    step(1, "Generate the energy dataset");
    super::datagen::run(&EnergyArgs {
        households: args.households,
        seed: EnergyConfig::default().seed,
        out: dir.join(ENERGY_SOURCE_FILE),
    })?;

    step(2, "Create the feature repository");
    if dir.join(quiver_core::CONFIG_FILE).exists() {
        println!("Using the repository already in {}.", dir.display());
    } else {
        super::init::run(dir, super::Caller::Demo)?;
    }

    step(3, "Validate and register the definitions");
    super::apply::run(dir).await?;

    step(
        4,
        "Run the feature job (offline Delta table + online store)",
    );
    let summary = super::run::run_job(
        dir,
        ENERGY_VIEW,
        None,
        quiver_job::Progress::stderr(),
        quiver_job::DEFAULT_MEMORY_LIMIT,
    )
    .await?;
    super::run::print_summary(&summary);

    step(5, "Read the latest features online");
    let ids = vec![
        household_id(0),
        household_id(args.households.saturating_sub(1)),
        "MAC999999".to_string(),
    ];
    super::get::run(&GetArgs {
        view: ENERGY_VIEW.to_string(),
        ids: ids.clone(),
        repo: RepoArg { repo: dir.clone() },
        format: Format::Table,
    })
    .await?;

    let d = dir.display();
    println!(
        "\nDone. Try next:
  quiver get energy_features --repo {d} --id {first} --format json
  quiver history energy_features --repo {d} --id {first}
  quiver run energy_features --repo {d}        # a rerun adds nothing: the job is idempotent
  quiver log energy_features --repo {d}        # the offline table's versions
  printf 'id,event_timestamp\\n{first},2013-06-01T00:00:00Z\\n' > rows.csv
  quiver training-set --repo {d} --entities rows.csv --feature-service energy_model_v1 --out train.csv
  python3 -c \"import deltalake; print(deltalake.DeltaTable('{d}/data/offline/energy_features').to_pandas().head())\"
Definitions: {d}/quiver.toml and {d}/features/energy_features.sql",
        first = ids[0]
    );
    Ok(())
}

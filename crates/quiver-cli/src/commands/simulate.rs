//! `quiver simulate`: load-test the online path; `merge` and `compare` results.

use crate::args::{
    SimDistribution, SimGrpcRpc, SimTarget, SimulateAction, SimulateArgs, SimulateRunArgs,
};
use quiver_sim::report::{compare_table, summary_table, totals_lines, write_report};
use quiver_sim::{
    Access, FeatureSelection, KeyDistribution, KeySource, LoadModel, SimResult, SimSettings,
    StopCondition, TargetSpec,
};
use std::path::{Path, PathBuf};

pub async fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    match &args.action {
        Some(SimulateAction::Merge { files, out }) => merge(files, out),
        Some(SimulateAction::Compare { a, b }) => compare(a, b),
        None => simulate(&args.run).await,
    }
}

async fn simulate(args: &SimulateRunArgs) -> anyhow::Result<()> {
    // The repository is needed for the store target and the default key
    // space and features; a server target can do without it.
    let repo = match crate::output::load_registry(&args.repo.repo) {
        Ok(repo) => Some(repo),
        Err(err) if args.target == SimTarget::Store => return Err(err),
        Err(_) => None,
    };
    let features = if let Some(service) = &args.feature_service {
        FeatureSelection::Service(service.clone())
    } else if !args.features.is_empty() {
        FeatureSelection::Features(args.features.clone())
    } else if let Some(repo) = &repo {
        FeatureSelection::Features(repo.all_features())
    } else if args.target == SimTarget::Noop {
        FeatureSelection::Features(vec!["noop:feature".to_string()])
    } else {
        anyhow::bail!(
            "name the features to ask for with --features or --feature-service (or point --repo at a feature repository)"
        );
    };
    let entity_key = args.entity_key.clone().unwrap_or_else(|| {
        repo.as_ref()
            .and_then(|r| r.entities.values().next())
            .map_or_else(|| "id".to_string(), |e| e.join_key.clone())
    });
    if args.connections.is_some() && args.target != SimTarget::Grpc {
        anyhow::bail!(
            "--connections applies to --target grpc only: HTTP/1.1 carries one request at a time per connection, so each worker has its own"
        );
    }
    let url = |default: &str| args.url.clone().unwrap_or_else(|| default.to_string());
    let target = match args.target {
        SimTarget::Store => TargetSpec::Store {
            repo: args.repo.repo.display().to_string(),
        },
        SimTarget::Http => TargetSpec::Http {
            url: url("http://127.0.0.1:6566"),
        },
        SimTarget::Grpc => TargetSpec::Grpc {
            url: url("http://127.0.0.1:6570"),
            rpc: match args.grpc_rpc {
                SimGrpcRpc::Columnar => quiver_sim::GrpcRpc::Columnar,
                SimGrpcRpc::Feast => quiver_sim::GrpcRpc::Feast,
            },
            connections: args.connections,
        },
        SimTarget::Noop => TargetSpec::Noop,
    };
    let load = match args.rate {
        Some(rate) => LoadModel::Open {
            rate,
            connections: args.workers.unwrap_or(64),
        },
        None => LoadModel::Closed {
            workers: args.workers.unwrap_or(16),
        },
    };
    let settings = SimSettings {
        target,
        features,
        entity_key,
        batch_size: args.batch_size,
        distribution: match args.distribution {
            SimDistribution::Uniform => KeyDistribution::Uniform,
            SimDistribution::Zipf => KeyDistribution::Zipf {
                exponent: args.zipf_exponent,
            },
        },
        load,
        warmup: args.warmup,
        stop: match args.requests {
            Some(n) => StopCondition::Requests(n),
            None => StopCondition::Duration(args.duration),
        },
        timeout: args.timeout,
        seed: args.seed,
        access: Access {
            headers: args.headers.clone(),
            ca_cert: args.ca_cert.clone(),
        },
    };
    let keys = match (&args.ids_from, args.target, &repo) {
        (Some(file), _, _) => KeySource::File(file.clone()),
        (None, SimTarget::Noop, None) => KeySource::Synthetic(1000),
        (None, _, _) => KeySource::Offline,
    };
    let result = quiver_sim::simulate(settings, repo.as_ref(), keys, !args.quiet).await?;
    print_result(&result);
    report(&result, &args.out)
}

fn print_result(result: &SimResult) {
    println!("{}", summary_table(result));
    for line in totals_lines(result) {
        println!("{line}");
    }
}

fn report(result: &SimResult, out: &Path) -> anyhow::Result<()> {
    let files = write_report(result, out)?;
    println!(
        "Report: {} (result: {}, per second: {}, {} charts)",
        files.html.display(),
        files.result.display(),
        files.seconds_csv.display(),
        files.charts.len()
    );
    Ok(())
}

fn merge(files: &[PathBuf], out: &Path) -> anyhow::Result<()> {
    let results = files
        .iter()
        .map(|f| SimResult::load(f))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = SimResult::merge(results)?;
    print_result(&merged);
    report(&merged, out)
}

fn compare(a: &Path, b: &Path) -> anyhow::Result<()> {
    let (ra, rb) = (SimResult::load(a)?, SimResult::load(b)?);
    println!("A: {}", a.display());
    println!("B: {}", b.display());
    println!(
        "{}",
        compare_table(&ra, &rb, &a.display().to_string(), &b.display().to_string())
    );
    Ok(())
}

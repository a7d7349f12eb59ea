//! Command-line arguments, as clap types.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Quiver: a feature store. One definition, one job, features online and offline.
#[derive(Parser)]
#[command(name = "quiver", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a feature repository (the energy demo's definitions) in DIR.
    Init {
        /// Folder to create the repository in.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Validate the repository's definitions and record them in its registry.
    Apply {
        #[command(flatten)]
        repo: RepoArg,
    },
    /// Run a feature view's job: compute it from its source and write the offline and online stores.
    Run(RunArgs),
    /// Load the online store from the offline table (after Spark wrote it, or to rebuild a lost store).
    Materialize(MaterializeArgs),
    /// Load into the online store only what the offline table added since the version it reflects.
    MaterializeIncremental(MaterializeIncrementalArgs),
    /// Build a point-in-time-correct training set from a file of entity rows.
    TrainingSet(Box<TrainingSetArgs>),
    /// List the versions of a view's offline table: when, what, rows added and removed, by what.
    Log(LogArgs),
    /// Compact a view's offline table's small files (optionally Z-ordered by entity key).
    Optimize(OptimizeArgs),
    /// Delete data files the offline table no longer references (old versions, failed jobs).
    Vacuum(VacuumArgs),
    /// Print the latest features of entities from the online store.
    ///
    /// Each id's status is `found`, `not_found`, or `outside_max_age`: its row
    /// is older than the view's `ttl` (what `quiver serve` reports as
    /// OUTSIDE_MAX_AGE, in Feast's words); its values are still printed.
    Get(GetArgs),
    /// Print an entity's full feature history from the offline store.
    History(HistoryArgs),
    /// Write a synthetic dataset.
    Datagen {
        #[command(subcommand)]
        dataset: DatagenDataset,
    },
    /// Run the whole main job end to end on the embedded defaults.
    Demo(DemoArgs),
    /// Load-test the online path (store, HTTP or gRPC) and report latency percentiles and charts.
    Simulate(Box<SimulateArgs>),
    /// Serve online features over HTTP/JSON and gRPC until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
}

#[derive(Args, Clone)]
pub struct RepoArg {
    /// The feature repository (the folder holding quiver.toml).
    #[arg(long, default_value = ".", env = "QUIVER_REPO")]
    pub repo: PathBuf,
}

#[derive(Args)]
pub struct RunArgs {
    /// The feature view to compute.
    pub view: String,
    #[command(flatten)]
    pub repo: RepoArg,
    /// Recompute and replace the rows with event times from START (inclusive;
    /// YYYY-MM-DD). Without --start/--end, only rows new to the offline table
    /// are added.
    #[arg(long, requires = "end")]
    pub start: Option<String>,
    /// Last event time to replace (inclusive).
    #[arg(long, requires = "start")]
    pub end: Option<String>,
    /// Memory the job's query may hold before it spills to disk, in MiB:
    /// the job's memory stays near this, whatever the size of its data.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub memory_limit_mib: usize,
    /// No progress spinner.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

#[derive(Args)]
pub struct GetArgs {
    /// The feature view.
    pub view: String,
    /// Entity ids (repeat for several).
    #[arg(long = "id", required = true)]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArg,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// The feature view.
    pub view: String,
    /// The entity id.
    #[arg(long)]
    pub id: String,
    #[command(flatten)]
    pub as_of: AsOfArgs,
    #[command(flatten)]
    pub repo: RepoArg,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Which version of an offline table to read (time travel).
#[derive(Args, Clone, Default)]
pub struct AsOfArgs {
    /// Read the table as of this Delta version (`quiver log VIEW` lists them).
    #[arg(
        long,
        visible_alias = "version",
        value_name = "N",
        conflicts_with = "as_of"
    )]
    pub as_of_version: Option<u64>,
    /// Read the newest version committed at or before this time
    /// (RFC 3339, or YYYY-MM-DD for midnight UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
}

impl AsOfArgs {
    pub fn selection(&self) -> quiver_offline::AsOf {
        match (self.as_of_version, self.as_of) {
            (Some(version), _) => quiver_offline::AsOf::Version(version),
            (None, Some(time)) => quiver_offline::AsOf::Time(time),
            (None, None) => quiver_offline::AsOf::Latest,
        }
    }
}

/// An instant on the command line: RFC 3339, or a date (midnight UTC).
pub fn parse_instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc());
    }
    Err(format!(
        "`{text}` is not a time; use RFC 3339 (2024-05-01T12:00:00Z) or a date (2024-05-01)"
    ))
}

#[derive(Args)]
pub struct MaterializeArgs {
    /// The feature views to load.
    #[arg(required = true)]
    pub views: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArg,
    /// Only rows with event times from START (inclusive; YYYY-MM-DD or RFC 3339).
    #[arg(long, requires = "end")]
    pub start: Option<String>,
    /// Last event time to load (inclusive).
    #[arg(long, requires = "start")]
    pub end: Option<String>,
    #[command(flatten)]
    pub as_of: AsOfArgs,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct MaterializeIncrementalArgs {
    /// The feature views to bring up to date.
    #[arg(required = true)]
    pub views: Vec<String>,
    #[command(flatten)]
    pub repo: RepoArg,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
}

#[derive(Args)]
pub struct TrainingSetArgs {
    /// Entity rows (CSV or Parquet): the join keys, a timestamp per row and
    /// any other columns (labels), which come back unchanged and in order.
    #[arg(long, value_name = "FILE")]
    pub entities: PathBuf,
    /// Features to join, `view:feature`, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        required_unless_present = "feature_service",
        conflicts_with = "feature_service"
    )]
    pub features: Vec<String>,
    /// A feature service naming the features instead.
    #[arg(long)]
    pub feature_service: Option<String>,
    /// The file to write (CSV or Parquet, by its extension or --format).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The output format [default: the extension of --out].
    #[arg(long, value_enum)]
    pub format: Option<FileFormat>,
    /// The entity file's format [default: its extension].
    #[arg(long, value_enum)]
    pub entities_format: Option<FileFormat>,
    /// The entity file's timestamp column.
    #[arg(long, default_value = "event_timestamp")]
    pub timestamp_column: String,
    /// Name feature columns `view__feature`, as Feast's full_feature_names.
    #[arg(long)]
    pub full_feature_names: bool,
    /// Memory the join may hold before it spills to disk, in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub memory_limit_mib: usize,
    /// Folder for spill files [default: the system's temporary folder].
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    #[command(flatten)]
    pub as_of: AsOfArgs,
    #[command(flatten)]
    pub repo: RepoArg,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct LogArgs {
    /// The feature view.
    pub view: String,
    #[command(flatten)]
    pub repo: RepoArg,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Args)]
pub struct OptimizeArgs {
    /// The feature view.
    pub view: String,
    #[command(flatten)]
    pub repo: RepoArg,
    /// Also cluster rows by entity key (Z-order), so reads of a few
    /// entities skip most files.
    #[arg(long)]
    pub z_order: bool,
    /// Target size of the compacted files, in MiB (1 to 1048576, 1 TiB).
    #[arg(long, default_value_t = 128, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub target_size_mib: u64,
}

#[derive(Args)]
pub struct VacuumArgs {
    /// The feature view.
    pub view: String,
    #[command(flatten)]
    pub repo: RepoArg,
    /// Keep files removed less than this many hours ago: time travel to
    /// versions within it keeps working (Delta's default is 168, a week).
    #[arg(long, value_name = "HOURS")]
    pub retain: u64,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Subcommand)]
pub enum DatagenDataset {
    /// Daily smart-meter statistics per household (the reference design's dataset).
    Energy(EnergyArgs),
}

#[derive(Args)]
pub struct EnergyArgs {
    /// Number of households; the real dataset has 5,560 (about 3.5 million rows).
    #[arg(long, default_value_t = 5_560)]
    pub households: usize,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// CSV file to write.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the demo repository.
    #[arg(long, default_value = "quiver-demo")]
    pub dir: PathBuf,
    /// Number of households to generate.
    #[arg(long, default_value_t = 5_560)]
    pub households: usize,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimulateArgs {
    #[command(subcommand)]
    pub action: Option<SimulateAction>,
    #[command(flatten)]
    pub run: SimulateRunArgs,
}

#[derive(Subcommand)]
pub enum SimulateAction {
    /// Combine result files of several generators into one report (histograms merge exactly).
    Merge {
        /// result.json files written by `quiver simulate`.
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Folder for the merged report.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print two results side by side with ratios (B / A).
    Compare {
        /// The baseline result.json.
        a: PathBuf,
        /// The result.json to compare with it.
        b: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SimTarget {
    /// The repository's online store, read directly (no server).
    Store,
    /// `quiver serve`'s HTTP/JSON endpoint.
    Http,
    /// `quiver serve`'s gRPC endpoint.
    Grpc,
    /// Nothing, in process: measures the load generator's own ceiling.
    Noop,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SimGrpcRpc {
    /// `GetOnlineFeaturesColumnar`: one typed array per column.
    Columnar,
    /// `GetOnlineFeatures`: Feast's shape, a `Value` message per cell.
    Feast,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SimDistribution {
    Uniform,
    Zipf,
}

#[derive(Args)]
pub struct SimulateRunArgs {
    /// What receives the requests.
    #[arg(long, value_enum, default_value_t = SimTarget::Store)]
    pub target: SimTarget,
    /// Server URL, http:// or https:// [default: http://127.0.0.1:6566 for http, http://127.0.0.1:6570 for grpc].
    #[arg(long)]
    pub url: Option<String>,
    /// With `--target grpc`: the answer shape asked for (the same request).
    #[arg(long = "grpc-rpc", value_enum, default_value_t = SimGrpcRpc::Columnar)]
    pub grpc_rpc: SimGrpcRpc,
    /// With `--target grpc`: HTTP/2 connections the workers share, their
    /// calls multiplexed as on one gRPC channel [default: one per worker].
    #[arg(long)]
    pub connections: Option<usize>,
    /// A header sent with every request (gRPC: metadata), `name: value`, as
    /// curl's -H; repeatable. E.g. `x-api-key: KEY`. Result files keep the name only.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<quiver_sim::RequestHeader>,
    /// PEM file of CA certificates to trust for an https:// URL [default: the system's].
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    #[command(flatten)]
    pub repo: RepoArg,
    /// A file of entity ids, one per line [default: every id in the offline table].
    #[arg(long, value_name = "FILE")]
    pub ids_from: Option<PathBuf>,
    /// The entity key column named in requests [default: the repository's, else `id`].
    #[arg(long)]
    pub entity_key: Option<String>,
    /// Features to ask for, `view:feature`, comma-separated [default: every feature of the repository].
    #[arg(long, value_delimiter = ',', conflicts_with = "feature_service")]
    pub features: Vec<String>,
    /// A feature service to ask for instead of a feature list.
    #[arg(long)]
    pub feature_service: Option<String>,
    /// Ids per request.
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
    /// How ids are drawn from the key space.
    #[arg(long, value_enum, default_value_t = SimDistribution::Uniform)]
    pub distribution: SimDistribution,
    /// Skew of the Zipf distribution (1.0 is the classic law).
    #[arg(long, default_value_t = 1.0)]
    pub zipf_exponent: f64,
    /// Closed loop: concurrent workers. Open loop: connections [default: 16 closed, 64 open].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Open loop at this many requests/s, with coordinated-omission correction
    /// [default: closed loop].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Unrecorded requests before the measurement.
    #[arg(long, default_value = "5s", value_parser = duration_flag)]
    pub warmup: std::time::Duration,
    /// How long to measure.
    #[arg(long, default_value = "30s", value_parser = duration_flag, conflicts_with = "requests")]
    pub duration: std::time::Duration,
    /// Measure this many requests instead of a duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// A request not answered within this time counts as a timeout.
    #[arg(long, default_value = "1s", value_parser = duration_flag)]
    pub timeout: std::time::Duration,
    /// Seed of the id draws.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Folder for result.json, seconds.csv, the charts and report.html.
    #[arg(long, default_value = "quiver-simulate")]
    pub out: PathBuf,
    /// No live line.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub repo: RepoArg,
    /// Settings file (TOML; keys as in docs/SERVING.md). `QUIVER_*`
    /// variables override it, and these flags override both.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// HTTP listen address (default 127.0.0.1:6566).
    #[arg(long)]
    pub http_addr: Option<std::net::SocketAddr>,
    /// gRPC listen address (default 127.0.0.1:6570).
    #[arg(long)]
    pub grpc_addr: Option<std::net::SocketAddr>,
    /// Log lines as text or JSON (default text).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

/// A `quiver simulate` duration flag (`30s`, `500ms`); a bare number of
/// seconds still works, with a warning that says what to write instead.
fn duration_flag(text: &str) -> Result<std::time::Duration, String> {
    let (duration, deprecated) = quiver_sim::parse_duration(text)?;
    if let Some(warning) = deprecated {
        eprintln!("warning: {warning}");
    }
    Ok(duration)
}

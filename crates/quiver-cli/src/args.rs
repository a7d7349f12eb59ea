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
    /// Run a feature view's job: compute it and write the offline and online stores.
    #[command(visible_alias = "materialize")]
    Run(RunArgs),
    /// Print the latest features of entities from the online store.
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
    /// Read the table as of this Delta version (time travel).
    #[arg(long)]
    pub version: Option<u64>,
    #[command(flatten)]
    pub repo: RepoArg,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
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
    #[arg(long, default_value = "5s", value_parser = quiver_sim::parse_duration)]
    pub warmup: std::time::Duration,
    /// How long to measure.
    #[arg(long, default_value = "30s", value_parser = quiver_sim::parse_duration, conflicts_with = "requests")]
    pub duration: std::time::Duration,
    /// Measure this many requests instead of a duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// A request not answered within this time counts as a timeout.
    #[arg(long, default_value = "1s", value_parser = quiver_sim::parse_duration)]
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

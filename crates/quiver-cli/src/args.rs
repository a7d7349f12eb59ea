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

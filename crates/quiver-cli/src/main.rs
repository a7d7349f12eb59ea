//! `quiver`: define features once, compute them with one job, read them
//! online and offline. This file only parses arguments and dispatches; each
//! command is a thin wrapper over a library call in `commands/`.

mod args;
mod commands;
mod output;

use args::{Cli, Command, DatagenDataset};
use clap::Parser;
use std::process::ExitCode;

/// mimalloc: 14 % more single-id requests per second from `quiver serve` and
/// `quiver simulate` than glibc's malloc; the job takes the same time with a
/// 15 % higher memory peak (docs/DESIGN.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tells mimalloc to keep the memory a job frees for reuse instead of
/// returning it to the OS a second later. A job's sorts spill and merge
/// large buffers over and over; returned pages come back through page faults
/// the kernel must zero, which took a third of the job's CPU at ten times the
/// demo (docs/DESIGN.md, "Allocator"). The peak stays what the job's memory
/// limit makes it; the process ends when the job does.
fn keep_freed_memory() {
    // mimalloc v3's `mi_option_purge_delay` (milliseconds; -1: never purge),
    // which libmimalloc-sys has no constant for; the test below checks the
    // index against the option's documented default.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: mimalloc's options are atomics, settable at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Run(_)
            | Command::Demo(_)
            | Command::Materialize(_)
            | Command::MaterializeIncremental(_)
            | Command::TrainingSet(_)
    ) {
        keep_freed_memory();
    }
    // `quiver history … | head` must end quietly when `head` has read
    // enough, as other command-line tools do, not panic on a closed pipe:
    // Rust ignores SIGPIPE, so put back the default, which ends the process.
    // Not for the commands that hold network connections (their sockets
    // would not raise it anyway, but a server must never die of one).
    #[cfg(unix)]
    if !matches!(cli.command, Command::Serve(_) | Command::Simulate(_)) {
        // SAFETY: setting a signal's disposition to its default, before any
        // thread starts, has no preconditions.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // `serve` sets up its own logging: its format is a server setting.
    if !matches!(cli.command, Command::Serve(_)) {
        init_logging("warn,buoyant_kernel=off", false);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime starts");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init { dir } => commands::init::run(&dir, commands::Caller::User),
            Command::Apply { repo } => commands::apply::run(&repo.repo).await,
            Command::Run(args) => commands::run::run(&args).await,
            Command::Get(args) => commands::get::run(&args).await,
            Command::History(args) => commands::history::run(&args).await,
            Command::Materialize(args) => commands::materialize::run(&args).await,
            Command::MaterializeIncremental(args) => {
                commands::materialize::run_incremental(&args).await
            }
            Command::TrainingSet(args) => commands::training_set::run(&args).await,
            Command::Log(args) => commands::log::run(&args).await,
            Command::Optimize(args) => commands::maintenance::optimize(&args).await,
            Command::Vacuum(args) => commands::maintenance::vacuum(&args).await,
            Command::Datagen {
                dataset: DatagenDataset::Energy(args),
            } => commands::datagen::run(&args),
            Command::Demo(args) => commands::demo::run(&args).await,
            Command::Simulate(args) => commands::simulate::run(&args).await,
            Command::Serve(args) => commands::serve::run(&args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The whole chain, once: each error's message says only its own
            // level (a test drives real failures and checks none repeats).
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `QUIVER_LOG` (or `RUST_LOG`) sets the filter, else `default_filter`.
pub fn init_logging(default_filter: &str, json: bool) {
    let filter = std::env::var("QUIVER_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        // delta-kernel logs an ERROR when it probes a table folder that has no
        // log yet, which is how every first job starts; the Result says enough.
        .unwrap_or_else(|_| default_filter.to_string());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    /// The option index `keep_freed_memory` sets is mimalloc v3's purge
    /// delay: its default is 1,000 ms, a value no neighbouring option has.
    #[test]
    fn the_purge_delay_option_is_where_keep_freed_memory_sets_it() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // the environment overrides the default
        }
        // SAFETY: reading an option has no preconditions.
        let delay = unsafe { libmimalloc_sys::mi_option_get(15) };
        assert_eq!(delay, 1000);
    }
}

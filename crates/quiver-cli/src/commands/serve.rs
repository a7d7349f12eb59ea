//! `quiver serve`: the online feature server, until Ctrl-C or SIGTERM.

use crate::args::{LogFormatArg, ServeArgs};
use crate::output::load_registry;
use futures::future::BoxFuture;
use quiver_offline::OfflineStore;
use quiver_serve::{ConfigOverrides, LogFormat, ServeConfig, Server, TableVersionSource};
use std::sync::Arc;

pub async fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let overrides = ConfigOverrides {
        http_addr: args.http_addr,
        grpc_addr: args.grpc_addr,
        log_format: args.log_format.map(|f| match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }),
    };
    let config = ServeConfig::load(args.config.as_deref(), &overrides)?;
    crate::init_logging(
        "info,buoyant_kernel=off",
        config.log_format == LogFormat::Json,
    );
    raise_open_files_limit();
    let repo = load_registry(&args.repo.repo)?;
    let store = quiver_backends::open_online_store(&repo).await?;
    let server = Server::bind(&repo, store, config).await?;
    // Serving needs no offline store; only `/ready`'s lag report does.
    let server = match OfflineStore::for_repo(&repo) {
        Ok(offline) => server.with_table_versions(Arc::new(DeltaTables(offline))),
        Err(error) => {
            tracing::warn!(%error, "`/ready` will not report lagging views.");
            server
        }
    };
    // Before anyone can learn the addresses: a SIGTERM from then on drains.
    let shutdown = quiver_serve::shutdown_signal();
    // Scripts and tests read the bound addresses (port 0 picks free ones).
    eprintln!(
        "quiver serve: HTTP on {}, gRPC on {}",
        server.http_addr(),
        server.grpc_addr()
    );
    server.run(shutdown).await?;
    Ok(())
}

/// Raises the soft open-files limit to the hard one, as Go's runtime and
/// nginx's `worker_rlimit_nofile` do: the server holds up to
/// `max_connections` (4,096 by default) on each port, more than the usual
/// soft limit of 1,024. The hard limit stays the operator's (`ulimit -Hn`,
/// systemd's `LimitNOFILE=`); below what the settings need, the server warns.
#[cfg(unix)]
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            // On failure (macOS caps it below an infinite hard limit) the
            // old limit stays, and the server's start-up warning says so.
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[cfg(not(unix))]
fn raise_open_files_limit() {}

/// The repository's offline tables, as the server's source of table
/// versions for `/ready`'s lag report.
struct DeltaTables(OfflineStore);

impl TableVersionSource for DeltaTables {
    fn latest_version<'a>(&'a self, view: &'a str) -> BoxFuture<'a, Result<Option<u64>, String>> {
        Box::pin(async move { self.0.version(view).await.map_err(|e| e.to_string()) })
    }
}

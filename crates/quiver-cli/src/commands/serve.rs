//! `quiver serve`: the online feature server, until Ctrl-C or SIGTERM.

use crate::args::{LogFormatArg, ServeArgs};
use crate::output::load_registry;
use quiver_serve::{ConfigOverrides, LogFormat, ServeConfig, Server};

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
    let repo = load_registry(&args.repo.repo)?;
    let store = quiver_backends::open_online_store(&repo).await?;
    let server = Server::bind(&repo, store, config).await?;
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

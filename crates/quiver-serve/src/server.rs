//! [`Server`]: binds the HTTP and gRPC listeners, then serves both until a
//! shutdown future completes, draining in-flight requests for up to
//! `shutdown_grace`. HTTP connections are accepted in one place and
//! served on the shared Tokio runtime, or with `http_threads` on that many
//! single-threaded runtimes of its own (`handover`); gRPC connections are
//! accepted by `grpc_listener`. On both ports `listener` holds each
//! connection to a request-head deadline and each listener to a cap.

use crate::catalog::Catalog;
use crate::handover::{self, Inbox, Peer};
use crate::listener::{self, MarkHeadAcceptor};
use crate::lookup::Core;
use crate::metrics::EndpointMetrics;
use crate::request::FeatureRequest;
use crate::state::{AppState, BodyBudget};
use crate::table_versions::TableVersionSource;
use crate::{
    ServeConfig, ServeError, StartupError, auth::Credentials, grpc, grpc_listener, http, json,
};
use quiver_core::FeatureRepo;
use quiver_online::OnlineStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// Counts the requests in flight of one [`Server`]; see [`Server::requests_in_flight`].
#[derive(Clone)]
pub struct RequestsInFlight {
    state: Arc<AppState>,
}

impl RequestsInFlight {
    /// Requests admitted and not yet answered, HTTP and gRPC together.
    pub fn count(&self) -> usize {
        self.state.max_concurrent_requests - self.state.limiter.available_permits()
    }

    /// HTTP requests whose headers are in and whose body is still arriving
    /// (not yet admitted: they hold no slot of `max_concurrent_requests`).
    pub fn bodies_arriving(&self) -> usize {
        self.state.body_budget.arriving()
    }
}

/// The feature server, bound and ready to run.
pub struct Server {
    state: Arc<AppState>,
    config: ServeConfig,
    http: std::net::TcpListener,
    http_addr: SocketAddr,
    grpc: tokio::net::TcpListener,
    grpc_addr: SocketAddr,
    tls: Option<Tls>,
}

struct Tls {
    http: Arc<rustls::ServerConfig>,
    grpc: Arc<rustls::ServerConfig>,
}

impl Server {
    /// Resolves the definitions of `repo` against `store` and binds both
    /// listeners (port 0 picks a free port; see [`Server::http_addr`]).
    pub async fn bind(
        repo: &FeatureRepo,
        store: Arc<dyn OnlineStore>,
        config: ServeConfig,
    ) -> Result<Server, StartupError> {
        // Loaded settings were checked already; these may be built in code.
        config
            .check()
            .map_err(|e| StartupError::Config(Box::new(figment::Error::from(e))))?;
        crate::metrics::recorder();
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(load_tls(cert, key)?),
            _ => None,
        };
        let bind_err = |addr| move |source| StartupError::Bind { addr, source };
        let http = std::net::TcpListener::bind(config.http_addr)
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .map_err(bind_err(config.http_addr))?;
        let http_addr = http.local_addr().map_err(bind_err(config.http_addr))?;
        let grpc = tokio::net::TcpListener::bind(config.grpc_addr)
            .await
            .map_err(bind_err(config.grpc_addr))?;
        let grpc_addr = grpc.local_addr().map_err(bind_err(config.grpc_addr))?;
        let state = Arc::new(AppState {
            core: Core {
                catalog: Catalog::new(repo),
                store,
                max_ids_per_request: config.max_ids_per_request,
            },
            credentials: Credentials::new(&config.api_keys, &config.bearer_tokens),
            limiter: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            max_concurrent_requests: config.max_concurrent_requests,
            max_body_bytes: config.max_body_bytes,
            body_timeout: config.body_timeout,
            body_budget: BodyBudget::new(config.max_buffered_body_bytes),
            table_versions: Default::default(),
            ready: AtomicBool::new(true),
            http_online: EndpointMetrics::new("http_get_online_features"),
            http_entity: EndpointMetrics::new("http_get_features"),
            grpc_online: EndpointMetrics::new("grpc_get_online_features"),
            grpc_columnar: EndpointMetrics::new("grpc_get_online_features_columnar"),
        });
        Ok(Server {
            state,
            config,
            http,
            http_addr,
            grpc,
            grpc_addr,
            tls,
        })
    }

    /// Reports in `/ready` whether each view's online rows reflect the
    /// latest version of its offline table, as `source` gives it (the
    /// first source given is kept).
    pub fn with_table_versions(self, source: Arc<dyn TableVersionSource>) -> Server {
        let _ = self.state.table_versions.source.set(source);
        self
    }

    /// Where the HTTP server listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where the gRPC server listens.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// A handle that counts this server's requests in flight (admitted and
    /// not yet answered), for a drain log or a test that must know a
    /// request has been admitted before it acts.
    pub fn requests_in_flight(&self) -> RequestsInFlight {
        RequestsInFlight {
            state: Arc::clone(&self.state),
        }
    }

    /// Answers a `POST /get-online-features` body without the network: the
    /// same code path as the HTTP handler after the body is read (used by the
    /// fuzz target).
    pub async fn answer_json(&self, body: &[u8]) -> Result<Vec<u8>, ServeError> {
        let request = FeatureRequest::from_json(body, &self.state.core.limits())?;
        let answer = self.state.core.get_online_features(&request).await?;
        let mut out = Vec::new();
        json::write_answer(&answer, &mut out);
        Ok(out)
    }

    /// Serves until `shutdown` completes (or a server fails), then stops
    /// accepting, lets in-flight requests finish within the grace period,
    /// and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), StartupError> {
        let Server {
            state,
            config,
            http,
            http_addr,
            grpc,
            grpc_addr,
            tls,
        } = self;
        let handle = axum_server::Handle::new();
        let (stop_tx, stop_rx) = watch::channel(false);
        let http_task = start_http(http, &state, &config, &tls, &handle, stop_rx.clone())?;
        let grpc_task = start_grpc(grpc, &state, &config, &tls, stop_rx);
        announce(&state, &config, [http_addr, grpc_addr], tls.is_some());
        let (early, still_running) =
            until_shutdown_or_failure(shutdown, http_task, grpc_task).await;
        drain(&state, &config, &handle, &stop_tx, early, still_running).await
    }
}

/// Each server's task, serving until told to stop; its result says why it
/// ended.
type ServerTask = JoinHandle<Result<(), String>>;

/// Starts accepting HTTP connections and serving them: on this runtime's
/// worker threads with gRPC, or (`http_threads`) on that many
/// single-threaded runtimes of its own.
fn start_http(
    listener: std::net::TcpListener,
    state: &Arc<AppState>,
    config: &ServeConfig,
    tls: &Option<Tls>,
    handle: &axum_server::Handle<Peer>,
    mut stop: watch::Receiver<bool>,
) -> Result<ServerTask, StartupError> {
    let app = http::router(state.clone()).into_make_service();
    let header_timeout = config.header_timeout;
    let http_tls = tls.as_ref().map(|tls| tls.http.clone());
    let h2 = Http2Limits {
        max_concurrent_streams: config.max_concurrent_streams,
    };
    let (acceptor, inboxes) = handover::split(
        listener,
        config.http_threads,
        config.max_connections,
        header_timeout,
    )
    .map_err(|e| serve_err("HTTP", e))?;
    let accepting = acceptor.run(async move {
        let _ = stop.changed().await;
    });
    if config.http_threads == 0 {
        // On this runtime's worker threads, with gRPC.
        let inbox = inboxes.into_iter().next().expect("split makes one inbox");
        let serving = serve_http(inbox, app, handle.clone(), http_tls, header_timeout, h2);
        return Ok(tokio::spawn(async move {
            futures::try_join!(accepting, serving).map(|_| ())
        }));
    }
    // One single-threaded runtime per thread: a connection stays on
    // its thread, and no request wakes a second thread to steal it.
    let mut finished = Vec::with_capacity(inboxes.len());
    for (n, inbox) in inboxes.into_iter().enumerate() {
        let (done, finish) = tokio::sync::oneshot::channel();
        let (app, handle, tls) = (app.clone(), handle.clone(), http_tls.clone());
        std::thread::Builder::new()
            .name(format!("quiver-http-{n}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
                    .and_then(|runtime| {
                        runtime.block_on(serve_http(inbox, app, handle, tls, header_timeout, h2))
                    });
                let _ = done.send(result);
            })
            .map_err(|e| serve_err("HTTP", e))?;
        finished.push(async move {
            finish
                .await
                .map_err(|_| "an HTTP thread stopped without a result".to_string())?
        });
    }
    let serving = futures::future::try_join_all(finished);
    Ok(tokio::spawn(async move {
        futures::try_join!(accepting, serving).map(|_| ())
    }))
}

/// Starts serving gRPC on `listener`.
///
/// As over HTTP, a client that stalls mid-request is cut off: a call
/// must arrive and be answered within the body timeout (or the
/// client's own `grpc-timeout`, if shorter), else it ends CANCELLED.
/// Streams per connection are bounded as on the HTTP port (tonic,
/// unlike hyper, sets no bound of its own), and so are the streams a
/// client may have reset under the server (rapid reset) or make the
/// server reset (MadeYouReset): beyond those the connection is closed.
/// Calls beyond `max_concurrent_requests` get a fast UNAVAILABLE.
fn start_grpc(
    listener: tokio::net::TcpListener,
    state: &Arc<AppState>,
    config: &ServeConfig,
    tls: &Option<Tls>,
    mut stop: watch::Receiver<bool>,
) -> ServerTask {
    let grpc_router = tonic::transport::Server::builder()
        .timeout(config.body_timeout)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .max_concurrent_streams(Some(config.max_concurrent_streams))
        .http2_max_pending_accept_reset_streams(Some(MAX_PENDING_ACCEPT_RESET_STREAMS))
        .http2_max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESET_STREAMS))
        .layer(listener::mark_head_layer())
        .add_routes(grpc::routes(state.clone(), config.max_body_bytes));
    let grpc_stop = async move {
        let _ = stop.changed().await;
    };
    let incoming = grpc_listener::incoming(
        listener,
        tls.as_ref().map(|tls| tls.grpc.clone()),
        config.max_connections,
        config.header_timeout,
    );
    tokio::spawn(async move {
        grpc_router
            .serve_with_incoming_shutdown(incoming, grpc_stop)
            .await
            .map_err(|e| e.to_string())
    })
}

/// Logs that the server is up, and warns of settings that will hurt: an
/// open-files limit below what the connection caps need, or no
/// authentication on an address others can reach.
fn announce(state: &AppState, config: &ServeConfig, addrs: [SocketAddr; 2], tls: bool) {
    let [http_addr, grpc_addr] = addrs;
    tracing::info!(
        http = %http_addr,
        grpc = %grpc_addr,
        tls,
        auth = state.credentials.enabled(),
        "Serving features."
    );
    // Both listeners full, plus the store's and the runtime's files: past
    // the limit, accepts fail (and back off) before the cap is reached.
    let wanted = 2 * config.max_connections as u64 + 256;
    if let Some(limit) = listener::open_files_limit().filter(|&limit| limit < wanted) {
        tracing::warn!(
            limit,
            max_connections = config.max_connections,
            "The open-files limit is below 2 × max_connections + 256: raise it \
             (ulimit -n, LimitNOFILE=) or lower max_connections, or accepts will \
             fail before the connection cap is reached."
        );
    }
    let exposed = addrs
        .into_iter()
        .filter(|addr| !addr.ip().is_loopback())
        .collect::<Vec<_>>();
    if !state.credentials.enabled() && !exposed.is_empty() {
        tracing::warn!(
            addresses = ?exposed,
            "Serving without authentication on a non-loopback address: anyone who can \
             reach it reads every feature. Set QUIVER_API_KEYS or QUIVER_BEARER_TOKENS."
        );
    }
}

/// A server that ended before shutdown was asked for, and how.
type EarlyEnd = Option<(&'static str, Result<(), String>)>;

/// Waits for `shutdown`, or for either server to end first (a failure).
/// Returns that early end, if any, and the tasks still running.
async fn until_shutdown_or_failure(
    shutdown: impl Future<Output = ()> + Send,
    http_task: ServerTask,
    grpc_task: ServerTask,
) -> (EarlyEnd, [(&'static str, Option<ServerTask>); 2]) {
    let mut http_task = Some(http_task);
    let mut grpc_task = Some(grpc_task);
    let early = tokio::select! {
        () = shutdown => None,
        result = http_task.as_mut().expect("set above") => {
            http_task = None;
            Some(("HTTP", flatten(result)))
        }
        result = grpc_task.as_mut().expect("set above") => {
            grpc_task = None;
            Some(("gRPC", flatten(result)))
        }
    };
    (early, [("HTTP", http_task), ("gRPC", grpc_task)])
}

/// Stops accepting (and reports not ready), gives in-flight requests the
/// grace period, and returns the first failure of either server.
async fn drain(
    state: &AppState,
    config: &ServeConfig,
    handle: &axum_server::Handle<Peer>,
    stop: &watch::Sender<bool>,
    early: EarlyEnd,
    still_running: [(&'static str, Option<ServerTask>); 2],
) -> Result<(), StartupError> {
    let grace = config.shutdown_grace;
    tracing::info!(
        grace_secs = grace.as_secs_f64(),
        "Shutting down: draining requests."
    );
    state.ready.store(false, Ordering::Relaxed);
    handle.graceful_shutdown(Some(grace));
    let _ = stop.send(true);
    let mut failure = match early {
        Some((server, Err(reason))) => Some(StartupError::Serve { server, reason }),
        _ => None,
    };
    for (server, task) in still_running {
        let Some(task) = task else { continue };
        // gRPC has no forced close of its own: give it the same grace.
        match tokio::time::timeout(grace + Duration::from_secs(1), task).await {
            Ok(result) => {
                if let Err(reason) = flatten(result) {
                    failure.get_or_insert(StartupError::Serve { server, reason });
                }
            }
            Err(_) => tracing::warn!(
                server,
                "Requests still running after the grace period were dropped."
            ),
        }
    }
    match failure {
        Some(error) => Err(error),
        None => {
            tracing::info!("Stopped.");
            Ok(())
        }
    }
}

/// Completes on Ctrl-C or SIGTERM. On Unix the handlers are installed when
/// this is called, not when the future is first polled: a SIGTERM that
/// arrives while the server starts must stop it cleanly, not kill it. Call it
/// inside the runtime, before the server can be reached.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let wait = |installed: std::io::Result<tokio::signal::unix::Signal>| async move {
                match installed {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    // No handler: this signal keeps its default action.
                    Err(_) => std::future::pending().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {},
                () = wait(terminate) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Streams a client may reset before the server has accepted them, per
/// connection (h2's default, which hyper keeps on the HTTP port): the
/// rapid-reset attack.
const MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;

/// Streams the server may reset because of a client's protocol errors, per
/// connection (hyper's default on the HTTP port): the MadeYouReset attack.
const MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;

/// HTTP/2 settings both ports share.
#[derive(Clone, Copy)]
struct Http2Limits {
    max_concurrent_streams: u32,
}

/// Serves HTTP (or HTTPS, given a TLS configuration) on the connections
/// handed to `inbox` until the handle's shutdown; runs on whichever runtime
/// awaits it.
async fn serve_http(
    inbox: Inbox,
    app: axum::routing::IntoMakeService<axum::Router>,
    handle: axum_server::Handle<Peer>,
    tls: Option<Arc<rustls::ServerConfig>>,
    header_timeout: Duration,
    h2: Http2Limits,
) -> Result<(), String> {
    let mut server = axum_server::Server::<Peer>::from_listener(inbox).handle(handle);
    limit_connections(server.http_builder(), header_timeout, h2);
    // The connection's head deadline (`listener`) ends at its first request,
    // which `MarkHeadAcceptor`'s service reports; under TLS, it also bounds
    // the handshake.
    match tls {
        None => server.acceptor(MarkHeadAcceptor).serve(app).await,
        Some(tls) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_config(tls);
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(config)
                .handshake_timeout(header_timeout)
                .acceptor(MarkHeadAcceptor);
            server.acceptor(acceptor).serve(app).await
        }
    }
    .map_err(|e| e.to_string())
}

/// HTTP/1: a client that does not finish a request's headers in time is
/// disconnected. HTTP/2: streams and resets per connection are bounded.
fn limit_connections(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    header_timeout: Duration,
    h2: Http2Limits,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .max_concurrent_streams(h2.max_concurrent_streams)
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESET_STREAMS)
        .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESET_STREAMS);
}

fn flatten(result: Result<Result<(), String>, tokio::task::JoinError>) -> Result<(), String> {
    result.map_err(|e| e.to_string()).and_then(|r| r)
}

fn serve_err(server: &'static str, error: impl std::fmt::Display) -> StartupError {
    StartupError::Serve {
        server,
        reason: error.to_string(),
    }
}

fn load_tls(cert: &Path, key: &Path) -> Result<Tls, StartupError> {
    let err = |reason: String| StartupError::Tls {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        reason,
    };
    let cert_pem =
        std::fs::read(cert).map_err(|e| err(format!("cannot read {}: {e}", cert.display())))?;
    let key_pem =
        std::fs::read(key).map_err(|e| err(format!("cannot read {}: {e}", key.display())))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("the certificate file is not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(err("the certificate file holds no certificate".to_string()));
    }
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| err(format!("the key file holds no PEM private key: {e}")))?;
    // Two crypto providers are compiled into this workspace (ring, aws-lc-rs),
    // so there is no process default: name one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, private_key)
        .map_err(|e| err(format!("the key does not fit the certificate: {e}")))?;
    let mut grpc = config.clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    grpc.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Tls {
        http: Arc::new(config),
        grpc: Arc::new(grpc),
    })
}

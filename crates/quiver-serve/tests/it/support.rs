//! Fixtures: a repository computed by the real job, a running server, and
//! small HTTP/1.1 and gRPC clients (raw HTTP so tests can also be slow,
//! malformed or half-finished clients).

use quiver_core::{FeatureRepo, Registry};
use quiver_offline::OfflineStore;
use quiver_online::{EntityRow, FeatureRow, OnlineError, OnlineStore, ViewLayout, WriteOutcome};
use quiver_proto::serving::serving_service_client::ServingServiceClient;
use quiver_serve::{ServeConfig, Server, StartupError};
use quiver_test::TestRepo;
use quiver_test::repo::{ENERGY_HEADER, energy_line};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const VIEW: &str = "energy_features";

/// A second view of the same entity, with a TTL, sharing the feature name
/// `energy_sum` with the first (for fan-out, TTL and ambiguity tests).
pub const TOTALS_VIEW: &str = r#"
[feature_views.household_totals]
source = "energy_daily"
entity = "household"
event_time = "day_date"
ttl = "30d"
sql = "SELECT household_id AS id, day AS day_date, energy_sum, energy_count * 2 AS double_count FROM energy_daily"
[feature_views.household_totals.features]
energy_sum = "float64"
double_count = "int64"
"#;

/// Today, as the CSV writes days: a row of today is inside any TTL.
pub fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// Three households: MAC000002 (two days, latest sum 2.0), MAC000003 (a
/// null sum), MAC000004 (today, sum 4.0).
pub fn csv() -> String {
    let today = today();
    [
        ENERGY_HEADER.to_string(),
        energy_line(
            "MAC000002",
            "2014-01-01",
            Some(1.0),
            Some(48),
            Some(0.5),
            Some(0.1),
        ),
        energy_line(
            "MAC000002",
            "2014-01-02",
            Some(2.0),
            Some(47),
            Some(0.6),
            Some(0.2),
        ),
        energy_line(
            "MAC000003",
            "2014-01-02",
            None,
            Some(46),
            Some(0.7),
            Some(0.3),
        ),
        energy_line(
            "MAC000004",
            &today,
            Some(4.0),
            Some(45),
            Some(0.8),
            Some(0.4),
        ),
    ]
    .join("\n")
        + "\n"
}

/// A repository with both views, applied and computed by the real job.
pub async fn computed_repo() -> (TestRepo, FeatureRepo) {
    let repo = TestRepo::energy(&csv());
    repo.edit_config(|text| text + TOTALS_VIEW);
    let definitions = apply(&repo).await;
    run_job(&definitions, VIEW).await;
    run_job(&definitions, "household_totals").await;
    (repo, definitions)
}

/// `quiver apply`: validate and record the definitions.
pub async fn apply(repo: &TestRepo) -> FeatureRepo {
    let definitions = FeatureRepo::load(repo.path()).unwrap();
    quiver_job::validate_repo(&definitions).await.unwrap();
    Registry::new(definitions.clone()).save().unwrap();
    definitions
}

/// `quiver run VIEW`.
pub async fn run_job(definitions: &FeatureRepo, view: &str) {
    let online = quiver_backends::open_online_store(definitions)
        .await
        .unwrap();
    let offline = OfflineStore::for_repo(definitions).unwrap();
    quiver_job::run_view(
        definitions,
        view,
        online.as_ref(),
        &offline,
        Default::default(),
    )
    .await
    .unwrap();
}

/// Settings for tests: free ports on loopback, small limits.
pub fn test_config() -> ServeConfig {
    ServeConfig {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        max_ids_per_request: 5,
        max_body_bytes: 4096,
        shutdown_grace_secs: 5.0,
        ..ServeConfig::default()
    }
}

/// A server running in the background.
pub struct Running {
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    pub in_flight: quiver_serve::RequestsInFlight,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), StartupError>>>,
}

impl Running {
    /// Waits until the server has admitted `n` requests (a slow client's
    /// headers have arrived), however long a loaded machine takes.
    pub async fn wait_for_in_flight(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.in_flight.count() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server admitted {} of {n} requests within 30 s",
                self.in_flight.count()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until `n` HTTP requests are waiting for the rest of their body.
    pub async fn wait_for_bodies_arriving(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.in_flight.bodies_arriving() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} requests were waiting for their body after 30 s",
                self.in_flight.bodies_arriving()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Begins a graceful shutdown and waits for the server to return.
    pub async fn stop(mut self) -> Result<(), StartupError> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }

    /// Begins shutdown without waiting.
    pub fn begin_stop(&mut self) -> JoinHandle<Result<(), StartupError>> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap()
    }

    /// A gRPC client of this server.
    pub async fn grpc_client(&self) -> ServingServiceClient<tonic::transport::Channel> {
        ServingServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a server over `definitions` with `config`.
pub async fn start(definitions: &FeatureRepo, config: ServeConfig) -> Running {
    let store = quiver_backends::open_online_store(definitions)
        .await
        .unwrap();
    start_with_store(definitions, store, config).await
}

/// Starts a server over `definitions` whose reads wait while the returned
/// gate holds `false` (to keep requests in flight for as long as a test needs).
pub async fn start_gated(
    definitions: &FeatureRepo,
    config: ServeConfig,
) -> (Running, tokio::sync::watch::Sender<bool>) {
    let inner = quiver_backends::open_online_store(definitions)
        .await
        .unwrap();
    let (gate, open) = tokio::sync::watch::channel(true);
    let store = Arc::new(GatedStore { inner, open });
    (start_with_store(definitions, store, config).await, gate)
}

/// An online store whose reads wait for its gate to open.
struct GatedStore {
    inner: Arc<dyn OnlineStore>,
    open: tokio::sync::watch::Receiver<bool>,
}

#[tonic::async_trait]
impl OnlineStore for GatedStore {
    async fn write(
        &self,
        layout: &ViewLayout,
        rows: &[EntityRow],
        offline_version: Option<u64>,
    ) -> Result<WriteOutcome, OnlineError> {
        self.inner.write(layout, rows, offline_version).await
    }

    async fn read(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<Vec<Option<FeatureRow>>, OnlineError> {
        let _ = self.open.clone().wait_for(|open| *open).await;
        self.inner.read(view, keys).await
    }

    async fn read_with_layout(
        &self,
        view: &str,
        keys: &[&str],
    ) -> Result<(Arc<ViewLayout>, Vec<Option<FeatureRow>>), OnlineError> {
        let _ = self.open.clone().wait_for(|open| *open).await;
        self.inner.read_with_layout(view, keys).await
    }

    async fn layout(&self, view: &str) -> Result<Option<Arc<ViewLayout>>, OnlineError> {
        self.inner.layout(view).await
    }

    async fn offline_version(&self, view: &str) -> Result<Option<u64>, OnlineError> {
        self.inner.offline_version(view).await
    }

    async fn delete(&self, view: &str, keys: &[&str]) -> Result<(), OnlineError> {
        self.inner.delete(view, keys).await
    }
}

async fn start_with_store(
    definitions: &FeatureRepo,
    store: Arc<dyn OnlineStore>,
    config: ServeConfig,
) -> Running {
    let server = Server::bind(definitions, store, config)
        .await
        .unwrap()
        .with_table_versions(Arc::new(DeltaTables(
            OfflineStore::for_repo(definitions).unwrap(),
        )));
    let (http, grpc) = (server.http_addr(), server.grpc_addr());
    let in_flight = server.requests_in_flight();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Running {
        http,
        grpc,
        in_flight,
        stop: Some(stop),
        task: Some(task),
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the response is the JSON error `code` with `status`, and returns its message.
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        let json = self.json();
        assert_eq!(json["error"]["code"], code, "{json}");
        json["error"]["message"].as_str().unwrap().to_string()
    }
}

/// One request over a fresh connection.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HttpResponse {
    let stream = TcpStream::connect(addr).await.unwrap();
    exchange(stream, method, path, headers, body).await
}

/// `POST /get-online-features` with a JSON body.
pub async fn post_features(addr: SocketAddr, body: &serde_json::Value) -> HttpResponse {
    http(
        addr,
        "POST",
        "/get-online-features",
        &[("content-type", "application/json")],
        Some(body.to_string().as_bytes()),
    )
    .await
}

/// Writes one request on `stream` and reads the whole response.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> HttpResponse {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    if let Some(body) = body {
        stream.write_all(body).await.unwrap();
    }
    stream.flush().await.unwrap();
    let mut raw = Vec::new();
    // A TLS peer may close without close_notify after a complete response;
    // parse_response rejects anything incomplete.
    let _ = stream.read_to_end(&mut raw).await;
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// A self-signed certificate for `localhost`, written as PEM files.
pub struct TestCert {
    pub dir: tempfile::TempDir,
    pub cert_der: Vec<u8>,
}

impl TestCert {
    pub fn generate() -> TestCert {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), certified.cert.pem()).unwrap();
        std::fs::write(
            dir.path().join("key.pem"),
            certified.signing_key.serialize_pem(),
        )
        .unwrap();
        TestCert {
            cert_der: certified.cert.der().to_vec(),
            dir,
        }
    }

    pub fn cert_path(&self) -> std::path::PathBuf {
        self.dir.path().join("cert.pem")
    }

    pub fn key_path(&self) -> std::path::PathBuf {
        self.dir.path().join("key.pem")
    }

    /// A rustls client trusting only this certificate, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                self.cert_der.clone(),
            ))
            .unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A TLS connection to `addr`, verifying the server as `localhost`.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        alpn: &[&[u8]],
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let connector = tokio_rustls::TlsConnector::from(self.client_config(alpn));
        let tcp = TcpStream::connect(addr).await?;
        connector
            .connect(
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
    }
}

/// The repository's Delta tables as the server's table versions, as
/// `quiver serve` passes them.
struct DeltaTables(OfflineStore);

impl quiver_serve::TableVersionSource for DeltaTables {
    fn latest_version<'a>(
        &'a self,
        view: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<Option<u64>, String>> {
        Box::pin(async move { self.0.version(view).await.map_err(|e| e.to_string()) })
    }
}

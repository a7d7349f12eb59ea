//! [`Target`]: what receives the requests — the online store called directly,
//! the HTTP or gRPC server, or nothing (to measure the generator itself) — and
//! [`Connection`], one per worker, which sends one request and waits for it.
//!
//! Both are enums rather than trait objects so the hot path has no boxing or
//! dynamic dispatch, and request bodies are built from pieces prepared once
//! per id before the run.

use crate::record::RequestError;
use crate::{FeatureSelection, GrpcRpc, KeySpace, SimError, SimSettings, TargetSpec};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use quiver_core::{FeatureReference, FeatureRepo};
use quiver_online::OnlineStore;
use quiver_proto::serving::get_online_features_request::Kind;
use quiver_proto::serving::serving_service_client::ServingServiceClient;
use quiver_proto::serving::{FeatureList, GetOnlineFeaturesRequest, RepeatedValue, Value, value};
use std::collections::HashMap;
use std::sync::Arc;
use tonic::transport::{Channel, Endpoint};

/// A prepared target: connections are made from it, one per worker.
#[derive(Clone)]
pub enum Target {
    /// Reads straight from an online store, one `read` per feature view per request.
    Store {
        /// The store.
        store: Arc<dyn OnlineStore>,
        /// The views every request reads.
        views: Arc<[String]>,
        /// The key space, to turn indexes into keys.
        keys: KeySpace,
    },
    /// `POST /get-online-features` over HTTP/1.1 keep-alive connections.
    Http(Arc<HttpTarget>),
    /// `GetOnlineFeatures` over gRPC.
    Grpc(Arc<GrpcTarget>),
    /// Answers every request at once, in process.
    Noop,
}

/// An HTTP target's address and prepared bodies.
pub struct HttpTarget {
    /// `host:port` to connect to.
    address: String,
    /// For `https://`: the TLS client and the name the certificate must carry.
    tls: Option<Tls>,
    /// Extra headers (credentials), parsed once.
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// The request URI path.
    path: hyper::Uri,
    /// The `Host` header.
    host: hyper::header::HeaderValue,
    bodies: RequestBodies,
}

/// A gRPC target's endpoint and prepared requests.
pub struct GrpcTarget {
    /// The RPC called.
    rpc: GrpcRpc,
    endpoint: Endpoint,
    /// `host:port`, for TLS connections made here.
    address: String,
    /// For `https://`: the TLS client and the name the certificate must carry.
    tls: Option<Tls>,
    /// Extra metadata (credentials), parsed once.
    metadata: Vec<(
        tonic::metadata::MetadataKey<tonic::metadata::Ascii>,
        tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    )>,
    /// `kind` of every request (features or service), prepared once.
    kind: Kind,
    entity_key: String,
    /// Each id as a proto value.
    values: Vec<Value>,
    /// Batch-size-1 requests, one per id, ready to clone.
    single: Vec<GetOnlineFeaturesRequest>,
}

/// JSON request bodies, assembled from pieces encoded once.
struct RequestBodies {
    /// `{"entities":{"id":[`
    prefix: String,
    /// `]},"features":[…]}` or `]},"feature_service":"…"}`
    suffix: String,
    /// Each id, JSON-encoded.
    ids: Vec<String>,
    /// Batch-size-1 bodies, one per id.
    single: Vec<Bytes>,
}

impl RequestBodies {
    fn new(settings: &SimSettings, keys: &KeySpace) -> RequestBodies {
        let json = |s: &str| serde_json::to_string(s).expect("strings serialise");
        let prefix = format!("{{\"entities\":{{{}:[", json(&settings.entity_key));
        let suffix = match &settings.features {
            FeatureSelection::Features(features) => {
                let list: Vec<String> = features.iter().map(|f| json(f)).collect();
                format!("]}},\"features\":[{}]}}", list.join(","))
            }
            FeatureSelection::Service(name) => format!("]}},\"feature_service\":{}}}", json(name)),
        };
        let ids: Vec<String> = keys
            .ids()
            .iter()
            .map(|id| if keys.numeric() { id.clone() } else { json(id) })
            .collect();
        let single = if settings.batch_size == 1 {
            ids.iter()
                .map(|id| Bytes::from(format!("{prefix}{id}{suffix}")))
                .collect()
        } else {
            Vec::new()
        };
        RequestBodies {
            prefix,
            suffix,
            ids,
            single,
        }
    }

    fn body(&self, ids: &[u32]) -> Bytes {
        if let [one] = ids
            && let Some(body) = self.single.get(*one as usize)
        {
            return body.clone();
        }
        let mut text = String::with_capacity(
            self.prefix.len() + self.suffix.len() + ids.len() * (self.ids[0].len() + 1),
        );
        text.push_str(&self.prefix);
        for (n, &i) in ids.iter().enumerate() {
            if n > 0 {
                text.push(',');
            }
            text.push_str(&self.ids[i as usize]);
        }
        text.push_str(&self.suffix);
        Bytes::from(text)
    }
}

impl GrpcTarget {
    /// The call for the ids at `ids`, with the metadata.
    fn call(&self, ids: &[u32]) -> tonic::Request<GetOnlineFeaturesRequest> {
        let mut call = tonic::Request::new(self.request(ids));
        for (key, value) in &self.metadata {
            call.metadata_mut().insert(key.clone(), value.clone());
        }
        call
    }

    fn request(&self, ids: &[u32]) -> GetOnlineFeaturesRequest {
        if let [one] = ids
            && let Some(request) = self.single.get(*one as usize)
        {
            return request.clone();
        }
        build_grpc_request(
            &self.kind,
            &self.entity_key,
            ids.iter()
                .map(|&i| self.values[i as usize].clone())
                .collect(),
        )
    }
}

fn build_grpc_request(
    kind: &Kind,
    entity_key: &str,
    values: Vec<Value>,
) -> GetOnlineFeaturesRequest {
    GetOnlineFeaturesRequest {
        entities: HashMap::from([(entity_key.to_string(), RepeatedValue { val: values })]),
        full_feature_names: false,
        include_event_timestamps: false,
        kind: Some(kind.clone()),
    }
}

/// The features a selection names, checked against the repository.
pub fn resolve_features(
    repo: &FeatureRepo,
    selection: &FeatureSelection,
) -> Result<Vec<FeatureReference>, SimError> {
    match selection {
        FeatureSelection::Features(features) => features
            .iter()
            .map(|text| {
                let reference = FeatureReference::parse(text).ok_or_else(|| {
                    SimError::UnknownFeature(format!(
                        "`{text}` is not a feature reference: write view:feature"
                    ))
                })?;
                let view = repo
                    .feature_view(&reference.view)
                    .map_err(|e| SimError::UnknownFeature(e.to_string()))?;
                if view.feature(&reference.feature).is_none() {
                    return Err(SimError::UnknownFeature(format!(
                        "feature view `{}` has no feature `{}`; it has: {}",
                        view.name,
                        reference.feature,
                        view.features
                            .iter()
                            .map(|f| f.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                Ok(reference)
            })
            .collect(),
        FeatureSelection::Service(name) => repo
            .feature_services
            .get(name)
            .map(|service| service.features.clone())
            .ok_or_else(|| {
                SimError::UnknownFeature(format!(
                    "no feature service `{name}`; the repository has: {}",
                    if repo.feature_services.is_empty() {
                        "none".to_string()
                    } else {
                        repo.feature_services
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ))
            }),
    }
}

/// Every feature of every view of the repository, as `view:feature`.
pub fn all_features(repo: &FeatureRepo) -> Vec<String> {
    repo.feature_views
        .values()
        .flat_map(|view| {
            view.features
                .iter()
                .map(move |f| format!("{}:{}", view.name, f.name))
        })
        .collect()
}

impl Target {
    /// Prepares the target `settings` name. The store target needs `repo`.
    pub async fn prepare(
        settings: &SimSettings,
        repo: Option<&FeatureRepo>,
        keys: &KeySpace,
    ) -> Result<Target, SimError> {
        let target = match &settings.target {
            TargetSpec::Noop => Target::Noop,
            TargetSpec::Store { .. } => {
                let repo = repo.ok_or(SimError::Setting {
                    setting: "--target store",
                    problem: "needs a feature repository (--repo)".to_string(),
                })?;
                let references = resolve_features(repo, &settings.features)?;
                let store = quiver_backends::open_online_store(repo).await?;
                let mut views: Vec<String> = Vec::new();
                for reference in &references {
                    if views.contains(&reference.view) {
                        continue;
                    }
                    if store.layout(&reference.view).await?.is_none() {
                        return Err(SimError::UnknownFeature(format!(
                            "feature view `{}` has no rows in the online store; run `quiver run {}` first",
                            reference.view, reference.view
                        )));
                    }
                    views.push(reference.view.clone());
                }
                Target::Store {
                    store,
                    views: views.into(),
                    keys: keys.clone(),
                }
            }
            TargetSpec::Http { url } => {
                Target::Http(Arc::new(HttpTarget::new(url, settings, keys)?))
            }
            TargetSpec::Grpc { url, rpc } => {
                Target::Grpc(Arc::new(GrpcTarget::new(url, *rpc, settings, keys)?))
            }
        };
        // Fail before the run, with a clear message, if the target is not there.
        target.connect().await?;
        Ok(target)
    }

    /// A new connection (for the store and noop targets, a handle).
    pub async fn connect(&self) -> Result<Connection, SimError> {
        Ok(match self {
            Target::Noop => Connection::Noop,
            Target::Store { store, views, keys } => Connection::Store {
                store: Arc::clone(store),
                views: Arc::clone(views),
                keys: keys.clone(),
            },
            Target::Http(http) => {
                let sender = http_connect(http).await.map_err(|e| SimError::Connect {
                    target: http.address.clone(),
                    reason: e.describe(),
                })?;
                Connection::Http {
                    target: Arc::clone(http),
                    sender: Some(sender),
                }
            }
            Target::Grpc(grpc) => {
                let connected = match &grpc.tls {
                    None => grpc.endpoint.connect().await,
                    Some(tls) => {
                        let (tls, address) = (tls.clone(), grpc.address.clone());
                        grpc.endpoint
                            .connect_with_connector(tower::service_fn(move |_: hyper::Uri| {
                                let (tls, address) = (tls.clone(), address.clone());
                                async move { tls.connect(&address).await.map(TokioIo::new) }
                            }))
                            .await
                    }
                };
                let channel = connected.map_err(|e| SimError::Connect {
                    target: grpc.endpoint.uri().to_string(),
                    reason: error_chain(&e),
                })?;
                Connection::Grpc {
                    target: Arc::clone(grpc),
                    client: ServingServiceClient::new(channel),
                }
            }
        })
    }
}

impl HttpTarget {
    fn new(url: &str, settings: &SimSettings, keys: &KeySpace) -> Result<HttpTarget, SimError> {
        let bad = |problem: String| SimError::Setting {
            setting: "--url",
            problem,
        };
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| bad(format!("`{url}` is not a URL: {e}")))?;
        let (address, tls) = address_and_tls(&uri, url, &settings.access, b"http/1.1")?;
        let authority = uri
            .authority()
            .ok_or_else(|| bad(format!("`{url}` has no host")))?;
        let headers = typed_headers(&settings.access, "a valid HTTP header", |header| {
            Some((
                hyper::header::HeaderName::from_bytes(header.name.as_bytes()).ok()?,
                hyper::header::HeaderValue::from_str(&header.value).ok()?,
            ))
        })?;
        let base = uri.path().trim_end_matches('/');
        let path: hyper::Uri = format!("{base}/get-online-features")
            .parse()
            .map_err(|e| bad(format!("`{url}`: {e}")))?;
        let host = hyper::header::HeaderValue::from_str(authority.as_str())
            .map_err(|e| bad(format!("`{url}`: {e}")))?;
        Ok(HttpTarget {
            address,
            tls,
            headers,
            path,
            host,
            bodies: RequestBodies::new(settings, keys),
        })
    }
}

impl GrpcTarget {
    fn new(
        url: &str,
        rpc: GrpcRpc,
        settings: &SimSettings,
        keys: &KeySpace,
    ) -> Result<GrpcTarget, SimError> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| SimError::Setting {
                setting: "--url",
                problem: format!("`{url}` is not a gRPC endpoint: {e}"),
            })?
            .tcp_nodelay(true);
        let (address, tls) = address_and_tls(endpoint.uri(), url, &settings.access, b"h2")?;
        let metadata = typed_headers(&settings.access, "valid gRPC metadata", |header| {
            Some((
                tonic::metadata::MetadataKey::from_bytes(header.name.as_bytes()).ok()?,
                header.value.parse().ok()?,
            ))
        })?;
        let kind = match &settings.features {
            FeatureSelection::Features(features) => Kind::Features(FeatureList {
                val: features.clone(),
            }),
            FeatureSelection::Service(name) => Kind::FeatureService(name.clone()),
        };
        let values: Vec<Value> = keys
            .ids()
            .iter()
            .map(|id| Value {
                val: Some(match id.parse::<i64>() {
                    Ok(n) if keys.numeric() => value::Val::Int64Val(n),
                    _ => value::Val::StringVal(id.clone()),
                }),
            })
            .collect();
        let single = if settings.batch_size == 1 {
            values
                .iter()
                .map(|v| build_grpc_request(&kind, &settings.entity_key, vec![v.clone()]))
                .collect()
        } else {
            Vec::new()
        };
        Ok(GrpcTarget {
            rpc,
            endpoint,
            address,
            tls,
            metadata,
            kind,
            entity_key: settings.entity_key.clone(),
            values,
            single,
        })
    }
}

/// One worker's way to the target.
pub enum Connection {
    /// Direct store reads.
    Store {
        /// The store.
        store: Arc<dyn OnlineStore>,
        /// Views read per request.
        views: Arc<[String]>,
        /// Index to key.
        keys: KeySpace,
    },
    /// An HTTP/1.1 keep-alive connection; `None` after it broke, reopened on the next request.
    Http {
        /// Address and bodies.
        target: Arc<HttpTarget>,
        /// The open connection.
        sender: Option<SendRequest<Full<Bytes>>>,
    },
    /// A gRPC channel (HTTP/2; reconnects by itself).
    Grpc {
        /// Prepared requests.
        target: Arc<GrpcTarget>,
        /// The client.
        client: ServingServiceClient<Channel>,
    },
    /// Nothing to send.
    Noop,
}

impl Connection {
    /// Sends one request for the ids at `ids` and waits for the whole answer.
    pub async fn send(&mut self, ids: &[u32]) -> Result<(), RequestError> {
        match self {
            Connection::Noop => {
                // Nothing here ever waits, so spend Tokio's cooperative
                // budget: every so often the worker yields and the other
                // workers, the live line and the timers get their turn.
                tokio::task::consume_budget().await;
                Ok(())
            }
            Connection::Store { store, views, keys } => {
                let all = keys.ids();
                let asked: Vec<&str> = ids.iter().map(|&i| all[i as usize].as_str()).collect();
                for view in views.iter() {
                    store
                        .read(view, &asked)
                        .await
                        .map_err(|e| RequestError::Store(e.to_string()))?;
                }
                // The embedded store answers without ever waiting; see Noop.
                tokio::task::consume_budget().await;
                Ok(())
            }
            Connection::Http { target, sender } => {
                if sender.is_none() {
                    *sender = Some(http_connect(target).await?);
                }
                let result =
                    http_send(target, sender.as_mut().expect("connected above"), ids).await;
                if matches!(result, Err(RequestError::Transport(_))) {
                    *sender = None;
                }
                result
            }
            Connection::Grpc { target, client } => {
                let call = target.call(ids);
                // The whole answer is decoded either way, as a client would.
                let answered = match target.rpc {
                    GrpcRpc::Feast => client.get_online_features(call).await.map(|_| ()),
                    GrpcRpc::Columnar => {
                        client.get_online_features_columnar(call).await.map(|_| ())
                    }
                };
                answered.map_err(|status| {
                    RequestError::Grpc(status.code(), status.message().to_string())
                })
            }
        }
    }

    /// Forgets a connection left in an unknown state by an abandoned request
    /// (a timeout); the next request opens a new one.
    pub fn reset(&mut self) {
        if let Connection::Http { sender, .. } = self {
            *sender = None;
        }
    }
}

async fn http_connect(target: &HttpTarget) -> Result<SendRequest<Full<Bytes>>, RequestError> {
    let address = &target.address;
    let failed = |e: &dyn std::fmt::Display| RequestError::Connect(format!("{address}: {e}"));
    match &target.tls {
        None => {
            let stream = tokio::net::TcpStream::connect(address)
                .await
                .map_err(|e| failed(&e))?;
            let _ = stream.set_nodelay(true);
            http_handshake(TokioIo::new(stream))
                .await
                .map_err(|e| failed(&e))
        }
        Some(tls) => {
            let stream = tls.connect(address).await.map_err(|e| failed(&e))?;
            http_handshake(TokioIo::new(stream))
                .await
                .map_err(|e| failed(&e))
        }
    }
}

async fn http_handshake<T>(io: T) -> hyper::Result<SendRequest<Full<Bytes>>>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        // Ends when the sender is dropped or the server closes the connection.
        let _ = connection.await;
    });
    Ok(sender)
}

/// `access`'s headers as the transport's own types, parsed once; a header
/// `parse` refuses is a `--header` error saying it is not `valid`.
fn typed_headers<K, V>(
    access: &crate::Access,
    valid: &str,
    parse: impl Fn(&crate::RequestHeader) -> Option<(K, V)>,
) -> Result<Vec<(K, V)>, SimError> {
    access
        .headers
        .iter()
        .map(|header| {
            parse(header).ok_or_else(|| SimError::Setting {
                setting: "--header",
                problem: format!("`{}` is not {valid}", header.name),
            })
        })
        .collect()
}

/// A TLS client for one server name.
#[derive(Clone)]
struct Tls {
    connector: tokio_rustls::TlsConnector,
    name: rustls::pki_types::ServerName<'static>,
}

impl Tls {
    /// A TCP connection to `address` (no Nagle), then the TLS handshake.
    async fn connect(
        &self,
        address: &str,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let tcp = tokio::net::TcpStream::connect(address).await?;
        let _ = tcp.set_nodelay(true);
        self.connector
            .connect(self.name.clone(), tcp)
            .await
            .map_err(|e| {
                let rejected = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .is_some_and(|tls| matches!(tls, rustls::Error::InvalidCertificate(_)));
                if rejected {
                    std::io::Error::other(format!("{e} (a server with its own CA needs --ca-cert)"))
                } else {
                    e
                }
            })
    }
}

/// `host:port` of `uri` and, for `https://`, a TLS client offering `alpn`
/// that trusts `access.ca_cert` (else the system's certificates).
fn address_and_tls(
    uri: &hyper::Uri,
    url: &str,
    access: &crate::Access,
    alpn: &[u8],
) -> Result<(String, Option<Tls>), SimError> {
    let bad = |setting, problem: String| SimError::Setting { setting, problem };
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            return Err(bad(
                "--url",
                format!("`{url}`: use an http:// or https:// URL"),
            ));
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| bad("--url", format!("`{url}` has no host")))?;
    let default_port = if https { 443 } else { 80 };
    let address = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(default_port)
    );
    if !https {
        if access.ca_cert.is_some() {
            return Err(bad(
                "--ca-cert",
                format!("`{url}` is not https://, so no certificate is checked"),
            ));
        }
        return Ok((address, None));
    }
    let mut roots = rustls::RootCertStore::empty();
    match &access.ca_cert {
        Some(file) => {
            let pem = std::fs::read(file)
                .map_err(|e| bad("--ca-cert", format!("cannot read {}: {e}", file.display())))?;
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad("--ca-cert", format!("{} is not PEM: {e}", file.display())))?;
            if certs.is_empty() {
                return Err(bad(
                    "--ca-cert",
                    format!("{} holds no certificate", file.display()),
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| bad("--ca-cert", format!("{}: {e}", file.display())))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    // Two crypto providers are compiled into this workspace: name one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("--url", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = rustls::pki_types::ServerName::try_from(authority.host().to_string())
        .map_err(|e| bad("--url", format!("`{url}`: {e}")))?;
    Ok((
        address,
        Some(Tls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            name,
        }),
    ))
}

async fn http_send(
    target: &HttpTarget,
    sender: &mut SendRequest<Full<Bytes>>,
    ids: &[u32],
) -> Result<(), RequestError> {
    let transport = |e: hyper::Error| RequestError::Transport(error_chain(&e));
    sender.ready().await.map_err(transport)?;
    let mut request = hyper::Request::post(target.path.clone())
        .header(hyper::header::HOST, target.host.clone())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(target.bodies.body(ids)))
        .map_err(|e| RequestError::Transport(e.to_string()))?;
    for (name, value) in &target.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    let response = sender.send_request(request).await.map_err(transport)?;
    let status = response.status();
    // Read the whole body: the answer is not complete before, and the
    // connection cannot carry the next request until it is.
    let body = response.into_body().collect().await.map_err(transport)?;
    if status.is_success() {
        Ok(())
    } else {
        // Kept as the error's example: the server says what was wrong.
        let body = body.to_bytes();
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
        Err(RequestError::Status(
            status.as_u16(),
            text.trim().to_string(),
        ))
    }
}

/// An error and its sources, joined.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyDistribution, LoadModel, StopCondition};
    use std::time::Duration;

    fn settings(features: FeatureSelection, batch_size: usize) -> SimSettings {
        SimSettings {
            target: TargetSpec::Noop,
            features,
            entity_key: "id".to_string(),
            batch_size,
            distribution: KeyDistribution::Uniform,
            load: LoadModel::Closed { workers: 1 },
            warmup: Duration::ZERO,
            stop: StopCondition::Requests(1),
            timeout: Duration::from_secs(1),
            seed: 1,
            access: Default::default(),
        }
    }

    fn body(bodies: &RequestBodies, ids: &[u32]) -> serde_json::Value {
        serde_json::from_slice(&bodies.body(ids)).unwrap()
    }

    #[test]
    fn http_bodies_have_feasts_shape() {
        let keys = KeySpace::new(vec!["MAC000002".into(), "a\"b".into()], false).unwrap();
        let features = FeatureSelection::Features(vec!["v:f".into(), "v:g".into()]);
        let single = RequestBodies::new(&settings(features.clone(), 1), &keys);
        assert_eq!(
            body(&single, &[0]),
            serde_json::json!({"entities": {"id": ["MAC000002"]}, "features": ["v:f", "v:g"]})
        );
        let batch = RequestBodies::new(&settings(features, 3), &keys);
        assert_eq!(
            body(&batch, &[1, 0, 1])["entities"]["id"],
            serde_json::json!(["a\"b", "MAC000002", "a\"b"])
        );
        let service = RequestBodies::new(
            &settings(FeatureSelection::Service("model_v1".into()), 1),
            &keys,
        );
        assert_eq!(
            body(&service, &[0]),
            serde_json::json!({"entities": {"id": ["MAC000002"]}, "feature_service": "model_v1"})
        );
    }

    #[test]
    fn int64_keys_are_sent_as_numbers() {
        let keys = KeySpace::new(vec!["12".into(), "-7".into()], true).unwrap();
        let features = FeatureSelection::Features(vec!["v:f".into()]);
        let bodies = RequestBodies::new(&settings(features.clone(), 2), &keys);
        assert_eq!(
            body(&bodies, &[0, 1])["entities"]["id"],
            serde_json::json!([12, -7])
        );
        let grpc = GrpcTarget::new(
            "http://127.0.0.1:1",
            GrpcRpc::Feast,
            &settings(features, 1),
            &keys,
        )
        .unwrap();
        let request = grpc.request(&[1]);
        assert_eq!(
            request.entities["id"].val[0].val,
            Some(value::Val::Int64Val(-7))
        );
    }

    #[test]
    fn headers_ride_on_every_request_or_are_refused_by_name() {
        let keys = KeySpace::new(vec!["MAC000002".into()], false).unwrap();
        let features = FeatureSelection::Features(vec!["v:f".into()]);
        let mut settings = settings(features, 1);
        settings.access.headers = vec!["x-api-key: k1".parse().unwrap()];
        let grpc = GrpcTarget::new("http://127.0.0.1:1", GrpcRpc::Feast, &settings, &keys).unwrap();
        let call = grpc.call(&[0]);
        assert_eq!(call.metadata().get("x-api-key").unwrap(), "k1");
        let http = HttpTarget::new("http://127.0.0.1:1", &settings, &keys).unwrap();
        assert_eq!(http.headers[0].1, "k1");
        // A `-bin` key names binary gRPC metadata, which a text value cannot be.
        settings.access.headers = vec!["token-bin: abc".parse().unwrap()];
        let Err(error) = GrpcTarget::new("http://127.0.0.1:1", GrpcRpc::Feast, &settings, &keys)
        else {
            panic!("a -bin key was accepted");
        };
        assert!(
            error
                .to_string()
                .contains("`token-bin` is not valid gRPC metadata"),
            "{error}"
        );
        settings.access.headers.clear();
        settings.access.ca_cert = Some("ca.pem".into());
        let Err(error) = HttpTarget::new("http://127.0.0.1:1", &settings, &keys) else {
            panic!("a CA for http:// was accepted");
        };
        assert!(error.to_string().contains("is not https://"), "{error}");
    }
}

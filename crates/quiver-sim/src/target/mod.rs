//! [`Target`]: what receives the requests — the online store called directly,
//! the HTTP or gRPC server, or nothing (to measure the generator itself) — and
//! [`Connection`], one per worker, which sends one request and waits for it.
//! Over gRPC the workers may instead share a few HTTP/2 connections
//! ([`SharedConnection`]), their calls multiplexed, as the callers of one
//! gRPC channel share it in a production client.
//!
//! Both are enums rather than trait objects so the hot path has no boxing or
//! dynamic dispatch, and request bodies are built from pieces prepared once
//! per id before the run. This module dispatches; each transport's client is
//! its own module (`http`, `grpc`), and `tls` is the TLS client both use.

mod grpc;
mod http;
mod tls;

pub use grpc::GrpcTarget;
pub use http::HttpTarget;

use crate::record::RequestError;
use crate::{KeySpace, SimError, SimSettings, TargetSpec};
use bytes::Bytes;
use grpc::grpc_send;
use http::http_send;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioIo;
use quiver_core::FeatureRepo;
use quiver_online::OnlineStore;
use quiver_online::error_chain;
use std::sync::Arc;
use tls::Tls;

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
    /// `GetOnlineFeatures` (or its columnar twin) over gRPC, one HTTP/2
    /// connection per worker, or a few shared by all.
    Grpc(Arc<GrpcTarget>),
    /// Answers every request at once, in process.
    Noop,
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
                let references = repo.resolve_features(&settings.features)?;
                let store = quiver_backends::open_online_store(repo).await?;
                let mut views: Vec<String> = Vec::new();
                for reference in &references {
                    if views.contains(&reference.view) {
                        continue;
                    }
                    if store.layout(&reference.view).await?.is_none() {
                        return Err(SimError::NotMaterialized {
                            view: reference.view.clone(),
                        });
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
            TargetSpec::Grpc {
                url,
                rpc,
                connections,
            } => Target::Grpc(Arc::new(GrpcTarget::new(
                url,
                *rpc,
                *connections,
                settings,
                keys,
            )?)),
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
            Target::Http(http) => Connection::Http {
                target: Arc::clone(http),
                sender: Some(first_connection(&http.address, http.tls.as_ref()).await?),
            },
            Target::Grpc(grpc) => Connection::Grpc {
                target: Arc::clone(grpc),
                sender: Some(first_connection(&grpc.address, grpc.tls.as_ref()).await?),
                shared: None,
            },
        })
    }

    /// The connections of `workers` workers: one each, or, for a gRPC
    /// target with shared connections, that many HTTP/2 connections dealt
    /// out in turn (worker `w` calls on connection `w % shared`).
    pub async fn connect_workers(&self, workers: usize) -> Result<Vec<Connection>, SimError> {
        if let Target::Grpc(grpc) = self
            && let Some(shared) = grpc.shared_connections
        {
            let mut pool = Vec::with_capacity(shared);
            for _ in 0..shared {
                let sender: http2::SendRequest<Full<Bytes>> =
                    first_connection(&grpc.address, grpc.tls.as_ref()).await?;
                pool.push((
                    sender.clone(),
                    Arc::new(SharedConnection {
                        current: tokio::sync::Mutex::new((0, sender)),
                    }),
                ));
            }
            return Ok((0..workers)
                .map(|worker| {
                    let (sender, shared) = &pool[worker % pool.len()];
                    Connection::Grpc {
                        target: Arc::clone(grpc),
                        sender: Some(sender.clone()),
                        shared: Some((Arc::clone(shared), 0)),
                    }
                })
                .collect());
        }
        let mut connections = Vec::with_capacity(workers);
        for _ in 0..workers {
            connections.push(self.connect().await?);
        }
        Ok(connections)
    }
}

/// An HTTP/2 connection several workers call on. When it breaks, the first
/// worker to find it broken opens its replacement and the others take that
/// one, so the run keeps as many connections as it was asked for.
///
/// Each connection is numbered (its generation): a worker whose call failed
/// on number `g` asks for a replacement of `g`, and gets the current one if
/// another worker replaced `g` already. hyper may only mark a broken
/// connection closed after its calls have seen the error, so "closed" alone
/// would hand a dying connection back.
pub struct SharedConnection {
    current: tokio::sync::Mutex<(u64, http2::SendRequest<Full<Bytes>>)>,
}

impl SharedConnection {
    /// The connection to call on, and its generation: the current one
    /// unless it is closed or is the `broken` one, else a new one, which
    /// becomes current.
    async fn open(
        &self,
        broken: Option<u64>,
        address: &str,
        tls: Option<&Tls>,
    ) -> Result<(u64, http2::SendRequest<Full<Bytes>>), RequestError> {
        let mut current = self.current.lock().await;
        let (generation, sender) = &mut *current;
        if !sender.is_closed() && broken != Some(*generation) {
            return Ok((*generation, sender.clone()));
        }
        *sender = connect(address, tls).await?;
        *generation += 1;
        Ok((*generation, sender.clone()))
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
        sender: Option<http1::SendRequest<Full<Bytes>>>,
    },
    /// An HTTP/2 connection for gRPC calls; `None` after it broke, reopened
    /// on the next request (through `shared`, when workers share it).
    Grpc {
        /// Address and prepared requests.
        target: Arc<GrpcTarget>,
        /// The open connection.
        sender: Option<http2::SendRequest<Full<Bytes>>>,
        /// The connection this worker shares with others, if it does, and
        /// the generation of it that `sender` is.
        shared: Option<(Arc<SharedConnection>, u64)>,
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
                        .map_err(|e| RequestError::Store(quiver_online::error_chain(&e)))?;
                }
                // The embedded store answers without ever waiting; see Noop.
                tokio::task::consume_budget().await;
                Ok(())
            }
            Connection::Http { target, sender } => {
                let open = open(sender, &target.address, target.tls.as_ref()).await?;
                let result = http_send(target, open, ids).await;
                forget_if_broken(sender, result)
            }
            Connection::Grpc {
                target,
                sender,
                shared,
            } => {
                if let Some((shared, generation)) = shared {
                    // Broken under this worker, or replaced by another one.
                    let stale = sender.as_ref().is_none_or(|s| s.is_closed());
                    if stale {
                        let broken = sender.is_none().then_some(*generation);
                        let (current, open) = shared
                            .open(broken, &target.address, target.tls.as_ref())
                            .await?;
                        (*generation, *sender) = (current, Some(open));
                    }
                }
                let open = open(sender, &target.address, target.tls.as_ref()).await?;
                let result = grpc_send(target, open, ids).await;
                forget_if_broken(sender, result)
            }
        }
    }

    /// Forgets a connection left in an unknown state by an abandoned request
    /// (a timeout); the next request opens a new one. Only HTTP/1.1's: over
    /// HTTP/2, dropping a call resets just its stream, and the connection
    /// carries the next call.
    pub fn reset(&mut self) {
        if let Connection::Http { sender, .. } = self {
            *sender = None;
        }
    }
}

/// A client protocol's handshake (HTTP/1.1 or HTTP/2) over an open
/// connection, giving the handle requests are sent on.
pub(super) trait Handshake: Sized {
    /// Handshakes over `io` and drives the connection in a task of its own.
    async fn over<T>(io: T) -> hyper::Result<Self>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static;
}

/// Drives a client connection in a task of its own until the sender is
/// dropped or the server closes it.
fn drive<F>(connection: F)
where
    F: std::future::Future + Send + 'static,
{
    tokio::spawn(async move {
        let _ = connection.await;
    });
}

/// A new connection to `address` (TCP with NODELAY, over TLS when `tls` is
/// given), after the protocol's handshake; failing, why, naming the address.
async fn connect<C: Handshake>(address: &str, tls: Option<&Tls>) -> Result<C, RequestError> {
    handshaken(address, tls)
        .await
        .map_err(|reason| RequestError::Connect(format!("{address}: {reason}")))
}

/// [`connect`]'s work; failing, why, without the address.
async fn handshaken<C: Handshake>(address: &str, tls: Option<&Tls>) -> Result<C, String> {
    let handshaken = match tls {
        None => {
            let stream = tokio::net::TcpStream::connect(address)
                .await
                .map_err(|e| e.to_string())?;
            let _ = stream.set_nodelay(true);
            C::over(TokioIo::new(stream)).await
        }
        Some(tls) => {
            let stream = tls.connect(address).await.map_err(|e| e.to_string())?;
            C::over(TokioIo::new(stream)).await
        }
    };
    handshaken.map_err(|e| error_chain(&e))
}

/// A worker's first connection; failing, the run does not start.
async fn first_connection<C: Handshake>(address: &str, tls: Option<&Tls>) -> Result<C, SimError> {
    handshaken(address, tls)
        .await
        .map_err(|reason| SimError::Connect {
            target: address.to_string(),
            reason,
        })
}

/// The open connection in `sender`, opened again first if it broke.
async fn open<'s, C: Handshake>(
    sender: &'s mut Option<C>,
    address: &str,
    tls: Option<&Tls>,
) -> Result<&'s mut C, RequestError> {
    if sender.is_none() {
        *sender = Some(connect(address, tls).await?);
    }
    Ok(sender.as_mut().expect("connected above"))
}

/// `result`, after forgetting the connection in `sender` if it broke
/// mid-request: the next request opens a new one.
fn forget_if_broken<C>(
    sender: &mut Option<C>,
    result: Result<(), RequestError>,
) -> Result<(), RequestError> {
    if matches!(result, Err(RequestError::Transport(_))) {
        *sender = None;
    }
    result
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

#[cfg(test)]
mod tests {
    use super::http::RequestBodies;
    use super::*;
    use crate::{FeatureSelection, GrpcRpc, KeyDistribution, LoadModel, StopCondition};
    use prost::Message;
    use quiver_proto::serving::get_online_features_request::Kind;
    use quiver_proto::serving::{
        FeatureList, GetOnlineFeaturesRequest, RepeatedValue, Value, value,
    };
    use std::collections::HashMap;
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
            None,
            &settings(features, 1),
            &keys,
        )
        .unwrap();
        let request = grpc_request(&grpc, &[1]);
        assert_eq!(
            request.entities["id"].val[0].val,
            Some(value::Val::Int64Val(-7))
        );
    }

    /// The message `grpc` sends for `ids`, decoded as the server decodes it,
    /// after checking its frame.
    fn grpc_request(grpc: &GrpcTarget, ids: &[u32]) -> GetOnlineFeaturesRequest {
        let framed = grpc.message(ids);
        assert_eq!(framed[0], 0, "not compressed");
        let length = u32::from_be_bytes(framed[1..5].try_into().unwrap()) as usize;
        assert_eq!(length, framed.len() - 5, "the frame's length");
        GetOnlineFeaturesRequest::decode(&framed[5..]).unwrap()
    }

    #[test]
    fn grpc_messages_assembled_from_pieces_decode_to_the_request() {
        let keys = KeySpace::new(vec!["MAC000002".into(), "a\"b".into()], false).unwrap();
        let string = |id: &str| Value {
            val: Some(value::Val::StringVal(id.to_string())),
        };
        for (selection, kind) in [
            (
                FeatureSelection::Features(vec!["v:f".into(), "v:g".into()]),
                Kind::Features(FeatureList {
                    val: vec!["v:f".into(), "v:g".into()],
                }),
            ),
            (
                FeatureSelection::Service("model_v1".into()),
                Kind::FeatureService("model_v1".into()),
            ),
        ] {
            let grpc = GrpcTarget::new(
                "http://127.0.0.1:1",
                GrpcRpc::Columnar,
                None,
                &settings(selection, 3),
                &keys,
            )
            .unwrap();
            for (ids, values) in [
                (vec![0], vec![string("MAC000002")]),
                (
                    vec![1, 0, 1],
                    vec![string("a\"b"), string("MAC000002"), string("a\"b")],
                ),
            ] {
                assert_eq!(
                    grpc_request(&grpc, &ids),
                    GetOnlineFeaturesRequest {
                        entities: HashMap::from([(
                            "id".to_string(),
                            RepeatedValue { val: values }
                        )]),
                        kind: Some(kind.clone()),
                        ..Default::default()
                    }
                );
            }
        }
    }

    #[test]
    fn headers_ride_on_every_request_or_are_refused_by_name() {
        let keys = KeySpace::new(vec!["MAC000002".into()], false).unwrap();
        let features = FeatureSelection::Features(vec!["v:f".into()]);
        let mut settings = settings(features, 1);
        settings.access.headers = vec!["x-api-key: k1".parse().unwrap()];
        let grpc =
            GrpcTarget::new("http://127.0.0.1:1", GrpcRpc::Feast, None, &settings, &keys).unwrap();
        let call = grpc.call(&[0]);
        assert_eq!(call.headers()["x-api-key"], "k1");
        assert_eq!(call.headers()["content-type"], "application/grpc");
        assert_eq!(
            call.uri().to_string(),
            "http://127.0.0.1:1/quiver.serving.v1.ServingService/GetOnlineFeatures"
        );
        let http = HttpTarget::new("http://127.0.0.1:1", &settings, &keys).unwrap();
        assert_eq!(http.headers[0].1, "k1");
        // A `-bin` key names binary gRPC metadata, which a text value cannot be.
        settings.access.headers = vec!["token-bin: abc".parse().unwrap()];
        let Err(error) =
            GrpcTarget::new("http://127.0.0.1:1", GrpcRpc::Feast, None, &settings, &keys)
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

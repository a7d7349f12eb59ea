//! Test targets: an axum HTTP server and a tonic gRPC server, each on its own
//! port, that answer in a known way: at once, after a fixed sleep, with a slow
//! answer every n-th request, with one server-wide stall, or with an error.
//! The gRPC server also counts the calls each client connection carries. A
//! [`BreakingProxy`] in front of either breaks every connection through it
//! when told to.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use quiver_proto::serving::serving_service_server::{ServingService, ServingServiceServer};
use quiver_proto::serving::{
    GetOnlineFeaturesColumnarResponse, GetOnlineFeaturesRequest, GetOnlineFeaturesResponse,
    GetServerInfoRequest, GetServerInfoResponse,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a test server answers.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// At once.
    Instant,
    /// After sleeping this long.
    Sleep(Duration),
    /// Every `every`-th request sleeps `slow`, the others `fast`.
    EveryNth {
        every: u64,
        fast: Duration,
        slow: Duration,
    },
    /// At once, except that request number `at` freezes the whole server for
    /// `stall`: every request that arrives during it waits for its end.
    StallOnce { at: u64, stall: Duration },
    /// With this HTTP status (gRPC: UNAVAILABLE for 503).
    Status(u16),
}

/// A running test server.
pub struct TestServer {
    /// Base URL.
    pub url: String,
    /// Requests received.
    pub requests: Arc<AtomicU64>,
    /// Requests that took the slow path of [`Behaviour::EveryNth`].
    pub slow_requests: Arc<AtomicU64>,
    /// gRPC only: per client connection (its address), the calls it
    /// carried and the most it carried at once.
    pub connections: Arc<Mutex<HashMap<SocketAddr, ConnectionLoad>>>,
}

/// The calls one client connection carried.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectionLoad {
    /// Calls in all.
    pub calls: u64,
    /// Calls being answered now.
    pub in_flight: u64,
    /// The most calls it had in flight at once.
    pub most_in_flight: u64,
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    requests: Arc<AtomicU64>,
    slow_requests: Arc<AtomicU64>,
    stalled_until: Arc<Mutex<Option<Instant>>>,
}

impl Shared {
    fn new(behaviour: Behaviour) -> Shared {
        Shared {
            behaviour,
            requests: Arc::new(AtomicU64::new(0)),
            slow_requests: Arc::new(AtomicU64::new(0)),
            stalled_until: Arc::new(Mutex::new(None)),
        }
    }

    /// Waits as the behaviour says; the error status to answer with, if any.
    async fn behave(&self) -> Option<u16> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        match self.behaviour {
            Behaviour::Instant => None,
            Behaviour::Sleep(d) => {
                tokio::time::sleep(d).await;
                None
            }
            Behaviour::EveryNth { every, fast, slow } => {
                if n.is_multiple_of(every) {
                    self.slow_requests.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(slow).await;
                } else {
                    tokio::time::sleep(fast).await;
                }
                None
            }
            Behaviour::StallOnce { at, stall } => {
                let until = {
                    let mut stalled = self.stalled_until.lock().unwrap();
                    if n == at {
                        *stalled = Some(Instant::now() + stall);
                    }
                    *stalled
                };
                if let Some(until) = until
                    && Instant::now() < until
                {
                    tokio::time::sleep_until(until.into()).await;
                }
                None
            }
            Behaviour::Status(code) => Some(code),
        }
    }

    fn into_parts(self) -> (Arc<AtomicU64>, Arc<AtomicU64>) {
        (self.requests, self.slow_requests)
    }
}

/// Starts an HTTP server answering `POST /get-online-features` like `quiver serve`.
pub async fn http(behaviour: Behaviour) -> TestServer {
    let shared = Shared::new(behaviour);
    let app = axum::Router::new()
        .route("/get-online-features", axum::routing::post(handle_http))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (requests, slow_requests) = shared.into_parts();
    TestServer {
        url,
        requests,
        slow_requests,
        connections: Arc::default(),
    }
}

async fn handle_http(State(shared): State<Shared>, body: Bytes) -> Response {
    // The request must be Feast-shaped JSON: the generator's bodies are checked here.
    let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&body);
    let ids = match parsed
        .as_ref()
        .ok()
        .and_then(|v| v["entities"]["id"].as_array())
    {
        Some(ids) if !ids.is_empty() => ids.len(),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                r#"{"error":"entities.id must be a non-empty list"}"#,
            )
                .into_response();
        }
    };
    if parsed
        .as_ref()
        .ok()
        .and_then(|v| v["features"].as_array())
        .is_none()
    {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error":"features is required"}"#,
        )
            .into_response();
    }
    // Like `quiver serve` (and Feast): an id asked for twice is a client error.
    let listed = parsed.as_ref().unwrap()["entities"]["id"]
        .as_array()
        .unwrap();
    let distinct: std::collections::HashSet<String> =
        listed.iter().map(|v| v.to_string()).collect();
    if distinct.len() != listed.len() {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error":"an id is requested twice"}"#,
        )
            .into_response();
    }
    if let Some(code) = shared.behave().await {
        let status = StatusCode::from_u16(code).unwrap();
        return (status, r#"{"error":"overloaded"}"#).into_response();
    }
    let values = vec!["1.5"; ids].join(",");
    let statuses = vec!["\"PRESENT\""; ids].join(",");
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        format!(
            r#"{{"metadata":{{"feature_names":["id","energy_sum_3months"]}},"results":[{{"values":[{values}],"statuses":[{statuses}]}}]}}"#
        ),
    )
        .into_response()
}

struct Grpc {
    shared: Shared,
    connections: Arc<Mutex<HashMap<SocketAddr, ConnectionLoad>>>,
}

impl Grpc {
    /// What both feature RPCs do: refuse a request without ids or features,
    /// then behave as told, counting the call on its connection.
    async fn answer(
        &self,
        call: &tonic::Request<GetOnlineFeaturesRequest>,
    ) -> Result<(), tonic::Status> {
        let request = call.get_ref();
        let ids = request.entities.get("id").map_or(0, |v| v.val.len());
        if ids == 0 || request.kind.is_none() {
            return Err(tonic::Status::invalid_argument(
                "entities.id and features are required",
            ));
        }
        let peer = call.remote_addr().expect("served over TCP");
        {
            let mut connections = self.connections.lock().unwrap();
            let load = connections.entry(peer).or_default();
            load.calls += 1;
            load.in_flight += 1;
            load.most_in_flight = load.most_in_flight.max(load.in_flight);
        }
        let behaved = self.shared.behave().await;
        self.connections
            .lock()
            .unwrap()
            .get_mut(&peer)
            .expect("entered above")
            .in_flight -= 1;
        match behaved {
            Some(503) => Err(tonic::Status::unavailable("overloaded")),
            Some(code) => Err(tonic::Status::internal(format!("status {code}"))),
            None => Ok(()),
        }
    }
}

#[tonic::async_trait]
impl ServingService for Grpc {
    async fn get_online_features(
        &self,
        request: tonic::Request<GetOnlineFeaturesRequest>,
    ) -> Result<tonic::Response<GetOnlineFeaturesResponse>, tonic::Status> {
        self.answer(&request).await?;
        Ok(tonic::Response::new(GetOnlineFeaturesResponse::default()))
    }

    async fn get_online_features_columnar(
        &self,
        request: tonic::Request<GetOnlineFeaturesRequest>,
    ) -> Result<tonic::Response<GetOnlineFeaturesColumnarResponse>, tonic::Status> {
        self.answer(&request).await?;
        Ok(tonic::Response::new(
            GetOnlineFeaturesColumnarResponse::default(),
        ))
    }

    async fn get_server_info(
        &self,
        _: tonic::Request<GetServerInfoRequest>,
    ) -> Result<tonic::Response<GetServerInfoResponse>, tonic::Status> {
        Ok(tonic::Response::new(GetServerInfoResponse {
            version: "test".to_string(),
        }))
    }
}

/// Starts a gRPC `ServingService`.
pub async fn grpc(behaviour: Behaviour) -> TestServer {
    let shared = Shared::new(behaviour);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(Mutex::new(HashMap::new()));
    let service = ServingServiceServer::new(Grpc {
        shared: shared.clone(),
        connections: Arc::clone(&connections),
    });
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap()
    });
    let (requests, slow_requests) = shared.into_parts();
    TestServer {
        url,
        requests,
        slow_requests,
        connections,
    }
}

/// A TCP proxy to a test server that breaks, when told to, every connection
/// open through it at that moment; connections made afterwards go through.
/// The server sees one connection of its own per client connection.
pub struct BreakingProxy {
    /// Base URL of the proxy.
    pub url: String,
    breaks: tokio::sync::watch::Sender<u64>,
}

impl BreakingProxy {
    /// Breaks every connection open now, as a crashed peer or a dropped
    /// network path would: both sockets close mid-call.
    pub fn break_all(&self) {
        self.breaks.send_modify(|generation| *generation += 1);
    }
}

/// Starts a [`BreakingProxy`] in front of `server`.
pub async fn breaking_proxy(server: &TestServer) -> BreakingProxy {
    let upstream = server
        .url
        .strip_prefix("http://")
        .expect("test servers are plain HTTP")
        .to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (breaks, _) = tokio::sync::watch::channel(0u64);
    let subscribe = breaks.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let mut broken = subscribe.subscribe();
            broken.mark_unchanged();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                // Whichever ends first; dropping both streams closes them.
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = broken.changed() => {}
                }
            });
        }
    });
    BreakingProxy { url, breaks }
}

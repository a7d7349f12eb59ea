//! The gRPC face: `quiver.serving.v1.ServingService` over the same
//! [`Core`](crate::lookup::Core) as HTTP, with the same limits, credentials
//! and error messages (as `INVALID_ARGUMENT`, `NOT_FOUND` …). Two answers to
//! one request: Feast's shape (a `Value` message per cell) and a columnar
//! one (a typed array per column), which costs both sides far less per value.
//! Both answers are written as bytes by [`grpc_answers`](crate::grpc_answers).

use crate::grpc_answers;
use crate::lookup::Answer;
use crate::metrics::EndpointMetrics;
use crate::request::{EntityId, FeatureRequest, FeatureSelection, RequestLimits};
use crate::state::AppState;
use crate::{ServeError, auth::Credentials};
use quiver_proto::serving::get_online_features_request::Kind;
use quiver_proto::serving::serving_service_server::{ServingService, ServingServiceServer};
use quiver_proto::serving::{
    GetOnlineFeaturesColumnarResponse, GetOnlineFeaturesRequest, GetOnlineFeaturesResponse,
    GetServerInfoRequest, GetServerInfoResponse, value,
};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};

/// The service implementation.
pub(crate) struct GrpcService {
    state: Arc<AppState>,
}

/// The service's routes, each behind the credentials check: the generated
/// service for every method, and before it the feature methods' own routes
/// ([`grpc_answers`](crate::grpc_answers)), which write their answers
/// without building prost messages.
pub(crate) fn routes(state: Arc<AppState>, max_message_bytes: usize) -> tonic::service::Routes {
    let credentials: Credentials = state.credentials.clone();
    let check = move |request: Request<()>| {
        let metadata = request.metadata();
        let allowed = credentials.allows(
            metadata.get("x-api-key").map(|v| v.as_bytes()),
            metadata.get("authorization").map(|v| v.as_bytes()),
        );
        if allowed {
            Ok(request)
        } else {
            Err(ServeError::Unauthorized.to_status())
        }
    };
    let service = Arc::new(GrpcService { state });
    let generated = InterceptedService::new(
        ServingServiceServer::from_arc(service.clone())
            .max_decoding_message_size(max_message_bytes),
        check.clone(),
    );
    let mut routes = tonic::service::Routes::new(generated);
    let router = routes.axum_router_mut();
    let mut with_answers = std::mem::take(router);
    for (path, route) in grpc_answers::routes(&service, max_message_bytes) {
        // matchit prefers a static path to the service's `{*rest}`.
        with_answers =
            with_answers.route_service(path, InterceptedService::new(route, check.clone()));
    }
    *router = with_answers;
    routes
}

impl GrpcService {
    pub(crate) fn state(&self) -> &AppState {
        &self.state
    }

    /// Admits, parses and answers `request`, encoding the answer with
    /// `encode`, and records the call in `metrics`: what both feature RPCs
    /// share.
    pub(crate) async fn answer<T>(
        &self,
        request: &GetOnlineFeaturesRequest,
        metrics: &EndpointMetrics,
        encode: impl FnOnce(&Answer<'_>) -> Result<T, ServeError>,
    ) -> Result<Response<T>, Status> {
        let started = Instant::now();
        let result = async {
            let _permit = self.state.admit()?;
            let request = feature_request(request, &self.state.core.limits())?;
            let answer = self.state.core.get_online_features(&request).await?;
            encode(&answer)
        }
        .await;
        metrics.record(
            started.elapsed(),
            result.as_ref().err().map(ServeError::code),
        );
        match result {
            Ok(response) => Ok(Response::new(response)),
            Err(error) => {
                if error.class() == crate::ErrorClass::Internal {
                    tracing::error!(error = %quiver_online::error_chain(&error), "Request failed.");
                }
                Err(error.to_status())
            }
        }
    }
}

#[tonic::async_trait]
impl ServingService for GrpcService {
    /// Never called: [`grpc_answers::routes`] answers this method first.
    /// An error, not a second implementation, so that a route that stopped
    /// matching fails the tests instead of quietly taking the slow path.
    async fn get_online_features(
        &self,
        _request: Request<GetOnlineFeaturesRequest>,
    ) -> Result<Response<GetOnlineFeaturesResponse>, Status> {
        Err(not_routed("GetOnlineFeatures"))
    }

    /// Never called, as [`get_online_features`](Self::get_online_features).
    async fn get_online_features_columnar(
        &self,
        _request: Request<GetOnlineFeaturesRequest>,
    ) -> Result<Response<GetOnlineFeaturesColumnarResponse>, Status> {
        Err(not_routed("GetOnlineFeaturesColumnar"))
    }

    async fn get_server_info(
        &self,
        _request: Request<GetServerInfoRequest>,
    ) -> Result<Response<GetServerInfoResponse>, Status> {
        Ok(Response::new(GetServerInfoResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }
}

/// The protobuf request as the transport-independent one, borrowing its
/// strings, within the same limits as a JSON body (checked before anything
/// is copied).
fn feature_request<'p>(
    proto: &'p GetOnlineFeaturesRequest,
    limits: &RequestLimits<'_>,
) -> Result<FeatureRequest<'p>, ServeError> {
    let selection = match &proto.kind {
        Some(Kind::FeatureService(name)) => FeatureSelection::Service(Cow::Borrowed(name)),
        Some(Kind::Features(list)) => {
            if list.val.len() > limits.max_features {
                return Err(ServeError::TooManyFeatures {
                    max: limits.max_features,
                });
            }
            FeatureSelection::Features(list.val.iter().map(|f| Cow::Borrowed(f.as_str())).collect())
        }
        None => return Err(ServeError::FeatureSelection),
    };
    for (key, values) in &proto.entities {
        if !limits.allows_join_key(key) {
            return Err(limits.unknown_join_key(key));
        }
        if values.val.len() > limits.max_ids {
            return Err(ServeError::TooManyIds {
                key: key.clone(),
                max: limits.max_ids,
            });
        }
    }
    let mut entities = Vec::with_capacity(proto.entities.len());
    for (key, values) in &proto.entities {
        let ids = values
            .val
            .iter()
            .map(|v| match &v.val {
                Some(value::Val::StringVal(text)) => Ok(EntityId::Text(Cow::Borrowed(text))),
                Some(value::Val::Int64Val(i)) => Ok(EntityId::Int(*i)),
                other => Err(ServeError::InvalidEntityId {
                    key: key.clone(),
                    expected: "string_val or int64_val values",
                    got: match other {
                        None => "an empty Value".to_string(),
                        Some(other) => format!("{other:?}"),
                    },
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        entities.push((Cow::Borrowed(key.as_str()), ids));
    }
    Ok(FeatureRequest {
        selection,
        entities,
        full_feature_names: proto.full_feature_names,
        include_event_timestamps: proto.include_event_timestamps,
    })
}

/// What a shadowed generated handler answers (see `get_online_features`).
fn not_routed(method: &str) -> Status {
    Status::internal(format!(
        "{method} is served by its own route, which did not match"
    ))
}

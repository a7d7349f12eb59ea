//! The gRPC face: `quiver.serving.v1.ServingService` over the same
//! [`Core`](crate::lookup::Core) as HTTP, with the same limits, credentials
//! and error messages (as `INVALID_ARGUMENT`, `NOT_FOUND` …). Two answers to
//! one request: Feast's shape (a `Value` message per cell) and a columnar
//! one (a typed array per column), which costs both sides far less per value
//! and is written by [`grpc_columnar`](crate::grpc_columnar).

use crate::grpc_columnar;
use crate::lookup::{Answer, Cell};
use crate::metrics::EndpointMetrics;
use crate::request::{EntityId, FeatureRequest, FeatureSelection, RequestLimits};
use crate::state::AppState;
use crate::{ServeError, auth::Credentials};
use quiver_online::FeatureValue;
use quiver_proto::serving::get_online_features_request::Kind;
use quiver_proto::serving::get_online_features_response::FeatureVector;
use quiver_proto::serving::serving_service_server::{ServingService, ServingServiceServer};
use quiver_proto::serving::{
    FeatureList, FieldStatus, GetOnlineFeaturesColumnarResponse, GetOnlineFeaturesRequest,
    GetOnlineFeaturesResponse, GetOnlineFeaturesResponseMetadata, GetServerInfoRequest,
    GetServerInfoResponse, Value, value,
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
/// service for every method, and before it the columnar method's own route
/// ([`grpc_columnar`](crate::grpc_columnar)), which writes its answer
/// without building a prost message.
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
    let columnar = InterceptedService::new(grpc_columnar::route(service, max_message_bytes), check);
    let mut routes = tonic::service::Routes::new(generated);
    let router = routes.axum_router_mut();
    // matchit prefers the static path to the service's `{*rest}`.
    *router = std::mem::take(router).route_service(grpc_columnar::PATH, columnar);
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
    async fn get_online_features(
        &self,
        request: Request<GetOnlineFeaturesRequest>,
    ) -> Result<Response<GetOnlineFeaturesResponse>, Status> {
        self.answer(request.get_ref(), &self.state.grpc_online, |answer| {
            Ok(response(answer))
        })
        .await
    }

    /// Never called: [`grpc_columnar::route`] answers this method first.
    /// An error, not a second implementation, so that a route that stopped
    /// matching fails the tests instead of quietly taking the slow path.
    async fn get_online_features_columnar(
        &self,
        _request: Request<GetOnlineFeaturesRequest>,
    ) -> Result<Response<GetOnlineFeaturesColumnarResponse>, Status> {
        Err(Status::internal(
            "GetOnlineFeaturesColumnar is served by its own route, which did not match",
        ))
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

fn response(answer: &Answer<'_>) -> GetOnlineFeaturesResponse {
    let plan = &answer.plan;
    let mut names = Vec::with_capacity(plan.key_columns.len() + plan.columns.len());
    names.extend(plan.key_columns.iter().map(|k| k.name.clone()));
    names.extend((0..plan.columns.len()).map(|c| answer.feature_name(c).to_string()));
    let mut results = Vec::with_capacity(names.len());
    for ids in &answer.ids {
        results.push(FeatureVector {
            values: ids
                .iter()
                .map(|id| Value {
                    val: Some(match id {
                        EntityId::Text(text) => value::Val::StringVal(text.to_string()),
                        EntityId::Int(i) => value::Val::Int64Val(*i),
                    }),
                })
                .collect(),
            statuses: vec![FieldStatus::Present as i32; ids.len()],
            event_timestamps: if answer.include_event_timestamps {
                vec![prost_types::Timestamp::default(); ids.len()]
            } else {
                Vec::new()
            },
        });
    }
    for column in 0..plan.columns.len() {
        let mut vector = FeatureVector {
            values: Vec::with_capacity(answer.rows),
            statuses: Vec::with_capacity(answer.rows),
            event_timestamps: Vec::new(),
        };
        for row in 0..answer.rows {
            let cell = answer.cell(column, row);
            let (value, status, time) = match cell {
                Cell::Present(value, time) => (proto_value(value), FieldStatus::Present, time),
                Cell::Null(time) => (None, FieldStatus::NullValue, time),
                Cell::NotFound => (None, FieldStatus::NotFound, 0),
                Cell::OutsideMaxAge(time) => (None, FieldStatus::OutsideMaxAge, time),
            };
            vector.values.push(Value { val: value });
            vector.statuses.push(status as i32);
            if answer.include_event_timestamps {
                vector.event_timestamps.push(timestamp(time));
            }
        }
        results.push(vector);
    }
    GetOnlineFeaturesResponse {
        metadata: Some(GetOnlineFeaturesResponseMetadata {
            feature_names: Some(FeatureList { val: names }),
        }),
        results,
    }
}

fn proto_value(value: &FeatureValue) -> Option<value::Val> {
    Some(match value {
        FeatureValue::Null => return None,
        FeatureValue::Bool(b) => value::Val::BoolVal(*b),
        FeatureValue::Int64(i) => value::Val::Int64Val(*i),
        FeatureValue::Float64(f) => value::Val::DoubleVal(*f),
        FeatureValue::String(s) => value::Val::StringVal(s.clone()),
        FeatureValue::Date(d) => value::Val::DateVal(*d),
        FeatureValue::Timestamp(t) => value::Val::UnixTimestampMicrosVal(*t),
    })
}

fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
    }
}

//! The HTTP/JSON face: the axum router, its handlers, and the middleware
//! for credentials and bounded concurrency. Every response that is not a
//! success is `{"error": {"code", "message"}}` with the status of
//! [`ErrorClass`](crate::ErrorClass), including axum's own rejections.

use crate::request::FeatureRequest;
use crate::state::AppState;
use crate::table_versions::TableVersion;
use crate::{ServeError, json};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use quiver_online::error_chain;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The OpenAPI document served at `/openapi.json`, kept by hand next to the
/// code and checked against the router by a test.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The routes. `/health` needs no credentials; everything else does when auth is on.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let data = Router::new()
        .route("/features/{view}/{id}", get(get_entity))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            limit_concurrency,
        ))
        // Admitted once its body is in, by the handler: a body that
        // trickles in must not hold one of `max_concurrent_requests`.
        .route("/get-online-features", post(get_online_features));
    let protected = data
        .route("/ready", get(ready))
        .route("/metrics", get(prometheus))
        .route("/openapi.json", get(openapi))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_credentials,
        ));
    Router::new()
        .route("/health", get(health))
        .merge(protected)
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let class = self.class();
        if class == crate::ErrorClass::Internal {
            tracing::error!(error = %error_chain(&self), "Request failed.");
        }
        let status =
            StatusCode::from_u16(class.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, json_body(self.to_json())).into_response();
        let headers = response.headers_mut();
        match self {
            ServeError::Overloaded { .. }
            | ServeError::Store(quiver_online::OnlineError::Unavailable { .. }) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ServeError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

fn json_body(bytes: Vec<u8>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
}

async fn get_online_features(State(state): State<Arc<AppState>>, body: Body) -> Response {
    let started = Instant::now();
    let result = async {
        let bytes = read_body(body, &state).await?;
        let _permit = state.admit()?;
        let request = FeatureRequest::from_json(&bytes, &state.core.limits())?;
        let answer = state.core.get_online_features(&request).await?;
        let mut out = Vec::new();
        json::write_answer(&answer, &mut out);
        Ok::<_, ServeError>(out)
    }
    .await;
    state.http_online.record(
        started.elapsed(),
        result.as_ref().err().map(ServeError::code),
    );
    match result {
        Ok(out) => json_body(out).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn get_entity(
    State(state): State<Arc<AppState>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let started = Instant::now();
    let result = async {
        let Path((view, id)) = path.map_err(|rejection| ServeError::MalformedRequest {
            reason: rejection.body_text(),
        })?;
        let answer = state.core.get_entity(&view, &id).await?;
        let mut out = Vec::with_capacity(1024);
        json::write_entity(&answer, &mut out);
        Ok::<_, ServeError>(out)
    }
    .await;
    state.http_entity.record(
        started.elapsed(),
        result.as_ref().err().map(ServeError::code),
    );
    match result {
        Ok(out) => json_body(out).into_response(),
        Err(error) => error.into_response(),
    }
}

/// The body, at most `max_body_bytes`, within the body timeout. A body that
/// is not in when the headers are (a large or slow one) first reserves its
/// length from the [`BodyBudget`](crate::state::BodyBudget), waiting while the budget is spent, so
/// slow clients together never make the server hold more than
/// `max_buffered_body_bytes`; a body that arrived with its headers, the
/// usual case, takes neither a timer nor the budget.
async fn read_body(body: Body, state: &AppState) -> Result<Bytes, ServeError> {
    let (max, timeout) = (state.max_body_bytes, state.body_timeout);
    let expected = axum::body::HttpBody::size_hint(&body)
        .upper()
        .map_or(max, |n| usize::try_from(n).unwrap_or(max).min(max));
    let mut collect = std::pin::pin!(Limited::new(body, max).collect());
    let collected = match futures::poll!(collect.as_mut()) {
        std::task::Poll::Ready(collected) => Ok(collected),
        std::task::Poll::Pending => {
            let _arriving = state.body_budget.start_arriving();
            tokio::time::timeout(timeout, async {
                let _reserved = state.body_budget.reserve(expected).await;
                collect.await
            })
            .await
        }
    };
    match collected {
        Err(_) => Err(ServeError::BodyTimeout {
            seconds: timeout.as_secs_f64(),
        }),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<LengthLimitError>() => Err(ServeError::BodyTooLarge { max }),
        Ok(Err(error)) => Err(ServeError::MalformedRequest {
            reason: format!("the body could not be read: {error}"),
        }),
    }
}

async fn health() -> Response {
    json_body(br#"{"status":"ok"}"#.to_vec()).into_response()
}

/// Ready once the store is open and the definitions loaded (which `bind`
/// did before any request), until shutdown begins. Lists each view and
/// whether the online store has rows for it.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    // Ready means: not shutting down, and the online store answers now. A
    // store that is down makes the server unready (a load balancer stops
    // sending it traffic) until the store is back, with no restart.
    let store = state.core.store.check().await;
    let mut views: Vec<(String, serde_json::Value)> = Vec::new();
    if store.is_ok() {
        let names: Vec<&str> = state
            .core
            .catalog
            .views()
            .map(|v| v.name.as_str())
            .collect();
        let tables = state.table_versions.latest(&names).await;
        for name in names {
            let table = tables.as_ref().and_then(|t| t.get(name));
            views.push((name.to_string(), view_readiness(&state, name, table).await));
        }
    }
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let shutting_down = !state.ready.load(Ordering::Relaxed);
    let status = match (&store, shutting_down) {
        (_, true) => "shutting_down",
        (Err(_), false) => "store_unavailable",
        (Ok(()), false) => "ready",
    };
    let mut body = serde_json::json!({
        "status": status,
        "views": views
            .iter()
            .map(|(_, view)| view)
            .collect::<Vec<_>>(),
    });
    if let Err(error) = &store {
        body["store_error"] = serde_json::Value::String(error_chain(error));
    }
    let code = if status == "ready" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, json_body(body.to_string().into_bytes())).into_response()
}

/// One view's line of `/ready`: whether it has online rows, and whether they
/// reflect the latest version of its offline table. A lagging view does not
/// make the server unready: its rows are older than they could be, not
/// wrong, and turning traffic away would serve nothing instead. Without a
/// source of table versions, only `materialized` is known.
async fn view_readiness(
    state: &AppState,
    view: &str,
    table: Option<&TableVersion>,
) -> serde_json::Value {
    let store = &state.core.store;
    let materialized = matches!(store.layout(view).await, Ok(Some(_)));
    let mut line = serde_json::json!({ "name": view, "materialized": materialized });
    let Some(table) = table else {
        return line;
    };
    let online = match store.offline_version(view).await {
        Ok(online) => online,
        Err(error) => {
            line["online_version_error"] = error_chain(&error).into();
            return line;
        }
    };
    line["online_version"] = online.into();
    match table {
        Ok(offline) => {
            line["offline_version"] = (*offline).into();
            line["lagging"] = offline.is_some_and(|table| online != Some(table)).into();
        }
        Err(reason) => line["offline_version_error"] = reason.as_str().into(),
    }
    line
}

async fn prometheus() -> Response {
    let text = crate::metrics::recorder().map_or_else(String::new, |h| h.render());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}

async fn openapi() -> Response {
    json_body(OPENAPI.as_bytes().to_vec()).into_response()
}

async fn no_route(uri: Uri) -> Response {
    ServeError::NoRoute {
        path: uri.path().to_string(),
    }
    .into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ServeError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
    .into_response()
}

async fn require_credentials(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let allowed = state.credentials.allows(
        headers.get("x-api-key").map(HeaderValue::as_bytes),
        headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
    );
    if allowed {
        next.run(request).await
    } else {
        ServeError::Unauthorized.into_response()
    }
}

/// A fast 503 when `max_concurrent_requests` are in flight, instead of a queue.
async fn limit_concurrency(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    match state.admit() {
        Ok(_permit) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

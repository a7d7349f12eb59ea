//! [`ServeError`]: everything a request can fail with, and the one place an
//! error becomes an HTTP status, a gRPC code and a stable machine-readable code.
//!
//! [`StartupError`] is what can stop the server from starting at all.

use quiver_core::ReferenceError;
use quiver_online::OnlineError;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a request was refused or failed. Every variant but [`ServeError::Store`]
/// is the client's doing and maps to a 4xx status; messages name the problem.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A feature reference, view or service the repository does not define
    /// (resolved by quiver-core, the one place such names are checked).
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The same feature appears twice in `features`.
    #[error("feature `{reference}` is requested twice")]
    DuplicateFeature {
        /// The repeated reference.
        reference: String,
    },
    /// Two requested views have a feature of the same name and the response
    /// would have two columns called the same.
    #[error(
        "feature name `{name}` is in several requested views ({views}); set `full_feature_names` to name columns `view__feature`"
    )]
    AmbiguousFeatureName {
        /// The shared name.
        name: String,
        /// The views declaring it.
        views: String,
    },
    /// Neither or both of `features` and `feature_service` were given.
    #[error("give exactly one of `features` (a list of `view:feature`) and `feature_service`")]
    FeatureSelection,
    /// `features` is an empty list.
    #[error("`features` is empty; name at least one `view:feature`")]
    NoFeatures,
    /// The body is not JSON, or not the request's shape.
    #[error("malformed request: {reason}")]
    MalformedRequest {
        /// The parser's report, with line and column.
        reason: String,
    },
    /// A requested view's entity key has no ids in `entities`.
    #[error("`entities` has no `{key}`; feature view `{view}` is keyed by it")]
    MissingEntityKey {
        /// The join key needed.
        key: String,
        /// A view that needs it.
        view: String,
    },
    /// `entities` has a key no requested view uses.
    #[error(
        "`entities` has `{key}`, which no requested feature view is keyed by (they use: {expected})"
    )]
    UnexpectedEntityKey {
        /// The key sent.
        key: String,
        /// The join keys the requested views use.
        expected: String,
    },
    /// `entities` has a key that no entity of the repository has; refused
    /// as the parse reaches it, before any later key is read.
    #[error(
        "`entities` has `{key}`, which is no join key of this repository's entities (they have: {known})"
    )]
    UnknownEntityKey {
        /// The key sent.
        key: String,
        /// The repository's join keys, comma-separated.
        known: String,
    },
    /// An id of the wrong type (an object, a float, a string for an integer key …).
    #[error("ids of `{key}` must be {expected}; got {got}")]
    InvalidEntityId {
        /// The join key.
        key: String,
        /// What the entity's type allows.
        expected: &'static str,
        /// What was sent.
        got: String,
    },
    /// An empty id list.
    #[error("`{key}` has no ids; ask for at least one")]
    EmptyEntityIds {
        /// The join key.
        key: String,
    },
    /// The same id twice in one list.
    #[error("id `{id}` of `{key}` is requested twice")]
    DuplicateEntityId {
        /// The join key.
        key: String,
        /// The repeated id.
        id: String,
    },
    /// Id lists of different lengths for different join keys.
    #[error("`entities` lists have different lengths ({lengths}); each row needs every key")]
    MismatchedEntityLengths {
        /// `key: n` for each key.
        lengths: String,
    },
    /// More ids than `max_ids_per_request` for one join key; refused as
    /// the parse reaches the first id over.
    #[error("`{key}` lists more than {max} ids; this server answers at most {max} per request")]
    TooManyIds {
        /// The join key.
        key: String,
        /// The configured limit.
        max: usize,
    },
    /// `features` lists more references than the repository has features,
    /// so some must repeat or not exist; refused as the parse reaches it.
    #[error(
        "`features` lists more than {max} references, and the repository defines only {max} features; name each at most once"
    )]
    TooManyFeatures {
        /// Features the repository defines.
        max: usize,
    },
    /// The body is over `max_body_bytes`.
    #[error("the request body is larger than this server's limit of {max} bytes")]
    BodyTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// The body did not arrive in time (a slow or stalled client).
    #[error("the request body did not arrive within {seconds} s")]
    BodyTimeout {
        /// The configured timeout.
        seconds: f64,
    },
    /// `GET /features/{view}/{id}` for an id without a row.
    #[error("no row for id `{id}` in feature view `{view}`")]
    EntityNotFound {
        /// The view.
        view: String,
        /// The id.
        id: String,
    },
    /// No route for the path.
    #[error("no endpoint {path}; see /openapi.json")]
    NoRoute {
        /// The path asked for.
        path: String,
    },
    /// A route that exists, with the wrong method.
    #[error("{path} does not accept {method}; see /openapi.json")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The path.
        path: String,
    },
    /// Auth is on and the request carries no valid key or token.
    #[error(
        "missing or invalid credentials; send `x-api-key: KEY` or `authorization: Bearer TOKEN`"
    )]
    Unauthorized,
    /// `max_concurrent_requests` are in flight already.
    #[error("the server is answering its limit of {max} concurrent requests; retry shortly")]
    Overloaded {
        /// The configured limit.
        max: usize,
    },
    /// The online store failed (a damaged value, an I/O error): the
    /// server's problem. A store that cannot be reached is a 503 instead
    /// ([`ErrorClass::Unavailable`]): the request may succeed once it is back.
    #[error(transparent)]
    Store(#[from] OnlineError),
}

/// The transport-independent class of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request is wrong (400, `INVALID_ARGUMENT`).
    BadRequest,
    /// A named thing does not exist (404, `NOT_FOUND`).
    NotFound,
    /// A route exists with another method (405, `UNIMPLEMENTED`).
    MethodNotAllowed,
    /// The client was too slow to send its request (408, `DEADLINE_EXCEEDED`).
    Timeout,
    /// The body is over the limit (413, `INVALID_ARGUMENT`).
    TooLarge,
    /// No valid credentials (401, `UNAUTHENTICATED`).
    Unauthorized,
    /// At the concurrency limit; retry (503 with `Retry-After`, `UNAVAILABLE`).
    Overloaded,
    /// The online store cannot be reached; retry (503 with `Retry-After`,
    /// `UNAVAILABLE`).
    Unavailable,
    /// The server failed (500, `INTERNAL`).
    Internal,
}

impl ErrorClass {
    /// The HTTP status for this class.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorClass::BadRequest => 400,
            ErrorClass::NotFound => 404,
            ErrorClass::MethodNotAllowed => 405,
            ErrorClass::Timeout => 408,
            ErrorClass::TooLarge => 413,
            ErrorClass::Unauthorized => 401,
            ErrorClass::Overloaded | ErrorClass::Unavailable => 503,
            ErrorClass::Internal => 500,
        }
    }

    /// The gRPC status code for this class.
    pub fn grpc_code(self) -> tonic::Code {
        match self {
            ErrorClass::BadRequest | ErrorClass::TooLarge => tonic::Code::InvalidArgument,
            ErrorClass::NotFound => tonic::Code::NotFound,
            ErrorClass::MethodNotAllowed => tonic::Code::Unimplemented,
            ErrorClass::Timeout => tonic::Code::DeadlineExceeded,
            ErrorClass::Unauthorized => tonic::Code::Unauthenticated,
            ErrorClass::Overloaded | ErrorClass::Unavailable => tonic::Code::Unavailable,
            ErrorClass::Internal => tonic::Code::Internal,
        }
    }
}

impl ServeError {
    /// The stable code clients can match on (`"unknown_feature"` …), sent as
    /// `error.code` in JSON and as the `quiver-error-code` gRPC metadata.
    pub fn code(&self) -> &'static str {
        match self {
            ServeError::Reference(error) => match error {
                ReferenceError::UnknownView { .. } => "unknown_feature_view",
                ReferenceError::UnknownFeature { .. } => "unknown_feature",
                ReferenceError::UnknownService { .. } => "unknown_feature_service",
                ReferenceError::NotAReference { .. } => "bad_feature_reference",
                ReferenceError::NoFeatures => "no_features",
            },
            ServeError::DuplicateFeature { .. } => "duplicate_feature",
            ServeError::AmbiguousFeatureName { .. } => "ambiguous_feature_name",
            ServeError::FeatureSelection => "features_or_service",
            ServeError::NoFeatures => "no_features",
            ServeError::MalformedRequest { .. } => "malformed_request",
            ServeError::MissingEntityKey { .. } => "missing_entity_key",
            ServeError::UnexpectedEntityKey { .. } | ServeError::UnknownEntityKey { .. } => {
                "unexpected_entity_key"
            }
            ServeError::InvalidEntityId { .. } => "invalid_entity_id",
            ServeError::EmptyEntityIds { .. } => "empty_entity_ids",
            ServeError::DuplicateEntityId { .. } => "duplicate_entity_id",
            ServeError::MismatchedEntityLengths { .. } => "mismatched_entity_lengths",
            ServeError::TooManyIds { .. } => "too_many_ids",
            ServeError::TooManyFeatures { .. } => "too_many_features",
            ServeError::BodyTooLarge { .. } => "body_too_large",
            ServeError::BodyTimeout { .. } => "body_timeout",
            ServeError::EntityNotFound { .. } => "entity_not_found",
            ServeError::NoRoute { .. } => "no_route",
            ServeError::MethodNotAllowed { .. } => "method_not_allowed",
            ServeError::Unauthorized => "unauthorized",
            ServeError::Overloaded { .. } => "overloaded",
            ServeError::Store(OnlineError::Unavailable { .. }) => "store_unavailable",
            ServeError::Store(_) => "store_error",
        }
    }

    /// The class deciding the transport status.
    pub fn class(&self) -> ErrorClass {
        match self {
            ServeError::Reference(
                ReferenceError::UnknownView { .. }
                | ReferenceError::UnknownFeature { .. }
                | ReferenceError::UnknownService { .. },
            )
            | ServeError::EntityNotFound { .. }
            | ServeError::NoRoute { .. } => ErrorClass::NotFound,
            ServeError::MethodNotAllowed { .. } => ErrorClass::MethodNotAllowed,
            ServeError::BodyTooLarge { .. } => ErrorClass::TooLarge,
            ServeError::BodyTimeout { .. } => ErrorClass::Timeout,
            ServeError::Unauthorized => ErrorClass::Unauthorized,
            ServeError::Overloaded { .. } => ErrorClass::Overloaded,
            ServeError::Store(OnlineError::Unavailable { .. }) => ErrorClass::Unavailable,
            ServeError::Store(_) => ErrorClass::Internal,
            _ => ErrorClass::BadRequest,
        }
    }

    /// The message a client is sent. A client error's message is its
    /// `Display`, naming what the client sent. A server error (500,
    /// `INTERNAL`) says only that the store failed: its `Display` names the
    /// store's folder, address or driver report, which are the operator's
    /// business and go to the server's log (where both transports write the
    /// whole error), never to a client.
    pub fn client_message(&self) -> std::borrow::Cow<'_, str> {
        match self.class() {
            ErrorClass::Internal => std::borrow::Cow::Borrowed(
                "the online store failed to answer; the server's log has the details",
            ),
            _ => std::borrow::Cow::Owned(self.to_string()),
        }
    }

    /// The error as `{"error": {"code": …, "message": …}}`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "error": { "code": self.code(), "message": self.client_message() }
        }))
        .expect("JSON values serialise")
    }

    /// The error as a gRPC status with the same message; the code goes in
    /// the `quiver-error-code` metadata.
    pub fn to_status(&self) -> tonic::Status {
        let mut status =
            tonic::Status::new(self.class().grpc_code(), self.client_message().into_owned());
        status.metadata_mut().insert(
            "quiver-error-code",
            tonic::metadata::MetadataValue::from_static(self.code()),
        );
        status
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The settings file or a `QUIVER_*` variable is invalid.
    #[error("invalid server settings")]
    Config(#[from] Box<figment::Error>),
    /// The online store could not be opened.
    #[error(transparent)]
    Store(#[from] OnlineError),
    /// A listening address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be read or used.
    #[error("TLS with certificate {cert} and key {key}: {reason}")]
    Tls {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A server stopped with an I/O error.
    #[error("{server} server: {reason}")]
    Serve {
        /// `HTTP` or `gRPC`.
        server: &'static str,
        /// What failed.
        reason: String,
    },
}

//! [`Error`]: what can go wrong talking to Redis, and how each case becomes
//! an [`OnlineError`] a server can map to a status.
//!
//! The one decision here is which failures are *unavailability* (the server
//! answers 503 and the store heals when Redis is back) and which are answers
//! Redis gave: see [`is_unavailable`].

use quiver_online::{Foreign, OnlineError};

/// A failure of the Redis store, before it crosses the `OnlineStore` seam.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting of `[online_store]` is invalid.
    #[error("[online_store] `{key}`: {problem}")]
    Config {
        /// The setting.
        key: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// Redis could not be reached, or did not answer in time.
    #[error("redis at {address} is unreachable while {operation}")]
    Unreachable {
        /// `host:port` of the server.
        address: String,
        /// What was being done (`reading view energy_features`).
        operation: String,
        /// The driver's report (whose message repeats its own cause, so
        /// it ends the chain).
        #[source]
        source: Foreign,
    },
    /// Redis answered with an error.
    #[error("redis at {address}: {operation} failed")]
    Refused {
        /// `host:port` of the server.
        address: String,
        /// What was being done.
        operation: String,
        /// The driver's report (whose message repeats its own cause, so
        /// it ends the chain).
        #[source]
        source: Foreign,
    },
    /// Another writer gave the view a newer layout while rows were being
    /// written under the older one; those rows are not visible.
    #[error(
        "redis at {address}: view `{view}` was redefined by another writer during this write; run it again"
    )]
    Superseded {
        /// `host:port` of the server.
        address: String,
        /// The view.
        view: String,
    },
    /// The view has never been written to this store.
    #[error("feature view `{view}` has no rows in the online store yet")]
    Unknown {
        /// The view.
        view: String,
    },
    /// The view's layout changed on every attempt to read it.
    #[error(
        "redis at {address}: the layout of view `{view}` changed during each of {attempts} reads"
    )]
    Unsettled {
        /// `host:port` of the server.
        address: String,
        /// The view.
        view: String,
        /// How many reads were tried.
        attempts: usize,
    },
    /// A stored value or the view's metadata could not be decoded.
    #[error("stored value for entity `{key}` of view `{view}` is damaged: {reason}")]
    Corrupt {
        /// The view.
        view: String,
        /// The entity key, or `(layout)` for the view's metadata.
        key: String,
        /// What the decoder found.
        reason: String,
    },
}

/// Whether a driver error means "Redis is not there right now" rather than
/// "Redis said no": connection refused, reset or timed out, any other I/O
/// failure, and the states a healthy server passes through (loading its
/// dataset, a cluster or primary that is down or failing over).
pub(crate) fn is_unavailable(error: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || matches!(
            error.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
            )
        )
}

impl Error {
    /// Classifies a driver error raised while doing `operation`.
    pub(crate) fn from_redis(
        address: &str,
        operation: impl Into<String>,
        source: redis::RedisError,
    ) -> Error {
        let (address, operation) = (address.to_string(), operation.into());
        let unavailable = is_unavailable(&source);
        let source = Foreign::new(source);
        if unavailable {
            Error::Unreachable {
                address,
                operation,
                source,
            }
        } else {
            Error::Refused {
                address,
                operation,
                source,
            }
        }
    }
}

/// The cause carried inside [`OnlineError::Unavailable`]: what was being
/// done, caused in turn by the driver's report.
#[derive(Debug, thiserror::Error)]
#[error("{operation}")]
struct WhileDoing {
    operation: String,
    #[source]
    source: Foreign,
}

/// The cause carried inside [`OnlineError::Backend`] for [`Error::Superseded`].
#[derive(Debug, thiserror::Error)]
#[error(
    "another writer redefined the view during this write; the rows written are not visible, run it again"
)]
struct Redefined;

/// The cause carried inside [`OnlineError::Backend`] for [`Error::Unsettled`].
#[derive(Debug, thiserror::Error)]
#[error("the view's layout changed during each of {0} reads")]
struct KeptChanging(usize);

fn store(address: &str) -> String {
    format!("redis at {address}")
}

impl From<Error> for OnlineError {
    fn from(error: Error) -> OnlineError {
        match error {
            Error::Config { key, problem } => OnlineError::Config { key, problem },
            Error::Unreachable {
                address,
                operation,
                source,
            } => OnlineError::Unavailable {
                store: store(&address),
                source: Box::new(WhileDoing { operation, source }),
            },
            Error::Refused {
                address,
                operation,
                source,
            } => OnlineError::Backend {
                store: store(&address),
                operation,
                source: Box::new(source),
            },
            Error::Superseded { address, view } => OnlineError::Backend {
                store: store(&address),
                operation: format!("writing view {view}"),
                source: Box::new(Redefined),
            },
            Error::Unknown { view } => OnlineError::UnknownView { view },
            Error::Unsettled {
                address,
                view,
                attempts,
            } => OnlineError::Backend {
                store: store(&address),
                operation: format!("reading view {view}"),
                source: Box::new(KeptChanging(attempts)),
            },
            Error::Corrupt { view, key, reason } => OnlineError::Corrupt { view, key, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn connection_failures_are_unavailable_and_name_the_address() {
        let refused = redis::RedisError::from(io::Error::from(io::ErrorKind::ConnectionRefused));
        let error: OnlineError = Error::from_redis("127.0.0.1:1", "reading view v", refused).into();
        let OnlineError::Unavailable {
            ref store,
            ref source,
        } = error
        else {
            panic!("expected Unavailable, got {error:?}");
        };
        assert_eq!(store, "redis at 127.0.0.1:1");
        assert_eq!(source.to_string(), "reading view v");
        assert!(source.source().is_some(), "the driver's report follows");
        assert!(error.to_string().contains("127.0.0.1:1"));
        let timed_out = redis::RedisError::from(io::Error::from(io::ErrorKind::TimedOut));
        assert!(is_unavailable(&timed_out));
    }

    #[test]
    fn answers_from_the_server_are_backend_errors() {
        let answered =
            redis::RedisError::from((redis::ErrorKind::AuthenticationFailed, "WRONGPASS"));
        let error: OnlineError = Error::from_redis("h:1", "reading view v", answered).into();
        assert!(
            matches!(error, OnlineError::Backend { ref store, ref operation, .. }
                if store == "redis at h:1" && operation == "reading view v"),
            "{error:?}"
        );
    }
}

//! [`CqlError`]: what can go wrong talking to a CQL cluster, converting into
//! [`OnlineError`] at the seam.
//!
//! The one judgement made here is [`CqlError::from_driver`]: whether the
//! driver's error means the cluster could not be reached or did not answer in
//! time (`Unavailable`, a server answers 503 and a job may retry later), or
//! that a node answered with an error (`Backend`).

use quiver_core::Foreign;
pub(crate) use quiver_online::error_chain;
use quiver_online::{BoxError, OnlineError};
use scylla::errors::{
    DbError, ExecutionError, NewSessionError, PrepareError, RequestAttemptError,
    SchemaAgreementError,
};

/// Something the CQL store could not do.
#[derive(Debug, thiserror::Error)]
pub enum CqlError {
    /// No node could be reached, or none answered in time, or the replicas
    /// needed for the consistency level are down or overloaded.
    #[error("online store {store} is unavailable")]
    Unavailable {
        /// `cassandra at <contact points>`.
        store: String,
        /// The driver's report.
        #[source]
        source: BoxError,
    },
    /// A node answered with an error.
    #[error("online store {store}: {operation} failed")]
    Backend {
        /// `cassandra at <contact points>`.
        store: String,
        /// What was being done, naming the view and the key where there is one.
        operation: String,
        /// The driver's report.
        #[source]
        source: BoxError,
    },
    /// A setting of `[online_store]` is missing or invalid.
    #[error("[online_store] `{key}`: {problem}")]
    Config {
        /// The setting (`contact_points`).
        key: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// Another writer (a job on another host) redefined the view while this
    /// write was redefining it too; this write's rows are not visible.
    #[error(
        "online store {store}: view `{view}` was redefined by another writer during this write; run it again"
    )]
    Superseded {
        /// `cassandra at <contact points>`.
        store: String,
        /// The view.
        view: String,
    },
    /// A view's definition does not fit its existing table; nothing was changed.
    #[error("feature view `{view}`, column `{column}`: {problem}")]
    IncompatibleSchema {
        /// The view.
        view: String,
        /// The column at fault.
        column: String,
        /// What differs, and what to do about it.
        problem: String,
    },
}

impl From<CqlError> for OnlineError {
    fn from(error: CqlError) -> OnlineError {
        match error {
            CqlError::Unavailable { store, source } => OnlineError::Unavailable { store, source },
            CqlError::Backend {
                store,
                operation,
                source,
            } => OnlineError::Backend {
                store,
                operation,
                source,
            },
            CqlError::Config { key, problem } => OnlineError::Config { key, problem },
            CqlError::Superseded { store, view } => OnlineError::Backend {
                store,
                operation: format!("redefining view `{view}`"),
                source: Box::new(Redefined),
            },
            CqlError::IncompatibleSchema {
                view,
                column,
                problem,
            } => OnlineError::IncompatibleSchema {
                view,
                column,
                problem,
            },
        }
    }
}

/// The cause carried inside [`OnlineError::Backend`] for [`CqlError::Superseded`].
#[derive(Debug, thiserror::Error)]
#[error(
    "another writer redefined the view during this write; the rows written are not visible, run it again"
)]
struct Redefined;

/// A driver error, classified: whether it means the cluster is unreachable
/// or overloaded, and whether a write may be retried.
pub(crate) trait DriverError: std::error::Error + Send + Sync + Sized + 'static {
    /// Whether the error means no answer in time, no reachable node, or
    /// replicas too few or too busy: the conditions a server reports as 503.
    fn is_unavailable(&self) -> bool;
}

impl CqlError {
    /// `error`, as `Unavailable` or as `Backend` failing `operation`.
    pub(crate) fn from_driver<E: DriverError>(store: &str, operation: String, error: E) -> Self {
        let unavailable = error.is_unavailable();
        // The driver's messages repeat their causes (`…: {0}`), so its
        // error ends the chain.
        let source = Box::new(Foreign::new(error));
        if unavailable {
            CqlError::Unavailable {
                store: store.to_string(),
                source,
            }
        } else {
            CqlError::Backend {
                store: store.to_string(),
                operation,
                source,
            }
        }
    }
}

fn db_error_is_unavailable(error: &DbError) -> bool {
    matches!(
        error,
        DbError::Unavailable { .. }
            | DbError::ReadTimeout { .. }
            | DbError::WriteTimeout { .. }
            | DbError::Overloaded
            | DbError::IsBootstrapping
            | DbError::RateLimitReached { .. }
    )
}

fn attempt_is_unavailable(error: &RequestAttemptError) -> bool {
    match error {
        RequestAttemptError::DbError(db, _) => db_error_is_unavailable(db),
        RequestAttemptError::BrokenConnectionError(_)
        | RequestAttemptError::UnableToAllocStreamId => true,
        _ => false,
    }
}

impl DriverError for ExecutionError {
    fn is_unavailable(&self) -> bool {
        match self {
            ExecutionError::EmptyPlan
            | ExecutionError::ConnectionPoolError(_)
            | ExecutionError::RequestTimeout(_) => true,
            ExecutionError::LastAttemptError(attempt) => attempt_is_unavailable(attempt),
            ExecutionError::PrepareError(prepare) => prepare.is_unavailable(),
            ExecutionError::SchemaAgreementError(agreement) => agreement.is_unavailable(),
            _ => false,
        }
    }
}

impl DriverError for PrepareError {
    fn is_unavailable(&self) -> bool {
        match self {
            PrepareError::ConnectionPoolError(_) => true,
            PrepareError::AllAttemptsFailed { first_attempt } => {
                attempt_is_unavailable(first_attempt)
            }
            _ => false,
        }
    }
}

impl DriverError for SchemaAgreementError {
    fn is_unavailable(&self) -> bool {
        match self {
            SchemaAgreementError::ConnectionPoolError(_) | SchemaAgreementError::Timeout(_) => true,
            SchemaAgreementError::RequestError(attempt) => attempt_is_unavailable(attempt),
            _ => false,
        }
    }
}

impl DriverError for NewSessionError {
    /// Failing to open a session is "unavailable" unless a node said why:
    /// a refused login or bad TLS is a configuration problem, not an outage.
    fn is_unavailable(&self) -> bool {
        let text = error_chain(self);
        let answered = [
            "Authentication",
            "authentication",
            "Bad credentials",
            "certificate",
        ]
        .iter()
        .any(|needle| text.contains(needle));
        !answered && !matches!(self, NewSessionError::IllegalConfig(_))
    }
}

/// Whether a failed write may be tried again: the server timed out, lacked
/// replicas or shed load (how Amazon Keyspaces reports throttling), or the
/// connection broke. Writes are idempotent, so a retry is always safe.
pub(crate) fn is_retryable(error: &ExecutionError) -> bool {
    match error {
        ExecutionError::RequestTimeout(_) | ExecutionError::ConnectionPoolError(_) => true,
        ExecutionError::LastAttemptError(attempt) => attempt_is_unavailable(attempt),
        _ => false,
    }
}

/// Whether `error` says a keyspace or table does not exist: how a read of a
/// store nobody has written to yet fails.
pub(crate) fn is_missing_table(error: &ExecutionError) -> bool {
    let attempt = match error {
        ExecutionError::LastAttemptError(attempt) => attempt,
        ExecutionError::PrepareError(PrepareError::AllAttemptsFailed { first_attempt }) => {
            first_attempt
        }
        _ => return false,
    };
    matches!(attempt, RequestAttemptError::DbError(DbError::Invalid, _))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn db(error: DbError) -> ExecutionError {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(error, String::new()))
    }

    #[test]
    fn timeouts_and_overload_are_unavailable_and_retryable() {
        for error in [
            ExecutionError::RequestTimeout(Duration::from_secs(5)),
            db(DbError::Overloaded),
            db(DbError::WriteTimeout {
                consistency: scylla::frame::types::Consistency::LocalQuorum,
                received: 1,
                required: 2,
                write_type: scylla::errors::WriteType::UnloggedBatch,
            }),
        ] {
            assert!(error.is_unavailable(), "{error}");
            assert!(is_retryable(&error), "{error}");
        }
    }

    #[test]
    fn answered_errors_are_backend_errors_and_final() {
        for error in [db(DbError::Invalid), db(DbError::Unauthorized)] {
            assert!(!error.is_unavailable(), "{error}");
            assert!(!is_retryable(&error), "{error}");
        }
        let converted: OnlineError = CqlError::from_driver(
            "cassandra at h:1",
            "reading view `v`".into(),
            db(DbError::Invalid),
        )
        .into();
        assert!(
            matches!(converted, OnlineError::Backend { ref operation, .. } if operation == "reading view `v`"),
            "{converted:?}"
        );
    }
}

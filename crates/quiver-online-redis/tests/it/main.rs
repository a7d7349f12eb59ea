//! Integration tests of the Redis store, against real `redis-server`s.
//!
//! Built only with the `integration` feature. The conformance suite and the
//! behaviour tests use the server at `QUIVER_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:16379`, started by `scripts/services/up.sh`); the outage
//! and TLS tests start their own `redis-server` processes on free ports. A
//! missing server or binary fails the test, it never skips it.

mod behaviour;
mod conformance;
mod outage;
mod support;
mod tls;

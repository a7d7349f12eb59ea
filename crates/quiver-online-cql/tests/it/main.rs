//! Integration tests of the CQL store against real servers (feature
//! `integration`): a plain node at `QUIVER_TEST_CASSANDRA` and a
//! Keyspaces-like node (TLS only, password login) at `QUIVER_TEST_KEYSPACES`.
//! `scripts/services/up.sh` starts both; a missing server fails the tests.

mod conformance;
mod fault;
mod keyspaces;
mod measure;
mod redefinition;
mod schema;
mod support;
mod ttl;
mod unavailable;
mod writes;

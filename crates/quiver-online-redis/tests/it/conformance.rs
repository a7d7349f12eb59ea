//! The Redis store against the shared OnlineStore conformance suite, each
//! test in its own key prefix on the shared test server.

quiver_test::online_store_conformance!(crate::support::fresh_store());

//! The conformance suite against the Keyspaces-like node: TLS only (the
//! certificate verified against the test CA, by IP address), password
//! login, LOCAL_QUORUM writes. Plus what only such a node can show: a wrong
//! password or CA is refused with a reason, not reported as an outage.

use crate::support::{assert_ready, chain, fresh_store, keyspaces_config};
use quiver_online::OnlineError;
use quiver_online_cql::{CqlStore, Secret};
use std::collections::HashMap;

quiver_test::online_store_conformance!(fresh_store(keyspaces_config()));

#[tokio::test]
async fn a_tls_store_with_a_password_is_ready() {
    let store = fresh_store(keyspaces_config()).await;
    assert_ready(&*store).await;
}

#[tokio::test]
async fn a_wrong_password_is_a_refusal_not_an_outage() {
    let mut config = keyspaces_config();
    config.password = Some(Secret::new("not-the-password"));
    match CqlStore::open(&config, "p", HashMap::new()).await {
        Err(error @ OnlineError::Backend { .. }) => {
            let text = chain(&error);
            assert!(
                text.contains("127.0.0.1") || text.contains(&config.contact_points[0]),
                "{text}"
            );
        }
        other => panic!("expected a Backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreadable_ca_file_names_the_setting() {
    let mut config = keyspaces_config();
    config.tls.as_mut().unwrap().ca_file = "/nonexistent/ca.pem".into();
    match CqlStore::open(&config, "p", HashMap::new()).await {
        Err(OnlineError::Config { key, problem }) => {
            assert_eq!(key, "tls.ca_file");
            assert!(problem.contains("/nonexistent/ca.pem"), "{problem}");
        }
        other => panic!("expected a Config error, got {other:?}"),
    }
}

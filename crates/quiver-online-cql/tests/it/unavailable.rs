//! An unreachable cluster is `Unavailable`, quickly, naming where it looked.

use crate::support::{fresh_store, plain_config};
use quiver_online::{OnlineError, OnlineStore};
use quiver_online_cql::CqlStore;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[tokio::test]
async fn nothing_listening_is_unavailable_within_the_connect_timeout() {
    let mut config = plain_config();
    // A port nothing listens on: connection refused.
    config.contact_points = vec!["127.0.0.1:1".to_string()];
    config.connect_timeout = Duration::from_secs(2);
    let started = Instant::now();
    match CqlStore::open(&config, "p", HashMap::new()).await {
        Err(OnlineError::Unavailable { store, .. }) => {
            assert_eq!(store, "cassandra at 127.0.0.1:1")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_misspelt_datacenter_lists_the_real_ones() {
    let mut config = plain_config();
    config.local_datacenter = Some("dc-nowhere".to_string());
    match CqlStore::open(&config, "p", HashMap::new()).await {
        Err(OnlineError::Config { key, problem }) => {
            assert_eq!(key, "local_datacenter");
            assert!(problem.contains("datacenter1"), "{problem}");
        }
        other => panic!("expected a Config error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_running_cluster_passes_check_and_an_unknown_view_reads_as_unknown() {
    let store = fresh_store(plain_config()).await;
    store.check().await.unwrap();
    // Nothing created yet: no keyspace, no metadata table.
    assert!(matches!(
        store.read("v", &["a"]).await,
        Err(OnlineError::UnknownView { .. })
    ));
    assert_eq!(store.offline_version("v").await.unwrap(), None);
}

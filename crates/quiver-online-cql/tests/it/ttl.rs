//! A view's TTL: Cassandra removes its rows that long after they were written.

use crate::support::{fresh_store_with_ttls, plain_config};
use quiver_online::OnlineStore;
use quiver_test::online_conformance::{layout, row};
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test]
async fn rows_of_a_view_with_a_ttl_disappear_and_others_stay() {
    let ttls = HashMap::from([("short".to_string(), Duration::from_secs(2))]);
    let store = fresh_store_with_ttls(plain_config(), ttls).await;
    store
        .write(&layout("kept"), &[row("a", 1, 1.0)], None)
        .await
        .unwrap();
    // The short-lived row is there until its TTL has passed; a loaded
    // machine may take longer than the TTL to read it back, and then the
    // check says nothing.
    let written = std::time::Instant::now();
    store
        .write(&layout("short"), &[row("a", 1, 1.0)], None)
        .await
        .unwrap();
    let got = store.read("short", &["a"]).await.unwrap();
    if written.elapsed() < Duration::from_secs(2) {
        assert!(got[0].is_some(), "expired before its TTL");
    }

    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_eq!(store.read("short", &["a"]).await.unwrap(), vec![None]);
    assert!(store.read("kept", &["a"]).await.unwrap()[0].is_some());
    // The view itself is still known: its definition has no TTL.
    assert!(store.layout("short").await.unwrap().is_some());
}

//! A Redis that dies, freezes or is not there yet: every operation fails
//! with `OnlineError::Unavailable` naming the address, within the configured
//! timeouts, and the same store works again once Redis is back.

use crate::support::{RedisServer, assert_unavailable};
use quiver_online::{OnlineError, OnlineStore};
use quiver_online_redis::{RedisStore, RedisStoreConfig};
use quiver_test::online_conformance::{layout, row};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
const REQUEST_TIMEOUT: Duration = Duration::from_millis(700);

fn store_on(url: String) -> RedisStore {
    let config = RedisStoreConfig {
        url,
        connect_timeout: CONNECT_TIMEOUT,
        request_timeout: REQUEST_TIMEOUT,
        ..RedisStoreConfig::default()
    };
    RedisStore::open(&config, "outage", HashMap::new()).unwrap()
}

/// Every kind of operation, each timed and expected to be unavailable
/// within `limit`.
async fn every_operation_is_unavailable(store: &RedisStore, address: &str, limit: Duration) {
    let l = layout("v");
    let timed = |started: Instant, what: &str| {
        let took = started.elapsed();
        assert!(took <= limit, "{what} took {took:?}, more than {limit:?}");
    };
    let started = Instant::now();
    assert_unavailable(store.read("v", &["a", "b"]).await, address);
    timed(started, "read");
    let started = Instant::now();
    assert_unavailable(store.read_with_layout("v", &["a"]).await, address);
    timed(started, "read_with_layout");
    let started = Instant::now();
    assert_unavailable(store.layout("v").await, address);
    timed(started, "layout");
    let started = Instant::now();
    assert_unavailable(store.offline_version("v").await, address);
    timed(started, "offline_version");
    let started = Instant::now();
    assert_unavailable(store.write(&l, &[row("a", 3, 3.0)], None).await, address);
    timed(started, "write");
    let started = Instant::now();
    assert_unavailable(store.check().await, address);
    timed(started, "check");
}

fn total(rows: &[Option<quiver_online::FeatureRow>]) -> Vec<Option<f64>> {
    rows.iter()
        .map(|r| match r.as_ref().map(|r| &r.values[0]) {
            Some(quiver_online::FeatureValue::Float64(v)) => Some(*v),
            None => None,
            other => panic!("unexpected value {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_killed_redis_fails_fast_and_the_store_reconnects_when_it_is_back() {
    // Every write is on disk before it is acknowledged, so the restarted
    // server has the rows the killed one acknowledged.
    let mut server = RedisServer::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let store = store_on(server.url());
    let l = layout("v");
    store
        .write(&l, &[row("a", 1, 1.0), row("b", 1, 2.0)], Some(4))
        .await
        .unwrap();
    assert_eq!(
        total(&store.read("v", &["a", "b"]).await.unwrap()),
        [Some(1.0), Some(2.0)]
    );

    server.kill();
    // Refused connections fail at once; allow a generous margin for a busy machine.
    every_operation_is_unavailable(&store, &server.address(), Duration::from_millis(500)).await;
    // And again: a store that already failed keeps failing fast, without backing off.
    every_operation_is_unavailable(&store, &server.address(), Duration::from_millis(500)).await;

    server.restart();
    // The first request after the restart finds the old connection broken
    // and goes out again on a new one: no error reaches the caller.
    let rows = store
        .read("v", &["a", "b"])
        .await
        .expect("the first read after Redis is back");
    assert_eq!(total(&rows), [Some(1.0), Some(2.0)]);
    store.check().await.unwrap();
    assert_eq!(store.offline_version("v").await.unwrap(), Some(4));
    store.write(&l, &[row("a", 2, 5.0)], None).await.unwrap();
    assert_eq!(total(&store.read("v", &["a"]).await.unwrap()), [Some(5.0)]);
}

#[tokio::test]
async fn a_frozen_redis_fails_after_the_request_timeout_and_recovers() {
    let server = RedisServer::start(&["--save", "", "--appendonly", "no"]);
    let store = store_on(server.url());
    store
        .write(&layout("v"), &[row("a", 1, 1.0)], None)
        .await
        .unwrap();

    server.pause();
    // Connected, but nothing answers: each operation waits out its timeout.
    // The bound is the store's own (connect + request timeout), plus slack.
    let limit = CONNECT_TIMEOUT + REQUEST_TIMEOUT + Duration::from_millis(500);
    let started = Instant::now();
    assert_unavailable(store.read("v", &["a"]).await, &server.address());
    let took = started.elapsed();
    assert!(
        took >= REQUEST_TIMEOUT && took <= limit,
        "a read of a frozen Redis took {took:?}"
    );
    every_operation_is_unavailable(&store, &server.address(), limit).await;

    server.resume();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match store.read("v", &["a"]).await {
            Ok(rows) => {
                assert_eq!(total(&rows), [Some(1.0)]);
                break;
            }
            Err(OnlineError::Unavailable { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the store did not recover from a frozen Redis: {error:?}"),
        }
    }
}

#[tokio::test]
async fn a_store_opened_before_redis_starts_works_once_it_does() {
    let port = crate::support::free_port();
    let store = store_on(format!("redis://127.0.0.1:{port}"));
    let address = format!("127.0.0.1:{port}");
    assert_unavailable(store.check().await, &address);
    assert_unavailable(store.read("v", &["a"]).await, &address);

    let _server = RedisServer::start_with(
        port,
        [
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(String::from)
        .to_vec(),
    );
    store.check().await.expect("check once Redis listens");
    assert!(matches!(
        store.read("v", &["a"]).await,
        Err(OnlineError::UnknownView { .. })
    ));
}

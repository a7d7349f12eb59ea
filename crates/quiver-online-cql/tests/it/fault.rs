//! A node stopped and started under an open store: `Unavailable` within the
//! request timeout, never a hang, and the same store serving again once the
//! node is back, without being reopened.
//!
//! It stops a server, so it runs only when asked, against a node of its
//! own: `QUIVER_TEST_FAULT_NODE` (host:port), with shell commands that stop
//! and start that node in `QUIVER_TEST_FAULT_STOP` and
//! `QUIVER_TEST_FAULT_START`. Run it by name with `--ignored`;
//! `scripts/test.sh` does, through `tests/faults/cassandra_node.sh`, on the
//! `fault` node of `scripts/services/cassandra.sh`.

use crate::support::{fresh_store, plain_config};
use quiver_online::{OnlineError, OnlineStore};
use quiver_test::online_conformance::{layout, row};
use std::process::Command;
use std::time::{Duration, Instant};

fn run(variable: &str) {
    let command = std::env::var(variable).unwrap_or_else(|_| panic!("set {variable}"));
    let status = Command::new("bash")
        .args(["-c", &command])
        .status()
        .unwrap();
    assert!(status.success(), "{variable} failed: {command}");
}

#[tokio::test]
#[ignore = "stops a server: run by name with --ignored and QUIVER_TEST_FAULT_* set"]
async fn a_stopped_node_is_unavailable_quickly_and_the_store_recovers_by_itself() {
    let node = std::env::var("QUIVER_TEST_FAULT_NODE").expect("set QUIVER_TEST_FAULT_NODE");
    let mut config = plain_config();
    config.contact_points = vec![node];
    config.request_timeout = Duration::from_secs(2);
    let store = fresh_store(config).await;
    store
        .write(&layout("v"), &[row("a", 1, 1.0)], None)
        .await
        .unwrap();
    store.check().await.unwrap();

    run("QUIVER_TEST_FAULT_STOP");
    for _ in 0..3 {
        let started = Instant::now();
        let checked = store.check().await;
        let read = store.read("v", &["a"]).await;
        let took = started.elapsed();
        println!("node down: check and read answered in {took:?}");
        assert!(
            matches!(checked, Err(OnlineError::Unavailable { .. })),
            "{checked:?}"
        );
        assert!(
            matches!(read, Err(OnlineError::Unavailable { .. })),
            "{read:?}"
        );
        assert!(
            took < Duration::from_secs(5),
            "a dead node took {took:?} to report"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let write = store.write(&layout("v"), &[row("a", 2, 2.0)], None).await;
    assert!(
        matches!(write, Err(OnlineError::Unavailable { .. })),
        "{write:?}"
    );

    run("QUIVER_TEST_FAULT_START");
    let started = Instant::now();
    while store.check().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the store did not reconnect within 2 minutes of the node's start"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "reconnected {:?} after the node was started",
        started.elapsed()
    );
    store
        .write(&layout("v"), &[row("a", 3, 3.0)], None)
        .await
        .unwrap();
    let got = store.read("v", &["a"]).await.unwrap();
    assert_eq!(got[0].as_ref(), Some(&row("a", 3, 3.0).row));
    println!("retries during the outage: {}", store.retries_so_far());
}

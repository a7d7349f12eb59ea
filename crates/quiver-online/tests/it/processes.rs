//! The embedded store shared between processes: a reader process sees whole
//! committed states while a writer process writes, and a writer killed
//! mid-write leaves the last committed state readable and whole.
//!
//! The writer is this test binary again, started with `QUIVER_TEST_WRITER`
//! set, running [`writer_process`].

use quiver_online::{EmbeddedStore, EmbeddedStoreConfig, OnlineStore};
use quiver_test::online_conformance::{layout, row};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEYS: usize = 2_000;

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("MAC{i:06}")).collect()
}

/// Not a test of its own: the body of the child writer process. It rewrites
/// every key with generation 1, 2, 3 … until killed.
#[tokio::test]
async fn writer_process() {
    let Ok(path) = std::env::var("QUIVER_TEST_WRITER") else {
        return;
    };
    let store = EmbeddedStore::open(&EmbeddedStoreConfig::at(path)).unwrap();
    let l = layout("v");
    for generation in 1.. {
        let rows: Vec<_> = keys()
            .iter()
            .map(|k| row(k, generation, generation as f64))
            .collect();
        store
            .write(&l, &rows, Some(generation as u64))
            .await
            .unwrap();
    }
}

fn generations(rows: &[Option<quiver_online::FeatureRow>]) -> Vec<f64> {
    rows.iter()
        .map(|r| match r.as_ref().map(|r| &r.values[0]) {
            Some(quiver_online::FeatureValue::Float64(v)) => *v,
            other => panic!("unexpected value {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn reader_sees_whole_states_while_another_process_writes_and_survives_its_kill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("online");
    let store = EmbeddedStore::open(&EmbeddedStoreConfig::at(&path)).unwrap();
    // A committed generation 0 so the reader has something before the child starts.
    let rows: Vec<_> = keys().iter().map(|k| row(k, 0, 0.0)).collect();
    store.write(&layout("v"), &rows, Some(0)).await.unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["processes::writer_process", "--exact", "--nocapture"])
        .env("QUIVER_TEST_WRITER", &path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let names = keys();
    let asked: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut last = 0.0;
    let mut distinct_states = 0;
    let started = Instant::now();
    // Read until the writer's commits have been seen changing under us a few
    // times (a count, not a duration: a loaded machine only makes it slower).
    while distinct_states < 3 || started.elapsed() < Duration::from_secs(1) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the writer process committed only {distinct_states} times in 120 s"
        );
        let seen = generations(&store.read("v", &asked).await.unwrap());
        assert!(
            seen.iter().all(|g| *g == seen[0]),
            "a read mixed two writes: {:?}…",
            &seen[..5]
        );
        assert!(
            seen[0] >= last,
            "the store went back from {last} to {}",
            seen[0]
        );
        if seen[0] > last {
            distinct_states += 1;
        }
        last = seen[0];
    }
    child.kill().unwrap(); // SIGKILL, most likely inside a write transaction
    child.wait().unwrap();

    let seen = generations(&store.read("v", &asked).await.unwrap());
    assert!(seen.iter().all(|g| *g == seen[0]), "state torn by the kill");
    assert!(seen[0] >= last);
    let version = store.offline_version("v").await.unwrap().unwrap();
    assert_eq!(version as f64, seen[0], "rows and version committed apart");

    // The dead writer's lock must not block the next writer.
    let next = seen[0] as i64 + 1;
    let rows: Vec<_> = names.iter().map(|k| row(k, next, next as f64)).collect();
    store
        .write(&layout("v"), &rows, Some(next as u64))
        .await
        .unwrap();
    let seen = generations(&store.read("v", &asked).await.unwrap());
    assert!(seen.iter().all(|g| *g == next as f64));
}

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

/// Not a test of its own: the body of a reader process that dies reading.
/// It opens the store with LMDB directly (any program may), begins a read
/// transaction, says so and waits to be killed, leaving its reader slot
/// behind.
#[test]
fn dying_reader_process() {
    let Ok(path) = std::env::var("QUIVER_TEST_DYING_READER") else {
        return;
    };
    // SAFETY: the store's files are only used through LMDB.
    let env = unsafe {
        heed::EnvOpenOptions::new()
            .read_txn_without_tls()
            .max_dbs(2)
            .open(&path)
    }
    .unwrap();
    let _reading = env.read_txn().unwrap();
    println!("reading");
    std::thread::sleep(Duration::from_secs(600));
}

/// Not a test of its own: the body of a process that opens the store the
/// way quiver does and reads, printing how many dead readers the open
/// cleared.
#[tokio::test]
async fn opening_reader_process() {
    let Ok(path) = std::env::var("QUIVER_TEST_OPENING_READER") else {
        return;
    };
    let config = EmbeddedStoreConfig {
        max_readers: 150,
        ..EmbeddedStoreConfig::at(path)
    };
    let store = EmbeddedStore::open(&config).unwrap();
    store.read("v", &["MAC000000"]).await.unwrap();
    println!("cleared {}", store.stale_readers_cleared());
}

fn run_child(test: &str, var: &str, path: &std::path::Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(var, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for `child` to print `prefix` (after the test harness's own
/// words on that line), and returns the line from there.
fn wait_for_line(child: &mut std::process::Child, prefix: &str) -> String {
    use std::io::BufRead;
    let stdout = child.stdout.as_mut().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(prefix) => {
                return line[line.find(prefix).unwrap_or_default()..].to_string();
            }
            Some(_) => {}
            None => panic!("the child process ended without printing `{prefix}`"),
        }
    }
}

/// A reader process that dies keeps its slot of LMDB's reader table until
/// every process has closed the store; a server that runs for months would
/// see them pile up until no one can read. Every open clears them: with a
/// table of 150 slots, 200 readers killed while reading (while this
/// process keeps the store open) never stop a process that opens the
/// store afterwards from reading.
#[tokio::test]
async fn readers_killed_while_reading_never_fill_the_reader_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("online");
    let config = EmbeddedStoreConfig {
        max_readers: 150,
        ..EmbeddedStoreConfig::at(&path)
    };
    let store = EmbeddedStore::open(&config).unwrap();
    store
        .write(&layout("v"), &[row("MAC000000", 1, 1.0)], Some(0))
        .await
        .unwrap();
    for batch in 0..4 {
        let mut dying: Vec<_> = (0..50)
            .map(|_| {
                run_child(
                    "processes::dying_reader_process",
                    "QUIVER_TEST_DYING_READER",
                    &path,
                )
            })
            .collect();
        for child in &mut dying {
            wait_for_line(child, "reading");
        }
        for child in &mut dying {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        let mut opening = run_child(
            "processes::opening_reader_process",
            "QUIVER_TEST_OPENING_READER",
            &path,
        );
        let line = wait_for_line(&mut opening, "cleared ");
        assert!(opening.wait().unwrap().success());
        assert_eq!(line, "cleared 50", "batch {batch}");
        // This process, open all along, reads too.
        assert!(store.read("v", &["MAC000000"]).await.unwrap()[0].is_some());
    }
}

//! Measurements behind the design notes, not tests: run them by name with
//! `--ignored --nocapture --test-threads 1` on an otherwise idle machine.
//!
//! - Reading 100 ids: concurrent single-partition reads (what the store
//!   does) against one multi-partition `IN` query.
//! - Writing 5,560 rows of 22 features (the size of the energy example):
//!   new keys, an identical rerun, and a newer day over every key, the
//!   last at several `write_concurrency` settings.

use crate::support::{fresh_store, open, plain_config};
use quiver_core::ValueType;
use quiver_online::{EntityRow, FeatureRow, FeatureValue, OnlineStore, ViewLayout};
use scylla::statement::Statement;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const FEATURES: usize = 22;
const ROWS: usize = 5_560;
const IDS: usize = 100;
const ROUNDS: usize = 300;

fn wide_layout() -> ViewLayout {
    ViewLayout {
        view: "energy".to_string(),
        entity_key: "id".to_string(),
        event_time: "day_date".to_string(),
        features: (0..FEATURES)
            .map(|i| (format!("f{i:02}"), ValueType::Float64))
            .collect(),
    }
}

fn wide_rows(day: i64) -> Vec<EntityRow> {
    (0..ROWS)
        .map(|i| EntityRow {
            key: format!("MAC{i:06}"),
            row: FeatureRow {
                event_time_micros: day * 86_400_000_000,
                values: (0..FEATURES)
                    .map(|f| FeatureValue::Float64((i * f) as f64 / 7.0))
                    .collect(),
            },
        })
        .collect()
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{label:<44} n={:<4} p50={:>7.2?} p90={:>7.2?} p99={:>7.2?} mean={:>7.2?}",
        samples.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        mean
    );
}

#[tokio::test]
#[ignore = "a measurement: run by name with --ignored --nocapture"]
async fn measure_writes_and_reads_of_100_ids() {
    let store = fresh_store(plain_config()).await;
    let layout = wide_layout();
    store.prepare(std::slice::from_ref(&layout)).await.unwrap();

    for (label, day) in [
        ("write 5,560 new keys", 1),
        ("write the same 5,560 rows again", 1),
        ("write a newer day over 5,560 keys", 2),
    ] {
        let rows = wide_rows(day);
        let started = Instant::now();
        let outcome = store.write(&layout, &rows, Some(day as u64)).await.unwrap();
        let took = started.elapsed();
        println!(
            "{label:<44} {took:>8.2?}  {:>7.0} rows/s  {outcome:?}  retries so far {}",
            ROWS as f64 / took.as_secs_f64(),
            store.retries_so_far()
        );
    }
    // Each later day at another concurrency, all replacing a stored row.
    for (day, concurrency) in [(3, 16), (4, 64), (5, 256)] {
        let mut config = store.config().clone();
        config.write_concurrency = concurrency;
        let writer = open(&config, HashMap::new()).await;
        let rows = wide_rows(day);
        let started = Instant::now();
        writer.write(&layout, &rows, None).await.unwrap();
        let took = started.elapsed();
        let label = format!("write a newer day, write_concurrency {concurrency}");
        println!(
            "{label:<44} {took:>8.2?}  {:>7.0} rows/s",
            ROWS as f64 / took.as_secs_f64()
        );
    }

    let names: Vec<String> = (0..IDS).map(|i| format!("MAC{:06}", i * 50)).collect();
    let ids: Vec<&str> = names.iter().map(String::as_str).collect();
    let columns: String = layout
        .features
        .iter()
        .map(|(name, _)| format!(", \"{name}\""))
        .collect();
    let mut in_query = Statement::new(format!(
        "SELECT entity_key, event_time_micros{columns} FROM \"{}\".\"energy\" \
         WHERE entity_key IN ? AND layout_generation = ? PER PARTITION LIMIT 1",
        store.keyspace()
    ));
    in_query.set_consistency(scylla::statement::Consistency::LocalOne);
    let in_query = store.session().prepare(in_query).await.unwrap();

    // Warm both paths, then alternate blocks so drift hits both alike.
    for _ in 0..50 {
        store.read("energy", &ids).await.unwrap();
        store
            .session()
            .execute_unpaged(&in_query, (&names, 1i32))
            .await
            .unwrap();
    }
    let (mut singles, mut in_list) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS / 50 {
        for _ in 0..50 {
            let started = Instant::now();
            let rows = store.read("energy", &ids).await.unwrap();
            singles.push(started.elapsed());
            assert!(rows.iter().all(Option::is_some));
        }
        for _ in 0..50 {
            let started = Instant::now();
            let result = store
                .session()
                .execute_unpaged(&in_query, (&names, 1i32))
                .await
                .unwrap();
            in_list.push(started.elapsed());
            assert_eq!(result.into_rows_result().unwrap().rows_num(), IDS);
        }
    }
    summary("read 100 ids: 100 concurrent single reads", singles);
    summary(
        "read 100 ids: one IN query (PER PARTITION LIMIT 1)",
        in_list,
    );
}

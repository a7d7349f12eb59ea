//! What the Redis store promises beyond the conformance suite: the documented
//! key layout, TTLs, exact counts across write chunks, event times at the
//! ends of i64, old layouts' rows removed, concurrent writers, and damaged
//! values reported with their key.

use crate::support::{TestStore, fresh_store, store_with, test_url};
use quiver_core::ValueType;
use quiver_online::{EntityRow, FeatureRow, FeatureValue, OnlineError, OnlineStore, WriteOutcome};
use quiver_online_redis::{RedisStore, RedisStoreConfig};
use quiver_test::online_conformance::{layout, row};
use std::collections::HashMap;
use std::time::Duration;

async fn raw(store: &TestStore) -> redis::aio::MultiplexedConnection {
    redis::Client::open(store.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn total(row: &Option<FeatureRow>) -> Option<f64> {
    match row.as_ref()?.values[0] {
        FeatureValue::Float64(v) => Some(v),
        ref other => panic!("unexpected value {other:?}"),
    }
}

#[tokio::test]
async fn keys_and_values_are_laid_out_as_documented() {
    let store = fresh_store().await;
    let r = row("MAC000002", 10, 1.5);
    store
        .write(&layout("v"), std::slice::from_ref(&r), Some(9))
        .await
        .unwrap();
    let prefix = store.key_prefix().to_string();
    assert_eq!(
        store.keys(),
        [
            format!("{prefix}:v:1:{{MAC000002}}"),
            format!("{prefix}:v:meta")
        ]
    );
    let mut c = raw(&store).await;
    let value: Vec<u8> = redis::cmd("GET")
        .arg(format!("{prefix}:v:1:{{MAC000002}}"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(value, quiver_online::codec::encode(&r.row));
    let meta: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(format!("{prefix}:v:meta"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(meta["generation"], "1");
    assert_eq!(meta["next_generation"], "1");
    assert_eq!(meta["offline_version"], "9");
    assert_eq!(meta["layout_digest"].len(), 40, "a SHA-1 in hex");
    assert_eq!(
        serde_json::from_str::<quiver_online::ViewLayout>(&meta["layout"]).unwrap(),
        layout("v")
    );
}

#[tokio::test]
async fn rows_of_a_view_with_a_ttl_expire_and_others_do_not() {
    let ttls = HashMap::from([("short".to_string(), Duration::from_secs(1))]);
    let store = store_with(RedisStoreConfig::default(), ttls).await;
    store
        .write(&layout("kept"), &[row("a", 1, 1.0)], None)
        .await
        .unwrap();
    let written = std::time::Instant::now();
    store
        .write(&layout("short"), &[row("a", 1, 1.0)], None)
        .await
        .unwrap();
    let c = raw(&store).await;
    let prefix = store.key_prefix().to_string();
    let pttl = |key: String| {
        let mut c = c.clone();
        async move {
            redis::cmd("PTTL")
                .arg(key)
                .query_async::<i64>(&mut c)
                .await
                .unwrap()
        }
    };
    let left = pttl(format!("{prefix}:short:1:{{a}}")).await;
    // Unless a loaded machine took longer than the TTL to get here.
    if written.elapsed() < Duration::from_millis(1_000) {
        assert!(0 < left && left <= 1_000, "PTTL {left}");
    }
    assert_eq!(pttl(format!("{prefix}:kept:1:{{a}}")).await, -1);
    assert_eq!(
        pttl(format!("{prefix}:short:meta")).await,
        -1,
        "metadata never expires"
    );

    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(store.read("short", &["a"]).await.unwrap(), [None]);
    assert!(store.read("kept", &["a"]).await.unwrap()[0].is_some());
    // The view itself is still known: an expired row is simply not found.
    assert_eq!(
        *store.layout("short").await.unwrap().unwrap(),
        layout("short")
    );
}

#[tokio::test]
async fn counts_are_exact_across_write_chunks() {
    // Round trips of 250 rows: scripts of 100, 100 and 50 rows each.
    let config = RedisStoreConfig {
        write_chunk_rows: 250,
        ..RedisStoreConfig::default()
    };
    let store = store_with(config, HashMap::new()).await;
    let l = layout("v");
    let first: Vec<EntityRow> = (0..1_050).map(|i| row(&format!("k{i}"), 10, 1.0)).collect();
    let outcome = store.write(&l, &first, None).await.unwrap();
    assert_eq!(
        outcome,
        WriteOutcome {
            written: 1_050,
            skipped_older: 0,
            retries: 0,
        }
    );

    // Even keys get an older row (skipped), odd keys a newer one, and every
    // tenth key appears twice more in the write: once older, once equal.
    let mut second = Vec::new();
    for i in 0..1_050 {
        let day = if i % 2 == 0 { 5 } else { 20 };
        second.push(row(&format!("k{i}"), day, 2.0));
        if i % 10 == 0 {
            second.push(row(&format!("k{i}"), 1, 3.0));
            second.push(row(&format!("k{i}"), day.max(10), 4.0));
        }
    }
    let outcome = store.write(&l, &second, None).await.unwrap();
    // Skipped: 525 older evens, 105 day-1 duplicates; written: 525 newer
    // odds and 105 equal-or-later duplicates.
    assert_eq!(
        outcome,
        WriteOutcome {
            written: 630,
            skipped_older: 630,
            retries: 0,
        }
    );
    let got = store.read("v", &["k0", "k1", "k2", "k10"]).await.unwrap();
    let totals: Vec<_> = got.iter().map(total).collect();
    assert_eq!(totals, [Some(4.0), Some(2.0), Some(1.0), Some(4.0)]);
}

#[tokio::test]
async fn event_times_compare_exactly_across_the_whole_i64_range() {
    let store = fresh_store().await;
    let l = layout("v");
    // Neighbours that a comparison of doubles, or of one 32-bit half, would confuse.
    let times = [
        i64::MIN,
        i64::MIN + 1,
        -(1 << 32),
        -1,
        0,
        1,
        (1 << 32) - 1,
        1 << 32,
        (1 << 53) + 1,
        (1 << 53) + 2,
        i64::MAX - 1,
        i64::MAX,
    ];
    let at = |t: i64, total: f64| EntityRow {
        key: "a".to_string(),
        row: FeatureRow {
            event_time_micros: t,
            values: vec![FeatureValue::Float64(total), FeatureValue::Int64(0)],
        },
    };
    for pair in times.windows(2) {
        let (earlier, later) = (pair[0], pair[1]);
        store.write(&l, &[at(earlier, 1.0)], None).await.unwrap();
        let outcome = store.write(&l, &[at(later, 2.0)], None).await.unwrap();
        assert_eq!(outcome.written, 1, "{later} should replace {earlier}");
        let outcome = store.write(&l, &[at(earlier, 3.0)], None).await.unwrap();
        assert_eq!(
            outcome.skipped_older, 1,
            "{earlier} should not replace {later}"
        );
        let got = store.read("v", &["a"]).await.unwrap();
        assert_eq!(got[0].as_ref().unwrap().event_time_micros, later);
        // Start the next pair from scratch.
        let mut c = raw(&store).await;
        let _: () = redis::cmd("DEL")
            .arg(format!("{}:v:1:{{a}}", store.key_prefix()))
            .query_async(&mut c)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_new_layout_unlinks_the_rows_of_the_old_one() {
    let store = fresh_store().await;
    let rows: Vec<_> = (0..2_500).map(|i| row(&format!("k{i}"), 1, 1.0)).collect();
    store.write(&layout("v"), &rows, None).await.unwrap();
    store
        .write(&layout("other"), &rows[..3], None)
        .await
        .unwrap();
    assert_eq!(store.keys().len(), 2_500 + 1 + 3 + 1);

    let mut wider = layout("v");
    wider.features.push(("flag".to_string(), ValueType::Bool));
    let mut new_row = row("k7", 2, 2.0);
    new_row.row.values.push(FeatureValue::Bool(true));
    store.write(&wider, &[new_row], None).await.unwrap();
    let prefix = store.key_prefix().to_string();
    let mut keys = store.keys();
    keys.retain(|k| k.starts_with(&format!("{prefix}:v:")));
    assert_eq!(
        keys,
        [format!("{prefix}:v:2:{{k7}}"), format!("{prefix}:v:meta")]
    );
    assert_eq!(
        store.keys().len(),
        2 + 3 + 1,
        "another view's rows were dropped"
    );
}

#[tokio::test]
async fn a_reader_follows_a_layout_changed_by_another_process() {
    let writer = fresh_store().await;
    // A second store on the same prefix, as another server process would be.
    let config = RedisStoreConfig {
        url: test_url(),
        key_prefix: Some(writer.key_prefix().to_string()),
        ..RedisStoreConfig::default()
    };
    let reader = RedisStore::open(&config, "unused", HashMap::new()).unwrap();
    writer
        .write(&layout("v"), &[row("a", 1, 1.0), row("b", 1, 1.0)], None)
        .await
        .unwrap();
    let (seen, rows) = reader.read_with_layout("v", &["a", "b"]).await.unwrap();
    assert_eq!((*seen).clone(), layout("v"));
    assert!(rows.iter().all(Option::is_some));

    let mut wider = layout("v");
    wider.features.push(("flag".to_string(), ValueType::Bool));
    let mut new_row = row("a", 2, 2.0);
    new_row.row.values.push(FeatureValue::Bool(true));
    writer
        .write(&wider, &[new_row.clone()], None)
        .await
        .unwrap();
    let (seen, rows) = reader.read_with_layout("v", &["a", "b"]).await.unwrap();
    assert_eq!(*seen, wider, "the reader kept its cached layout");
    assert_eq!(rows, [Some(new_row.row), None]);
}

/// Redis restarted without persistence (or flushed) starts generations
/// again at 1; a server process that cached generation 1 of the old layout
/// must not name the new rows by it.
#[tokio::test]
async fn a_reader_is_not_fooled_when_redis_loses_its_data_and_generations_restart() {
    let first = fresh_store().await;
    let config = RedisStoreConfig {
        url: test_url(),
        key_prefix: Some(first.key_prefix().to_string()),
        ..RedisStoreConfig::default()
    };
    let reader = RedisStore::open(&config, "unused", HashMap::new()).unwrap();
    first
        .write(&layout("v"), &[row("a", 1, 1.0)], None)
        .await
        .unwrap();
    assert_eq!(
        *reader.read_with_layout("v", &["a"]).await.unwrap().0,
        layout("v")
    );

    // What a FLUSHALL would do to this prefix, then a job on a new layout.
    let mut c = raw(&first).await;
    let _: () = redis::cmd("DEL")
        .arg(first.keys())
        .query_async(&mut c)
        .await
        .unwrap();
    let writer = RedisStore::open(&config, "unused", HashMap::new()).unwrap();
    let mut wider = layout("v");
    wider.features.push(("flag".to_string(), ValueType::Bool));
    let mut new_row = row("a", 2, 2.0);
    new_row.row.values.push(FeatureValue::Bool(true));
    writer
        .write(&wider, &[new_row.clone()], None)
        .await
        .unwrap();
    assert!(
        first.keys().iter().any(|k| k.ends_with(":v:1:{a}")),
        "generation 1 again"
    );

    let (seen, rows) = reader.read_with_layout("v", &["a"]).await.unwrap();
    assert_eq!(*seen, wider);
    assert_eq!(rows, [Some(new_row.row)]);
}

#[tokio::test]
async fn concurrent_writers_keep_the_latest_row_of_each_key() {
    let store = fresh_store().await;
    let l = layout("v");
    let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
    let writers = (0..4).map(|w| {
        let store = store.store.clone();
        let l = l.clone();
        let keys = keys.clone();
        tokio::spawn(async move {
            let mut total = WriteOutcome::default();
            // Each writer sends every key with its own day, in its own order.
            for round in 0..3 {
                let rows: Vec<_> = keys
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (i + w + round) % 3 == 0)
                    .map(|(i, k)| row(k, ((i * 7 + w * 13 + round) % 40) as i64, w as f64))
                    .collect();
                let outcome = store.write(&l, &rows, None).await.unwrap();
                total.written += outcome.written;
                total.skipped_older += outcome.skipped_older;
            }
            total
        })
    });
    let mut sent = 0;
    for writer in writers {
        let outcome = writer.await.unwrap();
        sent += outcome.written + outcome.skipped_older;
    }
    assert_eq!(sent, 4 * 300, "every row is counted once");
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let got = store.read("v", &refs).await.unwrap();
    for (i, got) in got.iter().enumerate() {
        let latest = (0..4)
            .flat_map(|w| (0..3).map(move |round| (w, round)))
            .filter(|(w, round)| (i + w + round) % 3 == 0)
            .map(|(w, round)| ((i * 7 + w * 13 + round) % 40) as i64)
            .max()
            .unwrap();
        assert_eq!(
            got.as_ref().unwrap().event_time_micros,
            latest * 86_400_000_000,
            "key k{i}"
        );
    }
}

#[tokio::test]
async fn a_damaged_value_is_reported_with_its_view_and_key() {
    let store = fresh_store().await;
    store
        .write(&layout("v"), &[row("a", 1, 1.0), row("b", 1, 1.0)], None)
        .await
        .unwrap();
    let mut c = raw(&store).await;
    let _: () = redis::cmd("SET")
        .arg(format!("{}:v:1:{{b}}", store.key_prefix()))
        .arg("not a row")
        .query_async(&mut c)
        .await
        .unwrap();
    match store.read("v", &["a", "b"]).await {
        Err(OnlineError::Corrupt { view, key, .. }) => {
            assert_eq!((view.as_str(), key.as_str()), ("v", "b"))
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    match store.write(&layout("v"), &[row("b", 2, 2.0)], None).await {
        Err(OnlineError::Corrupt { view, key, .. }) => {
            assert_eq!((view.as_str(), key.as_str()), ("v", "b"))
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

//! Layout generations: a redefined view never pairs rows with the wrong
//! layout, in this process or another, a redefinition that failed half
//! way never leaks its rows into the next one, and two writers redefining a
//! view at once (jobs on two hosts) never write two layouts under one
//! generation nor undo each other's.

use crate::support::{cql, fresh_store, open, plain_config, with_feature};
use quiver_core::ValueType;
use quiver_online::{EntityRow, FeatureValue, OnlineStore};
use quiver_test::online_conformance::{layout, row};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn flagged(key: &str, day: i64, total: f64) -> EntityRow {
    let mut r = row(key, day, total);
    r.row.values.push(FeatureValue::Bool(true));
    r
}

#[tokio::test]
async fn a_failed_redefinition_never_leaks_its_rows_into_the_next() {
    let store = fresh_store(plain_config()).await;
    let v1 = layout("v");
    store
        .write(&v1, &[row("a", 1, 1.0), row("x", 1, 1.0)], None)
        .await
        .unwrap();
    // A job redefining the view as v2 died after writing key x under
    // generation 2, before recording v2 in quiver_views.
    cql(&store, "ALTER TABLE {ks}.\"v\" ADD \"flag\" boolean").await;
    cql(
        &store,
        "INSERT INTO {ks}.\"v\" (entity_key, layout_generation, event_time_micros, \"total\", \"count\", \"flag\") \
         VALUES ('x', 2, 172800000000, 99.0, 2, true)",
    )
    .await;
    cql(
        &store,
        "UPDATE {ks}.quiver_views SET pending_generation = 2 WHERE view_name = 'v'",
    )
    .await;

    // The next job brings a third definition, with the same column names.
    let v3 = with_feature(
        &with_feature(&v1, "flag", ValueType::Bool),
        "n",
        ValueType::Int64,
    );
    let mut a3 = flagged("a", 3, 3.0);
    a3.row.values.push(FeatureValue::Int64(7));
    store.write(&v3, &[a3.clone()], None).await.unwrap();

    let (got_layout, rows) = store.read_with_layout("v", &["a", "x"]).await.unwrap();
    assert_eq!(*got_layout, v3);
    assert_eq!(rows[0].as_ref(), Some(&a3.row));
    assert_eq!(
        rows[1], None,
        "the dead job's row of key x was read as the new layout"
    );
}

#[tokio::test]
async fn another_process_serves_the_previous_definition_whole_until_it_refreshes() {
    let writer = fresh_store(plain_config()).await;
    let mut reader_config = writer.config().clone();
    reader_config.layout_refresh = Duration::from_millis(400);
    let reader = open(&reader_config, HashMap::new()).await;

    let v1 = layout("v");
    writer.write(&v1, &[row("a", 1, 1.0)], None).await.unwrap();
    let (seen, rows) = reader.read_with_layout("v", &["a"]).await.unwrap();
    assert_eq!((*seen).clone(), v1);
    assert_eq!(rows[0].as_ref(), Some(&row("a", 1, 1.0).row));

    let v2 = with_feature(&v1, "flag", ValueType::Bool);
    writer
        .write(&v2, &[flagged("a", 2, 2.0)], None)
        .await
        .unwrap();
    let redefined = Instant::now();
    // Until the reader rereads the definition it serves v1, whole: v1's row
    // under v1's names, never the new row under the old names. Within twice
    // layout_refresh it must serve v2.
    loop {
        // Measured before the read: a slow read that began in time is fine.
        let asked_after = redefined.elapsed();
        let (seen, rows) = reader.read_with_layout("v", &["a"]).await.unwrap();
        if *seen == v2 {
            assert_eq!(rows[0].as_ref(), Some(&flagged("a", 2, 2.0).row));
            break;
        }
        assert_eq!(*seen, v1);
        assert_eq!(rows[0].as_ref(), Some(&row("a", 1, 1.0).row));
        assert!(
            // Twice layout_refresh on a quiet machine; the margin is for a
            // loaded one, where the background reread itself waits for a core.
            asked_after < Duration::from_secs(10),
            "the reader still served v1 when asked {asked_after:?} after the redefinition"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn old_generations_are_deleted_when_a_key_is_written_two_generations_later() {
    let store = fresh_store(plain_config()).await;
    let v1 = layout("v");
    store.write(&v1, &[row("a", 1, 1.0)], None).await.unwrap();
    let v2 = with_feature(&v1, "flag", ValueType::Bool);
    store
        .write(&v2, &[flagged("a", 2, 2.0)], None)
        .await
        .unwrap();
    assert_eq!(
        generations_of(&store, "a").await,
        vec![2, 1],
        "generation 1 is kept for readers one definition behind"
    );
    let v3 = with_feature(&v2, "n", ValueType::Int64);
    let mut a3 = flagged("a", 3, 3.0);
    a3.row.values.push(FeatureValue::Int64(1));
    store.write(&v3, &[a3], None).await.unwrap();
    assert_eq!(generations_of(&store, "a").await, vec![3, 2]);
}

async fn generations_of(store: &quiver_online_cql::CqlStore, key: &str) -> Vec<i32> {
    let result = store
        .session()
        .query_unpaged(
            format!(
                "SELECT layout_generation FROM \"{}\".\"v\" WHERE entity_key = ?",
                store.keyspace()
            ),
            (key,),
        )
        .await
        .unwrap();
    result
        .into_rows_result()
        .unwrap()
        .rows::<(i32,)>()
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect()
}

/// `n` rows of `layout` at `day`, keys `k0…`, each with `extra` appended
/// after the two features of [`layout`].
fn rows_with(n: usize, day: i64, extra: &[FeatureValue]) -> Vec<EntityRow> {
    (0..n)
        .map(|i| {
            let mut r = row(&format!("k{i}"), day, day as f64 * 1000.0 + i as f64);
            r.row.values.extend_from_slice(extra);
            r
        })
        .collect()
}

async fn pending_generation(store: &quiver_online_cql::CqlStore) -> Option<i32> {
    let result = store
        .session()
        .query_unpaged(
            format!(
                "SELECT pending_generation FROM \"{}\".quiver_views WHERE view_name = 'v'",
                store.keyspace()
            ),
            (),
        )
        .await
        .unwrap();
    result
        .into_rows_result()
        .unwrap()
        .maybe_first_row::<(Option<i32>,)>()
        .unwrap()
        .and_then(|r| r.0)
}

#[tokio::test]
async fn a_redefinition_claimed_during_a_long_one_wins_and_the_long_one_fails_clearly() {
    let host_a = fresh_store(plain_config()).await;
    // Host B: another session (another process, another host) on the keyspace.
    let host_b = open(host_a.config(), HashMap::new()).await;
    let v1 = layout("v");
    host_a
        .write(&v1, &rows_with(1, 1, &[]), None)
        .await
        .unwrap();

    // A redefines the view with many keys; B, seeing A's claim, redefines it
    // again with a few, and finishes first.
    let v2 = with_feature(&v1, "flag", ValueType::Bool);
    let v3 = with_feature(&v1, "n", ValueType::Int64);
    // The columns exist beforehand (as after `quiver apply`), so B's write
    // waits for no schema change and lands while A still writes.
    host_a.prepare(std::slice::from_ref(&v2)).await.unwrap();
    host_a.prepare(std::slice::from_ref(&v3)).await.unwrap();
    let a_rows = rows_with(20_000, 2, &[FeatureValue::Bool(true)]);
    let b_rows = rows_with(3, 3, &[FeatureValue::Int64(7)]);
    let long_write = host_a.write(&v2, &a_rows, None);
    let later_redefinition = async {
        while pending_generation(&host_b).await != Some(2) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        host_b.write(&v3, &b_rows, None).await
    };
    let (a, b) = tokio::join!(long_write, later_redefinition);

    b.expect("the later redefinition succeeds");
    let error = a.expect_err("the earlier redefinition, superseded, must fail");
    let chain = quiver_online::error_chain(&error);
    assert!(
        chain.contains("view `v`") && chain.contains("another writer redefined the view"),
        "{chain}"
    );
    // A reader that opens now (one with a cached definition moves on
    // within `layout_refresh`).
    let reader = open(host_a.config(), HashMap::new()).await;
    {
        let (seen, rows) = reader
            .read_with_layout("v", &["k0", "k1", "k2", "k3"])
            .await
            .unwrap();
        assert_eq!(
            *seen, v3,
            "B's definition, which succeeded, is the one served"
        );
        let expected: Vec<_> = b_rows.iter().map(|r| Some(r.row.clone())).collect();
        assert_eq!(rows[..3], expected[..]);
        assert_eq!(
            rows[3], None,
            "A's rows under its superseded generation are not served"
        );
    }
}

#[tokio::test]
async fn two_hosts_redefining_a_view_at_once_leave_one_whole_definition() {
    let host_a = fresh_store(plain_config()).await;
    let host_b = open(host_a.config(), HashMap::new()).await;
    let base = layout("v");
    host_a
        .write(&base, &rows_with(1, 1, &[]), None)
        .await
        .unwrap();
    let rounds = 8i64;
    for round in 0..rounds {
        host_a
            .prepare(&[with_feature(&base, &format!("a{round}"), ValueType::Bool)])
            .await
            .unwrap();
        host_a
            .prepare(&[with_feature(&base, &format!("b{round}"), ValueType::Int64)])
            .await
            .unwrap();
    }
    let mut definitions = 0;
    for round in 0..rounds {
        // Each round both hosts bring a definition the view never had, with
        // rows of their own event times: any mix of the two under one
        // generation shows as a row neither wrote.
        let a_layout = with_feature(&base, &format!("a{round}"), ValueType::Bool);
        let b_layout = with_feature(&base, &format!("b{round}"), ValueType::Int64);
        let a_rows = rows_with(200, 10 + 2 * round, &[FeatureValue::Bool(true)]);
        let b_rows = rows_with(200, 11 + 2 * round, &[FeatureValue::Int64(round)]);
        let (a, b) = tokio::join!(
            host_a.write(&a_layout, &a_rows, None),
            host_b.write(&b_layout, &b_rows, None)
        );
        for outcome in [&a, &b] {
            if let Err(error) = outcome {
                let chain = quiver_online::error_chain(error);
                assert!(
                    chain.contains("another writer redefined the view"),
                    "{chain}"
                );
            }
        }
        assert!(a.is_ok() || b.is_ok(), "round {round}: both writers failed");
        definitions += usize::from(a.is_ok()) + usize::from(b.is_ok());
        let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let reader = open(host_a.config(), HashMap::new()).await;
        let (seen, rows) = reader.read_with_layout("v", &keys).await.unwrap();
        let (winner, outcome) = if *seen == a_layout {
            (&a_rows, &a)
        } else {
            assert_eq!(*seen, b_layout, "round {round}: a definition nobody wrote");
            (&b_rows, &b)
        };
        assert!(
            outcome.is_ok(),
            "round {round}: a failed write's definition is served"
        );
        let wrong = winner
            .iter()
            .zip(&rows)
            .find(|(written, read)| read.as_ref() != Some(&written.row));
        assert!(
            wrong.is_none(),
            "round {round}: a row does not match its definition: {wrong:?}"
        );
    }
    eprintln!("{definitions} of {} redefinitions succeeded", 2 * rounds);
}

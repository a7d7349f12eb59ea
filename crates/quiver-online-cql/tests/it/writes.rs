//! What a job's write reports and leaves behind: exact counts, one row per
//! key, and a corrected rerun replacing values with nulls.

use crate::support::{fresh_store, plain_config};
use quiver_online::{FeatureValue, OnlineStore, WriteOutcome};
use quiver_test::online_conformance::{layout, row};

#[tokio::test]
async fn counts_are_exact_against_stored_rows_and_within_one_write() {
    let store = fresh_store(plain_config()).await;
    let l = layout("v");
    let stored: Vec<_> = (0..100).map(|i| row(&format!("k{i}"), 10, 0.0)).collect();
    store.write(&l, &stored, None).await.unwrap();

    let mut rows = Vec::new();
    rows.extend((0..50).map(|i| row(&format!("k{i}"), 9, 1.0))); // older: skipped
    rows.extend((50..80).map(|i| row(&format!("k{i}"), 10, 2.0))); // equal: replaces
    rows.extend((80..100).map(|i| row(&format!("k{i}"), 11, 3.0))); // newer
    rows.extend((100..110).map(|i| row(&format!("k{i}"), 1, 4.0))); // new keys
    // One key twice in the call: 12 then 5; 5 is older than 12 by then.
    rows.extend([row("twice", 12, 5.0), row("twice", 5, 6.0)]);
    let outcome = store.write(&l, &rows, None).await.unwrap();
    assert_eq!(
        outcome,
        WriteOutcome {
            written: 30 + 20 + 10 + 1,
            skipped_older: 50 + 1,
            retries: 0,
        }
    );
    let got = store
        .read("v", &["k0", "k60", "k90", "k105", "twice"])
        .await
        .unwrap();
    let totals: Vec<_> = got
        .iter()
        .map(|r| r.as_ref().unwrap().values[0].clone())
        .collect();
    assert_eq!(
        totals,
        [0.0, 2.0, 3.0, 4.0, 5.0]
            .map(FeatureValue::Float64)
            .to_vec()
    );
}

#[tokio::test]
async fn a_key_keeps_one_row_however_often_it_is_written() {
    let store = fresh_store(plain_config()).await;
    let l = layout("v");
    for day in [3, 1, 5, 5, 2, 8] {
        store
            .write(&l, &[row("a", day, day as f64)], None)
            .await
            .unwrap();
    }
    let result = store
        .session()
        .query_unpaged(
            format!(
                "SELECT event_time_micros FROM \"{}\".\"v\" WHERE entity_key = 'a'",
                store.keyspace()
            ),
            (),
        )
        .await
        .unwrap();
    assert_eq!(result.into_rows_result().unwrap().rows_num(), 1);
    let got = store.read("v", &["a"]).await.unwrap();
    assert_eq!(got[0].as_ref(), Some(&row("a", 8, 8.0).row));
}

#[tokio::test]
async fn a_rerun_of_the_same_event_time_can_replace_a_value_with_null() {
    let store = fresh_store(plain_config()).await;
    let l = layout("v");
    store.write(&l, &[row("a", 4, 1.0)], None).await.unwrap();
    let mut corrected = row("a", 4, 0.0);
    corrected.row.values[0] = FeatureValue::Null;
    let outcome = store.write(&l, &[corrected.clone()], None).await.unwrap();
    assert_eq!((outcome.written, outcome.skipped_older), (1, 0));
    let got = store.read("v", &["a"]).await.unwrap();
    assert_eq!(got[0].as_ref(), Some(&corrected.row));
}

//! The [`OnlineStore`] contract, as executable checks.
//!
//! Each check takes a fresh, empty store and panics with a message naming the
//! broken guarantee. [`online_store_conformance!`](crate::online_store_conformance)
//! turns them into one `#[tokio::test]` each, so a failure names the check.

use quiver_core::ValueType;
use quiver_online::{EntityRow, FeatureRow, FeatureValue, OnlineError, OnlineStore, ViewLayout};

/// A two-feature layout for view `view`.
pub fn layout(view: &str) -> ViewLayout {
    ViewLayout {
        view: view.to_string(),
        entity_key: "id".to_string(),
        event_time: "day_date".to_string(),
        features: vec![
            ("total".to_string(), ValueType::Float64),
            ("count".to_string(), ValueType::Int64),
        ],
    }
}

/// A row for [`layout`] at `day` (days since the epoch) with `total`.
pub fn row(key: &str, day: i64, total: f64) -> EntityRow {
    EntityRow {
        key: key.to_string(),
        row: FeatureRow {
            event_time_micros: day * 86_400_000_000,
            values: vec![FeatureValue::Float64(total), FeatureValue::Int64(day)],
        },
    }
}

fn total_of(row: &Option<FeatureRow>) -> Option<f64> {
    match row.as_ref()?.values[0] {
        FeatureValue::Float64(v) => Some(v),
        ref other => panic!("total should be a float, got {other:?}"),
    }
}

/// A later row replaces an earlier one; an older row never replaces a newer one.
pub async fn latest_event_time_wins(store: &dyn OnlineStore) {
    let l = layout("v");
    store.write(&l, &[row("a", 10, 1.0)], None).await.unwrap();
    let outcome = store.write(&l, &[row("a", 9, 2.0)], None).await.unwrap();
    assert_eq!(
        (outcome.written, outcome.skipped_older),
        (0, 1),
        "an older row must be skipped"
    );
    let got = store.read("v", &["a"]).await.unwrap();
    assert_eq!(
        total_of(&got[0]),
        Some(1.0),
        "backfill rolled the store back"
    );
    store.write(&l, &[row("a", 11, 3.0)], None).await.unwrap();
    let got = store.read("v", &["a"]).await.unwrap();
    assert_eq!(total_of(&got[0]), Some(3.0), "a newer row must replace");
}

/// A row with the same event time replaces the stored one (a corrected rerun).
pub async fn equal_event_time_replaces(store: &dyn OnlineStore) {
    let l = layout("v");
    store.write(&l, &[row("a", 10, 1.0)], None).await.unwrap();
    store.write(&l, &[row("a", 10, 5.0)], None).await.unwrap();
    let got = store.read("v", &["a"]).await.unwrap();
    assert_eq!(total_of(&got[0]), Some(5.0));
}

/// Within one write, the latest row of an entity wins whatever the order.
pub async fn latest_wins_within_one_write(store: &dyn OnlineStore) {
    let l = layout("v");
    store
        .write(&l, &[row("a", 12, 12.0), row("a", 3, 3.0)], None)
        .await
        .unwrap();
    let got = store.read("v", &["a"]).await.unwrap();
    assert_eq!(total_of(&got[0]), Some(12.0));
}

/// Writing the same rows twice leaves the same state.
pub async fn writes_are_idempotent(store: &dyn OnlineStore) {
    let l = layout("v");
    let rows: Vec<_> = (0..50)
        .map(|i| row(&format!("k{i}"), i, i as f64))
        .collect();
    store.write(&l, &rows, Some(1)).await.unwrap();
    let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let first = store.read("v", &keys).await.unwrap();
    store.write(&l, &rows, Some(1)).await.unwrap();
    assert_eq!(store.read("v", &keys).await.unwrap(), first);
}

/// Missing keys are `None` in their place; answers keep the order asked.
pub async fn batch_order_is_preserved_with_missing_keys(store: &dyn OnlineStore) {
    let l = layout("v");
    store
        .write(
            &l,
            &[row("a", 1, 1.0), row("b", 1, 2.0), row("c", 1, 3.0)],
            None,
        )
        .await
        .unwrap();
    let got = store
        .read("v", &["c", "missing", "a", "b", "a"])
        .await
        .unwrap();
    let totals: Vec<Option<f64>> = got.iter().map(total_of).collect();
    assert_eq!(
        totals,
        vec![Some(3.0), None, Some(1.0), Some(2.0), Some(1.0)]
    );
    assert!(store.read("v", &[]).await.unwrap().is_empty());
}

/// A view that was never written is an error naming it, not an empty answer.
pub async fn unknown_view_is_an_error(store: &dyn OnlineStore) {
    match store.read("nope", &["a"]).await {
        Err(OnlineError::UnknownView { view }) => assert_eq!(view, "nope"),
        other => panic!("expected UnknownView, got {other:?}"),
    }
    assert!(store.layout("nope").await.unwrap().is_none());
}

/// Views do not see each other's rows, even when one name prefixes another.
pub async fn views_are_separate(store: &dyn OnlineStore) {
    store
        .write(&layout("v"), &[row("a", 1, 1.0)], None)
        .await
        .unwrap();
    store
        .write(&layout("v2"), &[row("a", 1, 2.0)], None)
        .await
        .unwrap();
    assert_eq!(
        total_of(&store.read("v", &["a"]).await.unwrap()[0]),
        Some(1.0)
    );
    assert_eq!(
        total_of(&store.read("v2", &["a"]).await.unwrap()[0]),
        Some(2.0)
    );
}

/// The layout and the offline version are recorded with the rows.
pub async fn layout_and_offline_version_are_recorded(store: &dyn OnlineStore) {
    let l = layout("v");
    assert_eq!(store.offline_version("v").await.unwrap(), None);
    store.write(&l, &[row("a", 1, 1.0)], Some(7)).await.unwrap();
    assert_eq!(store.layout("v").await.unwrap().as_deref(), Some(&l));
    assert_eq!(store.offline_version("v").await.unwrap(), Some(7));
    store.write(&l, &[row("a", 2, 1.0)], None).await.unwrap();
    assert_eq!(
        store.offline_version("v").await.unwrap(),
        Some(7),
        "a write without a version keeps the recorded one"
    );
}

/// Writing with a new layout drops the rows of the old one.
pub async fn new_layout_replaces_the_view(store: &dyn OnlineStore) {
    store
        .write(&layout("v"), &[row("a", 1, 1.0), row("b", 1, 1.0)], None)
        .await
        .unwrap();
    let mut wider = layout("v");
    wider.features.push(("flag".to_string(), ValueType::Bool));
    let mut new_row = row("a", 2, 2.0);
    new_row.row.values.push(FeatureValue::Bool(true));
    store.write(&wider, &[new_row.clone()], None).await.unwrap();
    assert_eq!(store.layout("v").await.unwrap().as_deref(), Some(&wider));
    let got = store.read("v", &["a", "b"]).await.unwrap();
    assert_eq!(got[0].as_ref(), Some(&new_row.row));
    assert_eq!(got[1], None, "a row of the old layout survived");
}

/// A new layout drops the offline version recorded with the old layout's
/// rows: a write without a version (a materialized window) must not leave
/// the store claiming to reflect a whole version of the table.
pub async fn new_layout_forgets_the_offline_version(store: &dyn OnlineStore) {
    store
        .write(&layout("v"), &[row("a", 1, 1.0), row("b", 1, 1.0)], Some(5))
        .await
        .unwrap();
    let mut reordered = layout("v");
    reordered.features.reverse();
    let mut new_row = row("a", 2, 2.0);
    new_row.row.values.reverse();
    store
        .write(&reordered, &[new_row.clone()], None)
        .await
        .unwrap();
    assert_eq!(
        store.offline_version("v").await.unwrap(),
        None,
        "the store still claims the version its dropped rows came from"
    );
    store
        .write(&layout("v"), &[row("b", 3, 3.0)], Some(6))
        .await
        .unwrap();
    assert_eq!(store.offline_version("v").await.unwrap(), Some(6));
    store
        .write(&layout("v"), &[row("b", 4, 4.0)], None)
        .await
        .unwrap();
    assert_eq!(
        store.offline_version("v").await.unwrap(),
        Some(6),
        "a write of the same layout without a version keeps the recorded one"
    );
}

/// `read_with_layout` answers like `read`, with the layout the rows were
/// written with, and follows a layout change.
pub async fn read_with_layout_pairs_rows_and_layout(store: &dyn OnlineStore) {
    assert!(matches!(
        store.read_with_layout("v", &["a"]).await,
        Err(OnlineError::UnknownView { .. })
    ));
    let l = layout("v");
    store.write(&l, &[row("a", 1, 1.0)], None).await.unwrap();
    let (got_layout, rows) = store.read_with_layout("v", &["a", "b"]).await.unwrap();
    assert_eq!(*got_layout, l);
    assert_eq!(rows, store.read("v", &["a", "b"]).await.unwrap());
    assert_eq!(total_of(&rows[0]), Some(1.0));
    assert_eq!(rows[1], None);
    let mut wider = layout("v");
    wider.features.push(("flag".to_string(), ValueType::Bool));
    let mut new_row = row("a", 2, 2.0);
    new_row.row.values.push(FeatureValue::Bool(true));
    store.write(&wider, &[new_row.clone()], None).await.unwrap();
    let (got_layout, rows) = store.read_with_layout("v", &["a"]).await.unwrap();
    assert_eq!(
        *got_layout, wider,
        "the old layout was served after a redefinition"
    );
    assert_eq!(rows[0].as_ref(), Some(&new_row.row));
}

/// A row that does not fit the layout is refused, and nothing of that write lands.
pub async fn mismatched_row_is_refused_whole(store: &dyn OnlineStore) {
    let l = layout("v");
    store.write(&l, &[row("a", 1, 1.0)], None).await.unwrap();
    let mut bad = row("b", 2, 2.0);
    bad.row.values[1] = FeatureValue::String("not a count".to_string());
    let result = store.write(&l, &[row("a", 5, 5.0), bad], None).await;
    assert!(
        matches!(result, Err(OnlineError::RowMismatch { ref key, .. }) if key == "b"),
        "{result:?}"
    );
    let got = store.read("v", &["a", "b"]).await.unwrap();
    assert_eq!(
        total_of(&got[0]),
        Some(1.0),
        "part of a refused write landed"
    );
    assert_eq!(got[1], None);
}

/// `delete` removes a row whatever its event time, after which an older
/// row of that entity is stored (a correction rolling it back); other keys,
/// other views, missing keys and unknown views are left alone.
pub async fn delete_removes_rows_whatever_their_time(store: &dyn OnlineStore) {
    let l = layout("v");
    store
        .write(&l, &[row("a", 5, 5.0), row("b", 5, 5.0)], Some(1))
        .await
        .unwrap();
    store
        .write(&layout("w"), &[row("a", 5, 5.0)], None)
        .await
        .unwrap();
    store.delete("v", &["a", "missing"]).await.unwrap();
    store.delete("never_written", &["a"]).await.unwrap();
    let got = store.read("v", &["a", "b"]).await.unwrap();
    assert_eq!(got[0], None, "the deleted row is still there");
    assert_eq!(total_of(&got[1]), Some(5.0));
    assert_eq!(
        total_of(&store.read("w", &["a"]).await.unwrap()[0]),
        Some(5.0)
    );
    // Older than the deleted row: stored, since nothing is left to win.
    store.write(&l, &[row("a", 2, 2.0)], Some(2)).await.unwrap();
    assert_eq!(
        total_of(&store.read("v", &["a"]).await.unwrap()[0]),
        Some(2.0)
    );
    assert_eq!(store.offline_version("v").await.unwrap(), Some(2));
}

/// `check_write` refuses what `write` would (an empty key) and stores
/// nothing, neither for a refused call nor for an accepted one.
pub async fn check_write_refuses_and_stores_nothing(store: &dyn OnlineStore) {
    let l = layout("v");
    store.write(&l, &[row("a", 1, 1.0)], Some(1)).await.unwrap();
    let refused = store
        .check_write(&l, &[row("b", 2, 2.0), row("", 2, 2.0)])
        .await;
    assert!(
        matches!(refused, Err(OnlineError::RowMismatch { ref key, .. }) if key.is_empty()),
        "{refused:?}"
    );
    store
        .check_write(&l, &[row("a", 3, 3.0), row("c", 3, 3.0)])
        .await
        .unwrap();
    let got = store.read("v", &["a", "b", "c"]).await.unwrap();
    assert_eq!(total_of(&got[0]), Some(1.0), "check_write changed a row");
    assert_eq!((got[1].is_some(), got[2].is_some()), (false, false));
    assert_eq!(store.offline_version("v").await.unwrap(), Some(1));
}

/// A `check_write` with a new layout changes nothing a reader sees, and a
/// `write` with that layout right after it is what readers see next: a
/// store that caches layouts must not let an aborted redefinition, or the
/// write that follows it, leave the old layout cached.
pub async fn check_write_of_a_new_layout_is_not_a_redefinition(store: &dyn OnlineStore) {
    let l = layout("v");
    store.write(&l, &[row("a", 1, 1.0)], Some(1)).await.unwrap();
    // Read twice, so that a cache has seen this layout at this snapshot.
    for _ in 0..2 {
        let (got, rows) = store.read_with_layout("v", &["a"]).await.unwrap();
        assert_eq!(*got, l);
        assert_eq!(total_of(&rows[0]), Some(1.0));
    }
    let mut wider = layout("v");
    wider.features.push(("flag".to_string(), ValueType::Bool));
    let mut new_row = row("a", 2, 2.0);
    new_row.row.values.push(FeatureValue::Bool(true));
    store
        .check_write(&wider, std::slice::from_ref(&new_row))
        .await
        .unwrap();
    let (got, rows) = store.read_with_layout("v", &["a"]).await.unwrap();
    assert_eq!(*got, l, "check_write redefined the view");
    assert_eq!(total_of(&rows[0]), Some(1.0), "check_write changed a row");
    assert_eq!(store.layout("v").await.unwrap().as_deref(), Some(&l));
    store
        .write(&wider, std::slice::from_ref(&new_row), Some(2))
        .await
        .unwrap();
    for _ in 0..2 {
        let (got, rows) = store.read_with_layout("v", &["a"]).await.unwrap();
        assert_eq!(
            *got, wider,
            "the old layout was served after a redefinition"
        );
        assert_eq!(rows[0].as_ref(), Some(&new_row.row));
    }
    assert_eq!(store.layout("v").await.unwrap().as_deref(), Some(&wider));
}

/// Every value type, nulls included, comes back as written.
pub async fn every_value_type_round_trips(store: &dyn OnlineStore) {
    let l = ViewLayout {
        view: "typed".to_string(),
        entity_key: "id".to_string(),
        event_time: "ts".to_string(),
        features: ValueType::ALL
            .iter()
            .map(|t| (t.name().to_string(), *t))
            .collect(),
    };
    let full = FeatureRow {
        event_time_micros: 1_700_000_000_123_456,
        values: vec![
            FeatureValue::String("héllo".to_string()),
            FeatureValue::Int64(i64::MIN),
            FeatureValue::Float64(-0.5),
            FeatureValue::Bool(false),
            FeatureValue::Date(-3),
            FeatureValue::Timestamp(1_700_000_000_123_456),
        ],
    };
    let nulls = FeatureRow {
        event_time_micros: 0,
        values: vec![FeatureValue::Null; 6],
    };
    let rows = [
        EntityRow {
            key: "full".to_string(),
            row: full.clone(),
        },
        EntityRow {
            key: "nulls".to_string(),
            row: nulls.clone(),
        },
    ];
    store.write(&l, &rows, None).await.unwrap();
    let got = store.read("typed", &["full", "nulls"]).await.unwrap();
    assert_eq!(got, vec![Some(full), Some(nulls)]);
}

/// Runs every conformance check as its own `#[tokio::test]`.
///
/// `$store` is an async expression making a fresh, empty store for each test:
///
/// ```ignore
/// quiver_test::online_store_conformance!(async { fresh_embedded_store() });
/// ```
#[macro_export]
macro_rules! online_store_conformance {
    ($store:expr) => {
        $crate::online_store_conformance!(@tests $store;
            latest_event_time_wins,
            equal_event_time_replaces,
            latest_wins_within_one_write,
            writes_are_idempotent,
            batch_order_is_preserved_with_missing_keys,
            unknown_view_is_an_error,
            views_are_separate,
            layout_and_offline_version_are_recorded,
            new_layout_replaces_the_view,
            new_layout_forgets_the_offline_version,
            read_with_layout_pairs_rows_and_layout,
            mismatched_row_is_refused_whole,
            delete_removes_rows_whatever_their_time,
            check_write_refuses_and_stores_nothing,
            check_write_of_a_new_layout_is_not_a_redefinition,
            every_value_type_round_trips
        );
    };
    (@tests $store:expr; $($check:ident),*) => {
        $(
            #[tokio::test]
            async fn $check() {
                let store = $store.await;
                $crate::online_conformance::$check(&*store).await;
            }
        )*
    };
}

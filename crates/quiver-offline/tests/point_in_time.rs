//! Training sets against an independent, brute-force point-in-time join;
//! time travel, the table log and incremental reads against known commits.

use chrono::{DateTime, NaiveDate, Utc};
use quiver_core::{Entity, Feature, FeatureView, ValueType};
use quiver_offline::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int64Array, RecordBatch,
    TimestampMicrosecondArray,
};
use quiver_offline::arrow::datatypes::{Float64Type, Int64Type};
use quiver_offline::{
    AsOf, OfflineError, OfflineStore, Selection, StorageOptions, TableFormat, TrainingSet,
    ViewFeatures, WriteMode,
};
use std::sync::Arc;

const DAY: i64 = 86_400_000_000;

fn user() -> Entity {
    Entity {
        name: "user".into(),
        join_key: "user_id".into(),
        value_type: ValueType::Int64,
        description: String::new(),
    }
}

/// Clicks: timestamped rows, a 2-day TTL, some null values.
fn clicks_view() -> FeatureView {
    FeatureView {
        name: "clicks".into(),
        source: "raw".into(),
        entity: "user".into(),
        event_time: "at".into(),
        ttl_seconds: Some(2 * 86_400),
        sql: String::new(),
        sql_file: None,
        features: vec![Feature {
            name: "clicks".into(),
            value_type: ValueType::Int64,
        }],
        description: String::new(),
    }
}

/// Spend: one row per day (a date event time), no TTL.
fn spend_view() -> FeatureView {
    FeatureView {
        name: "spend".into(),
        source: "raw".into(),
        entity: "user".into(),
        event_time: "day".into(),
        ttl_seconds: None,
        sql: String::new(),
        sql_file: None,
        features: vec![Feature {
            name: "spend".into(),
            value_type: ValueType::Float64,
        }],
        description: String::new(),
    }
}

fn micros(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_micros()
}

fn base() -> i64 {
    micros("2024-03-01T00:00:00Z")
}

/// A small deterministic generator, so the test needs no dependency.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

type ClickRow = (i64, i64, Option<i64>); // user, at, clicks
type SpendRow = (i64, i32, f64); // user, day (days since epoch), spend

fn clicks_batch(rows: &[ClickRow]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "user_id",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
        ),
        (
            "at",
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                    .with_timezone("UTC"),
            ),
        ),
        (
            "clicks",
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))),
        ),
    ])
    .unwrap()
}

fn spend_batch(rows: &[SpendRow]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "user_id",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
        ),
        (
            "day",
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.1))),
        ),
        (
            "spend",
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ),
    ])
    .unwrap()
}

fn store(dir: &tempfile::TempDir) -> OfflineStore {
    let root = url::Url::from_directory_path(dir.path().join("offline")).unwrap();
    OfflineStore::at(root, StorageOptions::default())
}

fn day_of(micros: i64) -> i32 {
    micros.div_euclid(DAY) as i32
}

fn rfc3339(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The point-in-time join done the slow, obvious way.
fn expected_clicks(rows: &[ClickRow], user: i64, at: i64) -> Option<Option<i64>> {
    rows.iter()
        .filter(|r| r.0 == user && r.1 <= at && at - r.1 <= 2 * DAY)
        .max_by_key(|r| r.1)
        .map(|r| r.2)
}

fn expected_spend(rows: &[SpendRow], user: i64, at: i64) -> Option<f64> {
    rows.iter()
        .filter(|r| r.0 == user && i64::from(r.1) * DAY <= at)
        .max_by_key(|r| r.1)
        .map(|r| r.2)
}

#[tokio::test]
async fn a_training_set_equals_a_brute_force_point_in_time_join() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let mut rng = Lcg(7);

    // Hand-built cases for user 1, then random history for users 2..40.
    let mut clicks: Vec<ClickRow> = vec![
        (1, base() + DAY, Some(10)),
        (1, base() + 3 * DAY, None), // the latest row's value is null
        (1, base() + 10 * DAY, Some(30)),
    ];
    let mut spend: Vec<SpendRow> = vec![(1, day_of(base()) + 2, 2.5), (1, day_of(base()) + 5, 5.5)];
    for user in 2..40 {
        let mut at = base() + rng.next(5) as i64 * DAY;
        for _ in 0..rng.next(12) {
            at += rng.next(3 * DAY as u64) as i64 + 1;
            let value = (rng.next(10) > 0).then(|| rng.next(1000) as i64);
            clicks.push((user, at, value));
        }
        for day in 0..30 {
            if rng.next(3) == 0 {
                spend.push((user, day_of(base()) + day, rng.next(10_000) as f64 / 100.0));
            }
        }
    }
    // Two commits per view, so the join reads more than one version's files.
    let (first, second) = clicks.split_at(clicks.len() / 2);
    for rows in [first, second] {
        store
            .write(
                &clicks_view(),
                "user_id",
                vec![clicks_batch(rows)],
                WriteMode::Append,
            )
            .await
            .unwrap();
    }
    store
        .write(
            &spend_view(),
            "user_id",
            vec![spend_batch(&spend)],
            WriteMode::Append,
        )
        .await
        .unwrap();

    // Entity rows: the hand-built edges first, then random ones with
    // duplicates and users without any feature row.
    let mut entity_rows: Vec<(i64, i64)> = vec![
        (1, base() + DAY),         // exactly at a feature's event time: sees it
        (1, base() + DAY - 1),     // a microsecond before any feature row
        (1, base() + 3 * DAY + 5), // latest row has a null value: null, not 10
        (1, base() + 9 * DAY),     // 6 days after the last click row: beyond the TTL
        (1, base() + 9 * DAY),     // the same row twice: both come back
        (1, base() + 2 * DAY + 1), // spend of day +2 (midnight) is visible
        (999, base() + 5 * DAY),   // an unknown user: nulls, row kept
    ];
    for _ in 0..400 {
        let user = rng.next(45) as i64 + 1;
        let at = base() + rng.next(45 * DAY as u64) as i64 - 5 * DAY;
        entity_rows.push((user, at));
    }
    let entities = dir.path().join("entities.csv");
    let mut text = String::from("label,user_id,event_timestamp\n");
    for (i, (user, at)) in entity_rows.iter().enumerate() {
        text.push_str(&format!(
            "row{i},{user},{}\n",
            rfc3339(*at).replace("Z", "+00:00")
        ));
    }
    // Whole seconds in the file: round the expectations' inputs the same way.
    let entity_rows: Vec<(i64, i64)> = entity_rows
        .iter()
        .map(|(u, at)| (*u, at.div_euclid(1_000_000) * 1_000_000))
        .collect();
    std::fs::write(&entities, text).unwrap();

    let request = TrainingSet {
        entities: entities.clone(),
        entities_format: TableFormat::Csv,
        timestamp_column: "event_timestamp".into(),
        views: vec![
            ViewFeatures {
                view: clicks_view(),
                entity: user(),
                features: vec!["clicks".into()],
            },
            ViewFeatures {
                view: spend_view(),
                entity: user(),
                features: vec!["spend".into()],
            },
        ],
        at: AsOf::Latest,
        full_feature_names: false,
        // Small enough that the sorts spill.
        memory_limit: 24 * 1024 * 1024,
        spill_dir: Some(dir.path().to_path_buf()),
    };
    let out = dir.path().join("training.parquet");
    let summary = request
        .write(&store, &out, TableFormat::Parquet, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(summary.rows, entity_rows.len() as u64);
    assert_eq!(
        summary.columns,
        ["label", "user_id", "event_timestamp", "clicks", "spend"]
    );

    let batches = quiver_offline::read_table(&out, TableFormat::Parquet)
        .await
        .unwrap();
    let mut row = 0;
    let mut matched_clicks = 0;
    for batch in &batches {
        let labels = quiver_offline::arrow::compute::cast(
            batch.column(0),
            &quiver_offline::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let labels = labels.as_string::<i32>();
        let users = batch.column(1).as_primitive::<Int64Type>();
        let clicks_out = batch.column(3).as_primitive::<Int64Type>();
        let spend_out = batch.column(4).as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            let (user, at) = entity_rows[row];
            assert_eq!(labels.value(i), format!("row{row}"), "order kept");
            assert_eq!(users.value(i), user);
            let want = expected_clicks(&clicks, user, at);
            let got = clicks_out.is_valid(i).then(|| clicks_out.value(i));
            assert_eq!(
                got,
                want.flatten(),
                "clicks of row {row} (user {user} at {})",
                rfc3339(at)
            );
            matched_clicks += u64::from(want.is_some());
            let got = spend_out.is_valid(i).then(|| spend_out.value(i));
            assert_eq!(got, expected_spend(&spend, user, at), "spend of row {row}");
            row += 1;
        }
    }
    assert_eq!(row, entity_rows.len());
    // The hand-built expectations, spelled out.
    assert_eq!(
        expected_clicks(&clicks, 1, entity_rows[0].1),
        Some(Some(10))
    );
    assert_eq!(expected_clicks(&clicks, 1, entity_rows[1].1), None);
    assert_eq!(expected_clicks(&clicks, 1, entity_rows[2].1), Some(None));
    assert_eq!(expected_clicks(&clicks, 1, entity_rows[3].1), None);
    assert_eq!(expected_spend(&spend, 1, entity_rows[5].1), Some(2.5));
    // A row whose latest feature row holds a null still matched that row.
    assert_eq!(summary.views[0].rows_matched, matched_clicks);
}

async fn one_view_request(dir: &tempfile::TempDir, csv: &str) -> (TrainingSet, std::path::PathBuf) {
    let entities = dir.path().join("entities.csv");
    std::fs::write(&entities, csv).unwrap();
    let request = TrainingSet {
        entities,
        entities_format: TableFormat::Csv,
        timestamp_column: "event_timestamp".into(),
        views: vec![ViewFeatures {
            view: clicks_view(),
            entity: user(),
            features: vec!["clicks".into()],
        }],
        at: AsOf::Latest,
        full_feature_names: false,
        memory_limit: 64 * 1024 * 1024,
        spill_dir: None,
    };
    (request, dir.path().join("out.csv"))
}

#[tokio::test]
async fn bad_entity_files_are_refused_by_name_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let rows = [(1, base(), Some(1))];
    store
        .write(
            &clicks_view(),
            "user_id",
            vec![clicks_batch(&rows)],
            WriteMode::Append,
        )
        .await
        .unwrap();
    let cases = [
        (
            "user_id,when\n1,2024-03-02T00:00:00Z\n",
            "no timestamp column `event_timestamp`",
        ),
        (
            "uid,event_timestamp\n1,2024-03-02T00:00:00Z\n",
            "no column `user_id`",
        ),
        (
            "user_id,event_timestamp\n1,yesterday\n",
            "row 1: `yesterday` in column `event_timestamp` is not a timestamp",
        ),
        (
            "user_id,event_timestamp\n1,2024-03-02T00:00:00Z\n2,2024-03-02 00:00:00\n",
            "mixes timestamps with a zone (row 1",
        ),
        (
            "user_id,event_timestamp\nabc,2024-03-02T00:00:00Z\n",
            "`abc` in column `user_id` is not a int64 key",
        ),
    ];
    for (csv, expected) in cases {
        let (request, out) = one_view_request(&dir, csv).await;
        let err = request
            .write(&store, &out, TableFormat::Csv, &|_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, OfflineError::EntityFile { .. }), "{err}");
        assert!(
            err.to_string().contains(expected),
            "{err}\nexpected: {expected}"
        );
        assert!(!out.exists(), "nothing written for {csv:?}");
    }

    let (mut request, out) =
        one_view_request(&dir, "user_id,event_timestamp\n1,2024-03-02T00:00:00Z\n").await;
    request.at = AsOf::Version(7);
    let err = request
        .write(&store, &out, TableFormat::Csv, &|_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has no version 7: it has versions 0 to 0"),
        "{err}"
    );
    request.at = AsOf::Time(
        DateTime::parse_from_rfc3339("2001-01-01T00:00:00Z")
            .unwrap()
            .to_utc(),
    );
    let err = request
        .write(&store, &out, TableFormat::Csv, &|_, _| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("its first version was committed at"), "{err}");
    assert!(!out.exists());
}

#[tokio::test]
async fn time_travel_the_log_and_incremental_reads_follow_the_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let view = clicks_view();
    let day = |n: i64| base() + n * DAY;
    let v0 = [
        (1, day(0), Some(1)),
        (2, day(0), Some(2)),
        (1, day(1), Some(3)),
    ];
    let v1 = [(1, day(2), Some(4)), (3, day(2), Some(5))];
    store
        .write(&view, "user_id", vec![clicks_batch(&v0)], WriteMode::Append)
        .await
        .unwrap();
    let after_v0 = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    store
        .write(&view, "user_id", vec![clicks_batch(&v1)], WriteMode::Append)
        .await
        .unwrap();
    // v2 replaces day 0 with one row.
    let replace = WriteMode::ReplaceRange {
        start: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap().to_string(),
        end: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap().to_string(),
    };
    store
        .write(
            &view,
            "user_id",
            vec![clicks_batch(&[(2, day(0), Some(20))])],
            replace,
        )
        .await
        .unwrap();

    let history = |at: AsOf| {
        let store = store.clone();
        let view = view.clone();
        async move {
            let batches = store.history(&view, &user(), "2", at).await.unwrap();
            batches
                .iter()
                .flat_map(|b| {
                    let c = b
                        .column_by_name("clicks")
                        .unwrap()
                        .as_primitive::<Int64Type>()
                        .clone();
                    (0..c.len()).map(move |i| c.value(i)).collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(history(AsOf::Latest).await, [20]);
    assert_eq!(history(AsOf::Version(0)).await, [2]);
    assert_eq!(
        history(AsOf::Time(after_v0)).await,
        [2],
        "as of a time between v0 and v1"
    );

    let log = store.log("clicks").await.unwrap();
    let summary: Vec<_> = log
        .iter()
        .map(|c| (c.version, c.rows_added, c.rows_removed, c.writer.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (0, Some(3), Some(0), "quiver 0.1.0"),
            (1, Some(2), Some(0), "quiver 0.1.0"),
            // Day 0's file held two rows (users 1 and 2); one replaces them.
            (2, Some(1), Some(2), "quiver 0.1.0"),
        ]
    );

    // Since v0, the table added day 2's file (v1) and the new day-0 file (v2).
    let since_v0 = Selection {
        added_after: Some(0),
        ..Default::default()
    };
    let read = store.latest_rows(&view, &user(), &since_v0).await.unwrap();
    assert_eq!((read.version, read.files_read), (2, Some(2)));
    let rows: usize = read.batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(
        rows, 3,
        "users 1 and 3 from day 2, user 2 from the new day 0"
    );
    let since_v2 = Selection {
        added_after: Some(2),
        ..Default::default()
    };
    let read = store.latest_rows(&view, &user(), &since_v2).await.unwrap();
    assert_eq!((read.files_read, read.batches.len()), (Some(0), 0));
}

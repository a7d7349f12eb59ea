//! Two writers committing to one table on S3 at once (the local
//! S3-compatible server of scripts/services/up.sh): both commits land, one
//! after the other, because delta-rs commits with a conditional put.
#![cfg(feature = "integration")]

use quiver_core::{Feature, FeatureView, ValueType};
use quiver_offline::arrow::array::{ArrayRef, Int64Array, RecordBatch, TimestampMicrosecondArray};
use quiver_offline::{OfflineStore, StorageOptions, WriteMode};
use std::sync::Arc;

fn view() -> FeatureView {
    FeatureView {
        name: "clicks".into(),
        source: "raw".into(),
        entity: "user".into(),
        event_time: "at".into(),
        ttl_seconds: None,
        sql: String::new(),
        sql_file: None,
        features: vec![Feature {
            name: "clicks".into(),
            value_type: ValueType::Int64,
        }],
        description: String::new(),
    }
}

fn rows(users: std::ops::Range<i64>, day: i64) -> Vec<RecordBatch> {
    let n = users.clone().count();
    let at = TimestampMicrosecondArray::from(vec![1_700_000_000_000_000 + day * 86_400_000_000; n])
        .with_timezone("UTC");
    vec![
        RecordBatch::try_from_iter([
            (
                "user_id",
                Arc::new(Int64Array::from_iter_values(users.clone())) as ArrayRef,
            ),
            ("at", Arc::new(at)),
            ("clicks", Arc::new(Int64Array::from_iter_values(users))),
        ])
        .unwrap(),
    ]
}

#[tokio::test]
async fn concurrent_appends_to_one_table_on_s3_both_land() {
    let endpoint = std::env::var("QUIVER_TEST_S3_ENDPOINT").expect(
        "QUIVER_TEST_S3_ENDPOINT is unset: start scripts/services/up.sh and source its env.sh",
    );
    let bucket = format!(
        "quiver-commits-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let created = std::process::Command::new("curl")
        .args(["-fsS", "-X", "PUT", &format!("{endpoint}/{bucket}")])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("curl runs");
    assert!(created.success());
    // Settings as a repository's [offline_store] storage_options would give them.
    let options = StorageOptions::new([
        ("aws_endpoint_url".to_string(), endpoint.clone()),
        ("aws_access_key_id".to_string(), "quiver-test".to_string()),
        (
            "aws_secret_access_key".to_string(),
            "quiver-test-secret".to_string(),
        ),
        ("aws_region".to_string(), "us-east-1".to_string()),
        ("aws_allow_http".to_string(), "true".to_string()),
    ]);
    let root = url::Url::parse(&format!("s3://{bucket}/tables/")).unwrap();
    let first = OfflineStore::at(root.clone(), options.clone());
    let second = OfflineStore::at(root, options);
    first
        .write(&view(), "user_id", rows(0..10, 0), WriteMode::Append)
        .await
        .unwrap();

    let view = view();
    for round in 1..=3 {
        let (a, b) = tokio::join!(
            first.write(&view, "user_id", rows(0..10, 2 * round), WriteMode::Append),
            second.write(
                &view,
                "user_id",
                rows(10..20, 2 * round + 1),
                WriteMode::Append
            ),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_ne!(
            a.version, b.version,
            "round {round}: two commits, two versions"
        );
    }
    let log = first.log("clicks").await.unwrap();
    assert_eq!(
        log.iter().map(|c| c.version).collect::<Vec<_>>(),
        (0..=6).collect::<Vec<_>>(),
        "every commit is a version of its own"
    );
    let added: u64 = log.iter().map(|c| c.rows_added.unwrap()).sum();
    assert_eq!(added, 10 + 3 * 20, "no commit overwrote another");
}

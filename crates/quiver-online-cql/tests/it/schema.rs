//! `prepare` (what `quiver apply` runs): tables follow the views, a type
//! change is refused naming the view and the column, and a refusal changes
//! nothing.

use crate::support::{columns, fresh_store, plain_config, with_feature};
use quiver_core::ValueType;
use quiver_online::{OnlineError, OnlineStore};
use quiver_test::online_conformance::{layout, row};

#[tokio::test]
async fn prepare_creates_tables_and_adds_a_new_feature_column() {
    let store = fresh_store(plain_config()).await;
    store.prepare(&[layout("energy")]).await.unwrap();
    let before = columns(&store, "energy").await;
    assert_eq!(before.get("total").map(String::as_str), Some("double"));
    assert_eq!(before.get("count").map(String::as_str), Some("bigint"));

    let wider = with_feature(&layout("energy"), "peak_at", ValueType::Timestamp);
    store.prepare(std::slice::from_ref(&wider)).await.unwrap();
    let after = columns(&store, "energy").await;
    assert_eq!(after.get("peak_at").map(String::as_str), Some("bigint"));
    assert_eq!(after.len(), before.len() + 1);

    // Preparing again changes nothing and is fine.
    store.prepare(&[wider]).await.unwrap();
}

#[tokio::test]
async fn a_type_change_is_refused_naming_view_and_column_and_changes_nothing() {
    let store = fresh_store(plain_config()).await;
    store.prepare(&[layout("energy")]).await.unwrap();
    store
        .write(&layout("energy"), &[row("a", 1, 1.0)], None)
        .await
        .unwrap();

    let mut changed = with_feature(&layout("energy"), "flag", ValueType::Bool);
    changed.features[0].1 = ValueType::String;
    // Another, new view in the same call must not be created either.
    let result = store.prepare(&[layout("weather"), changed.clone()]).await;
    match result {
        Err(OnlineError::IncompatibleSchema {
            view,
            column,
            problem,
        }) => {
            assert_eq!((view.as_str(), column.as_str()), ("energy", "total"));
            assert!(problem.contains("double"), "{problem}");
        }
        other => panic!("expected IncompatibleSchema, got {other:?}"),
    }
    assert!(
        columns(&store, "weather").await.is_empty(),
        "a refused prepare created a table"
    );
    assert!(!columns(&store, "energy").await.contains_key("flag"));

    // A job with the changed definition is refused the same way, and the
    // rows already there keep being served.
    let result = store.write(&changed, &[], None).await;
    assert!(
        matches!(result, Err(OnlineError::IncompatibleSchema { ref column, .. }) if column == "total"),
        "{result:?}"
    );
    let got = store.read("energy", &["a"]).await.unwrap();
    assert_eq!(got[0].as_ref(), Some(&row("a", 1, 1.0).row));
}

#[tokio::test]
async fn without_create_keyspace_a_missing_keyspace_is_a_config_error() {
    let mut config = plain_config();
    config.create_keyspace = false;
    let store = crate::support::fresh_store(config).await;
    match store.prepare(&[layout("energy")]).await {
        Err(OnlineError::Config { key, problem }) => {
            assert_eq!(key, "keyspace");
            assert!(problem.contains(store.keyspace()), "{problem}");
        }
        other => panic!("expected a Config error, got {other:?}"),
    }
}

#[tokio::test]
async fn names_keep_their_case_and_may_be_cql_keywords() {
    let store = fresh_store(plain_config()).await;
    let l = quiver_online::ViewLayout {
        view: "Weather".to_string(),
        entity_key: "id".to_string(),
        event_time: "day".to_string(),
        features: vec![
            ("select".to_string(), ValueType::Float64),
            ("Total".to_string(), ValueType::Int64),
            ("total".to_string(), ValueType::String),
        ],
    };
    let row = quiver_online::EntityRow {
        key: "MAC000002 ☃".to_string(),
        row: quiver_online::FeatureRow {
            event_time_micros: 1,
            values: vec![
                quiver_online::FeatureValue::Float64(1.5),
                quiver_online::FeatureValue::Int64(2),
                quiver_online::FeatureValue::String("three".to_string()),
            ],
        },
    };
    store.prepare(std::slice::from_ref(&l)).await.unwrap();
    store
        .write(&l, std::slice::from_ref(&row), None)
        .await
        .unwrap();
    let (layout, rows) = store
        .read_with_layout("Weather", &["MAC000002 ☃"])
        .await
        .unwrap();
    assert_eq!(*layout, l);
    assert_eq!(rows[0].as_ref(), Some(&row.row));
    assert!(matches!(
        store.read("weather", &["MAC000002 ☃"]).await,
        Err(OnlineError::UnknownView { .. })
    ));
}

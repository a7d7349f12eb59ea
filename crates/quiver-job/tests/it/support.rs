//! Running the job against a [`TestRepo`] and reading both stores back.

use quiver_core::{FeatureRepo, Registry};
use quiver_job::{JobError, RunOptions, RunSummary};
use quiver_offline::OfflineStore;
use quiver_offline::arrow::array::{Array, AsArray, RecordBatch};
use quiver_offline::arrow::datatypes::{Date32Type, Float64Type, Int64Type};
use quiver_online::FeatureValue;
use quiver_test::TestRepo;
use std::collections::BTreeMap;

pub const VIEW: &str = "energy_features";

/// Loads and applies the repository (definitions + SQL validation).
pub async fn apply(repo: &TestRepo) -> Result<FeatureRepo, JobError> {
    let definitions = FeatureRepo::load(repo.path())?;
    quiver_job::validate_repo(&definitions).await?;
    Registry::new(definitions.clone()).save()?;
    Ok(definitions)
}

/// Applies and runs the energy view.
pub async fn run(repo: &TestRepo) -> Result<RunSummary, JobError> {
    run_with(repo, RunOptions::default()).await
}

pub async fn run_with(repo: &TestRepo, options: RunOptions) -> Result<RunSummary, JobError> {
    let definitions = apply(repo).await?;
    let online = quiver_backends::open_online_store(&definitions).await?;
    let offline = OfflineStore::for_repo(&definitions)?;
    quiver_job::run_view(&definitions, VIEW, online.as_ref(), &offline, options).await
}

/// A feature value as f64 (ints widened), `None` for null.
pub type Features = BTreeMap<String, Option<f64>>;

/// Every offline row, keyed by (id, day as days since the epoch).
pub async fn offline_rows(repo: &TestRepo) -> BTreeMap<(String, i32), Features> {
    let definitions = FeatureRepo::load(repo.path()).unwrap();
    let offline = OfflineStore::for_repo(&definitions).unwrap();
    let ctx = quiver_offline::datafusion::prelude::SessionContext::new();
    offline
        .register(&ctx, VIEW, "t", None)
        .await
        .unwrap()
        .expect("a table");
    let batches = ctx
        .sql("SELECT * FROM t")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    rows_of(&batches)
}

pub fn rows_of(batches: &[RecordBatch]) -> BTreeMap<(String, i32), Features> {
    let mut out = BTreeMap::new();
    for batch in batches {
        let schema = batch.schema();
        let ids = quiver_offline::arrow::compute::cast(
            batch.column_by_name("id").unwrap(),
            &quiver_offline::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let ids = ids.as_string::<i32>();
        let days = batch
            .column_by_name("day_date")
            .unwrap()
            .as_primitive::<Date32Type>();
        for row in 0..batch.num_rows() {
            let mut features = Features::new();
            for (i, field) in schema.fields().iter().enumerate() {
                let name = field.name();
                if name == "id" || name == "day_date" {
                    continue;
                }
                let column = batch.column(i);
                let value = if column.is_null(row) {
                    None
                } else if let Some(f) = column.as_primitive_opt::<Float64Type>() {
                    Some(f.value(row))
                } else {
                    Some(column.as_primitive::<Int64Type>().value(row) as f64)
                };
                features.insert(name.clone(), value);
            }
            let key = (ids.value(row).to_string(), days.value(row));
            assert!(
                out.insert(key.clone(), features).is_none(),
                "duplicate offline row {key:?}"
            );
        }
    }
    out
}

/// The online row of each id: (event day, features), `None` if absent.
pub async fn online_rows(repo: &TestRepo, ids: &[&str]) -> Vec<Option<(i32, Features)>> {
    let definitions = FeatureRepo::load(repo.path()).unwrap();
    let store = quiver_backends::open_online_store(&definitions)
        .await
        .unwrap();
    let layout = store
        .layout(VIEW)
        .await
        .unwrap()
        .expect("the view was written");
    let rows = store.read(VIEW, ids).await.unwrap();
    rows.into_iter()
        .map(|row| {
            let row = row?;
            let features = layout
                .features
                .iter()
                .zip(&row.values)
                .map(|((name, _), v)| {
                    let v = match v {
                        FeatureValue::Null => None,
                        FeatureValue::Float64(f) => Some(*f),
                        FeatureValue::Int64(i) => Some(*i as f64),
                        other => panic!("unexpected {other:?}"),
                    };
                    (name.clone(), v)
                })
                .collect();
            Some(((row.event_time_micros / 86_400_000_000) as i32, features))
        })
        .collect()
}

/// Days since the epoch of `YYYY-MM-DD`.
pub fn day(text: &str) -> i32 {
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
    (date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
}

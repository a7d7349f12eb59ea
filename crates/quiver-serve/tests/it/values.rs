//! HTTP and gRPC agree on every value, those JSON has no literal for
//! included: each transport sends the value exactly as stored (the rule in
//! docs/SERVING.md, "Values").

use crate::support::*;
use quiver_core::FeatureRepo;
use quiver_online::{EntityRow, FeatureRow, FeatureValue, ViewLayout};
use quiver_proto::serving::get_online_features_request::Kind;
use quiver_proto::serving::{
    FeatureList, FieldStatus, GetOnlineFeaturesRequest, RepeatedValue, Value, value,
};
use serde_json::json;

/// A view with a float, a date and a timestamp feature. Its SQL only has to
/// pass `quiver apply`: the test writes the rows itself, with values no
/// CSV would give.
const ODD_VIEW: &str = r#"
[feature_views.odd_values]
source = "energy_daily"
entity = "household"
event_time = "day_date"
sql = "SELECT household_id AS id, day AS day_date, energy_sum AS ratio, day AS last_day, CAST(day AS TIMESTAMP) AS seen_at FROM energy_daily"
[feature_views.odd_values.features]
ratio = "float64"
last_day = "date"
seen_at = "timestamp"
"#;

/// A stored value, its JSON and its gRPC value.
type Encodings = (FeatureValue, serde_json::Value, value::Val);

/// Each stored row: id, then per feature its [`Encodings`].
fn cases() -> Vec<(&'static str, [Encodings; 3])> {
    use value::Val;
    vec![
        (
            "nan",
            [
                (
                    FeatureValue::Float64(f64::NAN),
                    json!("NaN"),
                    Val::DoubleVal(f64::NAN),
                ),
                (
                    FeatureValue::Date(i32::MAX),
                    json!("+5881580-07-11"),
                    Val::DateVal(i32::MAX),
                ),
                (
                    FeatureValue::Timestamp(i64::MAX),
                    json!("+294247-01-10T04:00:54.775807Z"),
                    Val::UnixTimestampMicrosVal(i64::MAX),
                ),
            ],
        ),
        (
            "inf",
            [
                (
                    FeatureValue::Float64(f64::INFINITY),
                    json!("Infinity"),
                    Val::DoubleVal(f64::INFINITY),
                ),
                (
                    FeatureValue::Date(i32::MIN),
                    json!("-5877641-06-23"),
                    Val::DateVal(i32::MIN),
                ),
                (
                    FeatureValue::Timestamp(i64::MIN),
                    json!("-290308-12-21T19:59:05.224192Z"),
                    Val::UnixTimestampMicrosVal(i64::MIN),
                ),
            ],
        ),
        (
            "neg",
            [
                (
                    FeatureValue::Float64(f64::NEG_INFINITY),
                    json!("-Infinity"),
                    Val::DoubleVal(f64::NEG_INFINITY),
                ),
                // The first day after 9999-12-31, and the last microsecond before 0000-01-01.
                (
                    FeatureValue::Date(2_932_897),
                    json!("+10000-01-01"),
                    Val::DateVal(2_932_897),
                ),
                (
                    FeatureValue::Timestamp(-62_167_219_200_000_001),
                    json!("-0001-12-31T23:59:59.999999Z"),
                    Val::UnixTimestampMicrosVal(-62_167_219_200_000_001),
                ),
            ],
        ),
        (
            "plain",
            [
                (FeatureValue::Float64(0.5), json!(0.5), Val::DoubleVal(0.5)),
                (FeatureValue::Date(0), json!("1970-01-01"), Val::DateVal(0)),
                (
                    FeatureValue::Timestamp(1_500_000),
                    json!("1970-01-01T00:00:01.500Z"),
                    Val::UnixTimestampMicrosVal(1_500_000),
                ),
            ],
        ),
    ]
}

/// The repository with `odd_values` applied and its rows written.
pub(crate) async fn repo_with_odd_values() -> (quiver_test::TestRepo, FeatureRepo) {
    let repo = quiver_test::TestRepo::energy(&csv());
    repo.edit_config(|text| text + ODD_VIEW);
    let definitions = apply(&repo).await;
    let view = definitions.feature_view("odd_values").unwrap();
    let layout = ViewLayout::of(view, definitions.entity_of(view));
    let store = quiver_backends::open_online_store(&definitions)
        .await
        .unwrap();
    store.prepare(std::slice::from_ref(&layout)).await.unwrap();
    let rows: Vec<EntityRow> = cases()
        .into_iter()
        .map(|(id, values)| EntityRow {
            key: id.to_string(),
            row: FeatureRow {
                event_time_micros: 1_700_000_000_000_000,
                values: values.into_iter().map(|(stored, _, _)| stored).collect(),
            },
        })
        .collect();
    store.write(&layout, &rows, None).await.unwrap();
    (repo, definitions)
}

pub(crate) const FEATURES: [&str; 3] = [
    "odd_values:ratio",
    "odd_values:last_day",
    "odd_values:seen_at",
];

/// Today's rule on both transports: NaN, the infinities and dates and
/// times outside years 0000–9999 are PRESENT with their value, in JSON as
/// the protobuf JSON mapping (and Feast's server) writes them; the old
/// server answered null (status PRESENT) over HTTP and the value over gRPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_grpc_send_every_value_as_stored() {
    let (_repo, definitions) = repo_with_odd_values().await;
    let server = start(&definitions, test_config()).await;
    let cases = cases();
    let ids: Vec<&str> = cases.iter().map(|(id, _)| *id).collect();

    let over_http = post_features(
        server.http,
        &json!({"entities": {"id": ids}, "features": FEATURES}),
    )
    .await;
    assert_eq!(
        over_http.status,
        200,
        "{}",
        String::from_utf8_lossy(&over_http.body)
    );
    let over_http = over_http.json();

    let over_grpc = server
        .grpc_client()
        .await
        .get_online_features(GetOnlineFeaturesRequest {
            kind: Some(Kind::Features(FeatureList {
                val: FEATURES.iter().map(|f| f.to_string()).collect(),
            })),
            entities: [(
                "id".to_string(),
                RepeatedValue {
                    val: ids
                        .iter()
                        .map(|id| Value {
                            val: Some(value::Val::StringVal(id.to_string())),
                        })
                        .collect(),
                },
            )]
            .into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    for (column, feature) in FEATURES.iter().enumerate() {
        let json_column = &over_http["results"][column + 1];
        let grpc_column = &over_grpc.results[column + 1];
        for (row, (id, values)) in cases.iter().enumerate() {
            let (stored, json_value, grpc_value) = &values[column];
            let at = format!("{feature} of {id} ({stored:?})");
            assert_eq!(json_column["statuses"][row], "PRESENT", "{at} over HTTP");
            assert_eq!(&json_column["values"][row], json_value, "{at} over HTTP");
            assert_eq!(
                grpc_column.statuses[row],
                FieldStatus::Present as i32,
                "{at} over gRPC"
            );
            let sent = grpc_column.values[row].val.as_ref().unwrap();
            // NaN is not equal to itself: compare the bits.
            let same = match (sent, grpc_value) {
                (value::Val::DoubleVal(a), value::Val::DoubleVal(b)) => a.to_bits() == b.to_bits(),
                (a, b) => a == b,
            };
            assert!(same, "{at} over gRPC: {sent:?}");
        }
    }

    // One entity by path writes values the same way.
    let nan = http(server.http, "GET", "/features/odd_values/nan", &[], None)
        .await
        .json();
    assert_eq!(
        nan["features"],
        json!({"ratio": "NaN", "last_day": "+5881580-07-11",
               "seen_at": "+294247-01-10T04:00:54.775807Z"})
    );
}

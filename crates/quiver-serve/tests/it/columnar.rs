//! `GetOnlineFeaturesColumnar` answers every cell exactly as
//! `GetOnlineFeatures` does, only packed by column, and fails alike.

use crate::grpc::{proto_request, sample_requests};
use crate::support::*;
use crate::values::{FEATURES, repo_with_odd_values};
use prost::Message;
use quiver_proto::serving::get_online_features_request::Kind;
use quiver_proto::serving::get_online_features_response::FeatureVector;
use quiver_proto::serving::{
    Column, FeatureList, FieldStatus, GetOnlineFeaturesColumnarResponse, GetOnlineFeaturesRequest,
    GetOnlineFeaturesResponse, GetOnlineFeaturesResponseMetadata, RepeatedValue, Value, ValueType,
    value::Val,
};
use serde_json::json;

/// The columnar answer in the Feast shape, checking on the way that each
/// column fills exactly the array its type names, one entry per row.
fn as_feast(columnar: &GetOnlineFeaturesColumnarResponse) -> GetOnlineFeaturesResponse {
    assert_eq!(columnar.feature_names.len(), columnar.columns.len());
    let results = columnar
        .columns
        .iter()
        .zip(&columnar.feature_names)
        .map(|(column, name)| {
            let rows = column.statuses.len();
            let filled = filled_arrays(column);
            assert_eq!(
                filled,
                vec![(column.r#type(), rows)],
                "column {name}: arrays filled"
            );
            let values = (0..rows)
                .map(|row| Value {
                    val: (column.statuses[row] == FieldStatus::Present as u8)
                        .then(|| value_at(column, row)),
                })
                .collect();
            FeatureVector {
                values,
                statuses: column.statuses.iter().map(|&s| i32::from(s)).collect(),
                event_timestamps: column
                    .event_timestamps_micros
                    .iter()
                    .map(|&micros| quiver_proto::Timestamp {
                        seconds: micros.div_euclid(1_000_000),
                        nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32,
                    })
                    .collect(),
            }
        })
        .collect();
    GetOnlineFeaturesResponse {
        metadata: Some(GetOnlineFeaturesResponseMetadata {
            feature_names: Some(FeatureList {
                val: columnar.feature_names.clone(),
            }),
        }),
        results,
    }
}

/// The non-empty value arrays of `column`, as (type, length).
fn filled_arrays(column: &Column) -> Vec<(ValueType, usize)> {
    [
        (ValueType::Int64, column.int64_values.len()),
        (ValueType::Double, column.double_values.len()),
        (ValueType::Bool, column.bool_values.len()),
        (ValueType::String, column.string_values.len()),
        (ValueType::Date, column.date_values.len()),
        (
            ValueType::UnixTimestamp,
            column.unix_timestamp_micros_values.len(),
        ),
    ]
    .into_iter()
    .filter(|(_, len)| *len > 0)
    .collect()
}

fn value_at(column: &Column, row: usize) -> Val {
    match column.r#type() {
        ValueType::Int64 => Val::Int64Val(column.int64_values[row]),
        ValueType::Double => Val::DoubleVal(column.double_values[row]),
        ValueType::Bool => Val::BoolVal(column.bool_values[row]),
        ValueType::String => Val::StringVal(column.string_values[row].clone()),
        ValueType::Date => Val::DateVal(column.date_values[row]),
        ValueType::UnixTimestamp => {
            Val::UnixTimestampMicrosVal(column.unix_timestamp_micros_values[row])
        }
        ValueType::Unspecified => panic!("a column without a type"),
    }
}

/// The Feast-shaped answer with the key columns' event times dropped (the
/// epoch, per row, there; absent in the columnar answer).
fn without_key_times(
    mut response: GetOnlineFeaturesResponse,
    keys: usize,
) -> GetOnlineFeaturesResponse {
    for vector in &mut response.results[..keys] {
        vector.event_timestamps.clear();
    }
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columnar_answers_every_cell_as_the_feast_shape_does() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let mut client = server.grpc_client().await;
    for request in sample_requests() {
        let feast = client
            .get_online_features(proto_request(&request))
            .await
            .unwrap()
            .into_inner();
        let columnar = client
            .get_online_features_columnar(proto_request(&request))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(columnar.columns[0].r#type(), ValueType::String, "{request}");
        assert!(
            columnar.columns[1..]
                .iter()
                .any(|c| c.statuses.contains(&(FieldStatus::Present as u8))),
            "{request}: some value is found"
        );
        assert_eq!(
            as_feast(&columnar),
            without_key_times(feast, 1),
            "{request}"
        );
    }
}

/// NaN, the infinities and dates and times far outside years 0000–9999 are
/// sent as stored, typed by the view's layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columnar_sends_every_value_as_stored() {
    let (_repo, definitions) = repo_with_odd_values().await;
    let server = start(&definitions, test_config()).await;
    let mut client = server.grpc_client().await;
    let request = GetOnlineFeaturesRequest {
        kind: Some(Kind::Features(FeatureList {
            val: FEATURES.iter().map(|f| f.to_string()).collect(),
        })),
        entities: [(
            "id".to_string(),
            RepeatedValue {
                val: ["nan", "inf", "neg", "plain", "absent"]
                    .iter()
                    .map(|id| Value {
                        val: Some(Val::StringVal(id.to_string())),
                    })
                    .collect(),
            },
        )]
        .into(),
        include_event_timestamps: true,
        ..Default::default()
    };
    let feast = client
        .get_online_features(request.clone())
        .await
        .unwrap()
        .into_inner();
    let columnar = client
        .get_online_features_columnar(request)
        .await
        .unwrap()
        .into_inner();
    let types: Vec<ValueType> = columnar.columns.iter().map(|c| c.r#type()).collect();
    assert_eq!(
        types,
        [
            ValueType::String,
            ValueType::Double,
            ValueType::Date,
            ValueType::UnixTimestamp
        ]
    );
    let ratio = &columnar.columns[1];
    assert!(ratio.double_values[0].is_nan());
    assert_eq!(
        ratio.double_values[1..4],
        [f64::INFINITY, f64::NEG_INFINITY, 0.5]
    );
    assert_eq!(
        ratio.statuses[4],
        FieldStatus::NotFound as u8,
        "an id without a row"
    );
    assert_eq!(columnar.columns[2].date_values[..2], [i32::MAX, i32::MIN]);
    // NaN equals nothing, itself included: compare as printed.
    assert_eq!(
        format!("{:?}", as_feast(&columnar)),
        format!("{:?}", without_key_times(feast, 1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columnar_errors_are_the_feast_shapes() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let mut client = server.grpc_client().await;
    for request in [
        json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:nope"]}),
        json!({"entities": {"id": ["a", "a"]}, "features": ["energy_features:energy_sum"]}),
        json!({"entities": {"id": [7]}, "features": ["energy_features:energy_sum"]}),
    ] {
        let feast = client
            .get_online_features(proto_request(&request))
            .await
            .unwrap_err();
        let columnar = client
            .get_online_features_columnar(proto_request(&request))
            .await
            .unwrap_err();
        assert_eq!(columnar.code(), feast.code(), "{request}");
        assert_eq!(columnar.message(), feast.message(), "{request}");
        assert_ne!(columnar.code(), tonic::Code::Ok);
    }
}

/// The columnar method has its own route (`grpc_answers`): it keeps the
/// service's credentials check and message size limit, refusing what the
/// Feast-shaped method refuses, with the same status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columnar_route_keeps_credentials_and_size_limit() {
    let (_repo, definitions) = computed_repo().await;
    let config = quiver_serve::ServeConfig {
        api_keys: vec!["key-1".to_string()],
        max_body_bytes: 4096,
        ..test_config()
    };
    let server = start(&definitions, config).await;
    let mut client = server.grpc_client().await;
    let with_key = |request: GetOnlineFeaturesRequest| {
        let mut request = tonic::Request::new(request);
        request
            .metadata_mut()
            .insert("x-api-key", "key-1".parse().unwrap());
        request
    };
    let small = proto_request(
        &json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum"]}),
    );
    let status = client
        .get_online_features_columnar(small.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    let answer = client
        .get_online_features_columnar(with_key(small))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.feature_names, ["id", "energy_sum"]);

    let names: Vec<String> = (0..200)
        .map(|i| format!("energy_features:a_feature_name_long_enough_{i}"))
        .collect();
    let large = proto_request(&json!({"entities": {"id": ["MAC000002"]}, "features": names}));
    assert!(large.encoded_len() > 4096);
    let columnar = client
        .get_online_features_columnar(with_key(large.clone()))
        .await
        .unwrap_err();
    let feast = client
        .get_online_features(with_key(large))
        .await
        .unwrap_err();
    assert_eq!(columnar.code(), feast.code());
    assert_eq!(columnar.code(), tonic::Code::OutOfRange, "{columnar:?}");
}

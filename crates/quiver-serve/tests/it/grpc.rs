//! gRPC gives the same answers as HTTP, and the same errors.

use crate::support::*;
use quiver_proto::serving::get_online_features_request::Kind;
use quiver_proto::serving::{
    FeatureList, FieldStatus, GetOnlineFeaturesRequest, GetOnlineFeaturesResponse, RepeatedValue,
    Value, value,
};
use serde_json::json;

/// The protobuf request for the JSON request `body`.
pub(crate) fn proto_request(body: &serde_json::Value) -> GetOnlineFeaturesRequest {
    let kind = match (&body["features"], &body["feature_service"]) {
        (serde_json::Value::Array(features), _) => Kind::Features(FeatureList {
            val: features
                .iter()
                .map(|f| f.as_str().unwrap().to_string())
                .collect(),
        }),
        (_, serde_json::Value::String(service)) => Kind::FeatureService(service.clone()),
        _ => panic!("no selection"),
    };
    let entities = body["entities"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, ids)| {
            let val = ids
                .as_array()
                .unwrap()
                .iter()
                .map(|id| Value {
                    val: Some(match id {
                        serde_json::Value::String(s) => value::Val::StringVal(s.clone()),
                        other => value::Val::Int64Val(other.as_i64().unwrap()),
                    }),
                })
                .collect();
            (key.clone(), RepeatedValue { val })
        })
        .collect();
    GetOnlineFeaturesRequest {
        kind: Some(kind),
        entities,
        full_feature_names: body["full_feature_names"].as_bool().unwrap_or(false),
        include_event_timestamps: body["include_event_timestamps"].as_bool().unwrap_or(false),
    }
}

/// Requests both transports and both gRPC answers must agree on: a feature
/// list, a feature service with full names, and an unknown id among known
/// ones with event times (null values and times in every column).
pub(crate) fn sample_requests() -> [serde_json::Value; 3] {
    [
        json!({"entities": {"id": ["MAC000002", "MAC000003", "MAC999999"]},
               "features": ["energy_features:energy_sum", "energy_features:energy_count", "energy_features:energy_max_1yr"]}),
        json!({"entities": {"id": ["MAC000004", "MAC000002"]}, "feature_service": "energy_model_v1",
               "full_feature_names": true}),
        json!({"entities": {"id": ["MAC000002", "MAC999999", "MAC000004", "MAC000003"]},
               "features": ["household_totals:double_count", "energy_features:energy_sum_1yr", "household_totals:energy_sum"],
               "include_event_timestamps": true}),
    ]
}

/// The gRPC response in the HTTP JSON shape, to compare the two.
fn as_json(response: &GetOnlineFeaturesResponse) -> serde_json::Value {
    let names = &response
        .metadata
        .as_ref()
        .unwrap()
        .feature_names
        .as_ref()
        .unwrap()
        .val;
    let results: Vec<serde_json::Value> = response
        .results
        .iter()
        .map(|vector| {
            let values: Vec<serde_json::Value> = vector
                .values
                .iter()
                .map(|v| match &v.val {
                    None => json!(null),
                    Some(value::Val::StringVal(s)) => json!(s),
                    Some(value::Val::Int64Val(i)) => json!(i),
                    Some(value::Val::DoubleVal(d)) => json!(d),
                    Some(value::Val::BoolVal(b)) => json!(b),
                    Some(other) => panic!("unexpected {other:?}"),
                })
                .collect();
            let statuses: Vec<&str> = vector
                .statuses
                .iter()
                .map(|s| FieldStatus::try_from(*s).unwrap().as_str_name())
                .collect();
            let mut result = json!({"values": values, "statuses": statuses});
            if !vector.event_timestamps.is_empty() {
                let times: Vec<serde_json::Value> = vector
                    .event_timestamps
                    .iter()
                    .zip(&vector.statuses)
                    .map(|(t, s)| {
                        if *s == FieldStatus::NotFound as i32 {
                            json!(null)
                        } else {
                            let time = chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32)
                                .unwrap();
                            json!(time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                        }
                    })
                    .collect();
                result["event_timestamps"] = json!(times);
            }
            result
        })
        .collect();
    json!({"metadata": {"feature_names": names}, "results": results})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_http_answer_alike() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let mut client = server.grpc_client().await;
    for request in sample_requests() {
        let over_http = post_features(server.http, &request).await;
        assert_eq!(over_http.status, 200);
        let over_grpc = client
            .get_online_features(proto_request(&request))
            .await
            .unwrap()
            .into_inner();
        // The key column's times are the epoch in both; the JSON of gRPC
        // rebuilds them from the protobuf timestamps.
        let mut from_grpc = as_json(&over_grpc);
        if let Some(times) = from_grpc["results"][0].get_mut("event_timestamps") {
            *times = json!(
                times
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|_| "1970-01-01T00:00:00Z")
                    .collect::<Vec<_>>()
            );
        }
        assert_eq!(from_grpc, over_http.json(), "request {request}");
    }
    let info = client
        .get_server_info(quiver_proto::serving::GetServerInfoRequest {})
        .await
        .unwrap();
    assert_eq!(info.into_inner().version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_errors_carry_the_http_messages() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let mut client = server.grpc_client().await;
    let cases = [
        (
            json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:nope"]}),
            tonic::Code::NotFound,
            "unknown_feature",
        ),
        (
            json!({"entities": {"id": ["MAC000002"]}, "feature_service": "nope"}),
            tonic::Code::NotFound,
            "unknown_feature_service",
        ),
        (
            json!({"entities": {"id": []}, "features": ["energy_features:energy_sum"]}),
            tonic::Code::InvalidArgument,
            "empty_entity_ids",
        ),
        (
            json!({"entities": {"id": ["a", "a"]}, "features": ["energy_features:energy_sum"]}),
            tonic::Code::InvalidArgument,
            "duplicate_entity_id",
        ),
        (
            json!({"entities": {"id": [7]}, "features": ["energy_features:energy_sum"]}),
            tonic::Code::InvalidArgument,
            "invalid_entity_id",
        ),
        (
            json!({"entities": {"id": ["a", "b", "c", "d", "e", "f"]}, "features": ["energy_features:energy_sum"]}),
            tonic::Code::InvalidArgument,
            "too_many_ids",
        ),
    ];
    for (request, code, error_code) in cases {
        let http_message = post_features(server.http, &request).await.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        let status = client
            .get_online_features(proto_request(&request))
            .await
            .unwrap_err();
        assert_eq!(status.code(), code, "{request}");
        assert_eq!(status.message(), http_message, "{request}");
        assert_eq!(
            status
                .metadata()
                .get("quiver-error-code")
                .unwrap()
                .to_str()
                .unwrap(),
            error_code
        );
    }
    // No selection at all.
    let status = client
        .get_online_features(GetOnlineFeaturesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

/// A gRPC client that sends the start of a message and stalls gets CANCELLED
/// when the body timeout passes (as an HTTP client gets 408), and the server
/// keeps answering others meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_grpc_call_is_cancelled_at_the_body_timeout() {
    use axum::body::Bytes;
    use hyper::body::Frame;
    let (_repo, definitions) = computed_repo().await;
    let config = quiver_serve::ServeConfig {
        body_timeout: std::time::Duration::from_secs(1),
        ..test_config()
    };
    let server = start(&definitions, config).await;
    let tcp = tokio::net::TcpStream::connect(server.grpc).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let (frames, body) =
        tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(1);
    let request = hyper::Request::post(format!(
        "http://{}/quiver.serving.v1.ServingService/GetOnlineFeatures",
        server.grpc
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(http_body_util::StreamBody::new(
        tokio_stream::wrappers::ReceiverStream::new(body),
    ))
    .unwrap();
    // A message header announcing 100 bytes, then 3 of them, then nothing.
    frames
        .send(Ok(Frame::data(Bytes::from_static(&[
            0, 0, 0, 0, 100, 10, 1, 0,
        ]))))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let call = tokio::spawn(async move { sender.send_request(request).await });

    // Meanwhile an ordinary call is answered.
    let mut client = server.grpc_client().await;
    let answer = client
        .get_online_features(proto_request(&json!({
            "entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum"]
        })))
        .await;
    assert!(answer.is_ok(), "{answer:?}");

    let response = tokio::time::timeout(std::time::Duration::from_secs(5), call)
        .await
        .expect("the stalled call was still open after 5 s")
        .unwrap()
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "{waited:?}"
    );
    assert_eq!(
        response
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap()),
        Some("1"),
        "expected CANCELLED: {:?}",
        response.headers()
    );
    drop(frames);
}

//! Request parsing: one pass over the body, every limit enforced as the
//! parse reaches it, and every field Feast's own client sends accepted.

use crate::support::*;
use quiver_proto::serving::get_online_features_request::Kind;
use quiver_proto::serving::{FeatureList, GetOnlineFeaturesRequest, RepeatedValue, Value, value};
use serde_json::json;

/// A server that takes bodies of up to 4 MiB.
async fn server_for_large_bodies() -> (quiver_test::TestRepo, Running) {
    let (repo, definitions) = computed_repo().await;
    let config = quiver_serve::ServeConfig {
        max_body_bytes: 4 << 20,
        ..test_config()
    };
    let server = start(&definitions, config).await;
    (repo, server)
}

async fn post_raw(server: &Running, body: &[u8]) -> HttpResponse {
    http(server.http, "POST", "/get-online-features", &[], Some(body)).await
}

/// `{"entities": {"k0": ["a"], "k1": ["a"], …` with `count` keys, unfinished.
fn many_keys(count: usize) -> String {
    let mut body = String::from(r#"{"features": ["energy_features:energy_sum"], "entities": {"#);
    for i in 0..count {
        body.push_str(&format!("\"k{i}\": [\"a\"], "));
    }
    body
}

/// 110,000 distinct join keys (about 1.9 MiB): the old parser compared each
/// key with every earlier one (six billion comparisons) before any check.
/// Now the first key no entity has refuses the request where it stands:
/// the body after it is never parsed, so a body cut off after it gets the
/// same answer as a whole one (the old code said "EOF" for it, after the
/// comparisons).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_many_join_keys_is_refused_at_the_first_unknown_one() {
    let (_repo, server) = server_for_large_bodies().await;
    let body = many_keys(110_000);
    let whole = format!("{body}\"id\": [\"MAC000002\"]}}}}");
    assert!(whole.len() > 1 << 20, "{} bytes", whole.len());
    for body in [whole.as_bytes(), body.as_bytes()] {
        let message = post_raw(&server, body)
            .await
            .expect_error(400, "unexpected_entity_key");
        assert!(
            message.contains("`k0`") && message.contains("they have: id"),
            "{message}"
        );
    }
    // gRPC checks the same keys before it copies any id.
    let mut client = server.grpc_client().await;
    let entities = (0..1000)
        .map(|i| {
            let ids = RepeatedValue {
                val: vec![Value {
                    val: Some(value::Val::StringVal("a".to_string())),
                }],
            };
            (format!("k{i}"), ids)
        })
        .collect();
    let status = client
        .get_online_features(GetOnlineFeaturesRequest {
            kind: Some(Kind::Features(FeatureList {
                val: vec!["energy_features:energy_sum".to_string()],
            })),
            entities,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        status.metadata().get("quiver-error-code").unwrap(),
        "unexpected_entity_key"
    );
}

/// The id limit and the feature limit stop the parse at the first id or
/// feature over them, too: a body cut off right after is answered with the
/// limit's error, not with the parser's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_and_feature_limits_stop_the_parse() {
    let (_repo, server) = server_for_large_bodies().await;
    // test_config allows 5 ids.
    let ids = br#"{"features": ["energy_features:energy_sum"], "entities": {"id": ["a", "b", "c", "d", "e", "f", "g", "#;
    let message = post_raw(&server, ids)
        .await
        .expect_error(400, "too_many_ids");
    assert!(
        message.contains("`id`") && message.contains("at most 5"),
        "{message}"
    );

    // The repository defines 24 features (22 + 2): a 25th reference must
    // repeat one or name one that does not exist.
    let mut features = String::from(r#"{"entities": {"id": ["MAC000002"]}, "features": ["#);
    for i in 0..50_000 {
        features.push_str(&format!("\"energy_features:f{i}\", "));
    }
    for body in [features.clone(), format!("{features}\"x:y\"]}}")] {
        let message = post_raw(&server, body.as_bytes())
            .await
            .expect_error(400, "too_many_features");
        assert!(message.contains("more than 24"), "{message}");
    }
    // 24 references are planned as before, and errors name the first bad one.
    let mut references: Vec<String> = (0..24).map(|i| format!("energy_features:f{i}")).collect();
    let message = post_features(
        server.http,
        &json!({"entities": {"id": ["MAC000002"]}, "features": references}),
    )
    .await
    .expect_error(404, "unknown_feature");
    assert!(message.contains("`f0`"), "{message}");
    references.truncate(2);
    references[0] = "energy_features:energy_sum".to_string();
    references[1] = "energy_features:energy_sum".to_string();
    post_features(
        server.http,
        &json!({"entities": {"id": ["MAC000002"]}, "features": references}),
    )
    .await
    .expect_error(400, "duplicate_feature");
}

/// The bodies Feast 0.67's Python SDK sends with `online_store: type:
/// remote` (feast/infra/online_stores/remote.py): `full_feature_names` and
/// `include_feature_view_version_metadata` always, `features` or
/// `feature_service`. Each is answered as the same request without the
/// no-op field; the old server refused the field with a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feasts_client_requests_are_answered() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let feast = [
        json!({"entities": {"id": ["MAC000002", "MAC999999"]}, "full_feature_names": false,
               "include_feature_view_version_metadata": false,
               "features": ["energy_features:energy_sum", "household_totals:double_count"]}),
        json!({"entities": {"id": ["MAC000002", "MAC000004"]}, "full_feature_names": true,
               "include_feature_view_version_metadata": true, "feature_service": "energy_model_v1"}),
        // Feast's server-side request model with every default written out.
        json!({"entities": {"id": ["MAC000004"]}, "feature_service": "energy_model_v1", "features": [],
               "full_feature_names": false, "include_feature_view_version_metadata": false}),
    ];
    for request in feast {
        let response = post_features(server.http, &request).await;
        assert_eq!(
            response.status,
            200,
            "{request}: {}",
            String::from_utf8_lossy(&response.body)
        );
        let mut plain = request.clone();
        let object = plain.as_object_mut().unwrap();
        object.remove("include_feature_view_version_metadata");
        if object.get("features") == Some(&json!([])) {
            object.remove("features");
        }
        assert_eq!(
            response.json(),
            post_features(server.http, &plain).await.json(),
            "{request}"
        );
    }
    // Still refused: a misspelt field, a wrong type, and two selections.
    for (body, code, fragment) in [
        (
            json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum"], "include_feature_view_metadata": true}),
            "malformed_request",
            "include_feature_view_metadata",
        ),
        (
            json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum"], "include_feature_view_version_metadata": 1}),
            "malformed_request",
            "boolean",
        ),
        (
            json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum"], "feature_service": "energy_model_v1"}),
            "features_or_service",
            "exactly one",
        ),
    ] {
        let message = post_features(server.http, &body)
            .await
            .expect_error(400, code);
        assert!(message.contains(fragment), "{body}: {message}");
    }
}

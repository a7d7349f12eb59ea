//! The HTTP contract: every endpoint, every error case, over a real socket.

use crate::support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_features_have_feasts_shape_and_the_jobs_values() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let response = post_features(
        server.http,
        &json!({
            "entities": {"id": ["MAC000002", "MAC000003", "MAC999999"]},
            "features": ["energy_features:energy_sum", "energy_features:energy_count", "energy_features:energy_sum_3months"],
            "include_event_timestamps": true
        }),
    )
    .await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert_eq!(
        body["metadata"]["feature_names"],
        json!(["id", "energy_sum", "energy_count", "energy_sum_3months"])
    );
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "one result per column");
    assert_eq!(
        results[0]["values"],
        json!(["MAC000002", "MAC000003", "MAC999999"])
    );
    assert_eq!(
        results[0]["statuses"],
        json!(["PRESENT", "PRESENT", "PRESENT"])
    );
    // The latest day of MAC000002 wins; MAC000003's sum is null; MAC999999 has no row.
    assert_eq!(results[1]["values"], json!([2.0, null, null]));
    assert_eq!(
        results[1]["statuses"],
        json!(["PRESENT", "NULL_VALUE", "NOT_FOUND"])
    );
    assert_eq!(
        results[1]["event_timestamps"],
        json!(["2014-01-02T00:00:00Z", "2014-01-02T00:00:00Z", null])
    );
    assert_eq!(results[2]["values"], json!([47, 46, null]));
    assert_eq!(
        results[3]["values"],
        json!([3.0, null, null]),
        "the 3-month window sums both days"
    );

    // Without the option there are no timestamps.
    let plain = post_features(
        server.http,
        &json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum"]}),
    )
    .await
    .json();
    assert!(
        plain["results"][1].get("event_timestamps").is_none(),
        "{plain}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_full_names_fan_out_and_ttl() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;

    let service = post_features(
        server.http,
        &json!({"entities": {"id": ["MAC000002"]}, "feature_service": "energy_model_v1"}),
    )
    .await
    .json();
    assert_eq!(
        service["metadata"]["feature_names"],
        json!([
            "id",
            "energy_sum_3months",
            "energy_sum_1yr",
            "energy_stddev_3months",
            "energy_max_1yr"
        ])
    );
    assert_eq!(service["results"][1]["values"], json!([3.0]));

    // Two views share `energy_sum`: without full names the columns would clash.
    let request = |full: bool| {
        json!({
            "entities": {"id": ["MAC000002", "MAC000004"]},
            "features": ["energy_features:energy_sum", "household_totals:energy_sum", "household_totals:double_count"],
            "full_feature_names": full,
            "include_event_timestamps": true
        })
    };
    let message = post_features(server.http, &request(false))
        .await
        .expect_error(400, "ambiguous_feature_name");
    assert!(
        message.contains("energy_sum") && message.contains("full_feature_names"),
        "{message}"
    );

    let both = post_features(server.http, &request(true)).await.json();
    assert_eq!(
        both["metadata"]["feature_names"],
        json!([
            "id",
            "energy_features__energy_sum",
            "household_totals__energy_sum",
            "household_totals__double_count"
        ])
    );
    // energy_features has no TTL; household_totals keeps 30 days, so the 2014
    // row is outside its max age (value withheld, time still given) and
    // today's row is present.
    assert_eq!(both["results"][1]["values"], json!([2.0, 4.0]));
    assert_eq!(
        both["results"][1]["statuses"],
        json!(["PRESENT", "PRESENT"])
    );
    assert_eq!(both["results"][2]["values"], json!([null, 4.0]));
    assert_eq!(
        both["results"][2]["statuses"],
        json!(["OUTSIDE_MAX_AGE", "PRESENT"])
    );
    assert_eq!(
        both["results"][2]["event_timestamps"][0],
        json!("2014-01-02T00:00:00Z")
    );
    assert_eq!(both["results"][3]["values"], json!([null, 90]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_entity_by_path() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let response = http(
        server.http,
        "GET",
        "/features/energy_features/MAC000002",
        &[],
        None,
    )
    .await;
    assert_eq!(response.status, 200);
    let body = response.json();
    assert_eq!(body["id"], "MAC000002");
    assert_eq!(body["status"], "PRESENT");
    assert_eq!(body["day_date"], "2014-01-02T00:00:00Z");
    let features = body["features"].as_object().unwrap();
    assert_eq!(features.len(), 22, "every feature by name");
    assert_eq!(features["energy_sum"], json!(2.0));
    assert_eq!(features["energy_count_1yr"], json!(95));

    let stale = http(
        server.http,
        "GET",
        "/features/household_totals/MAC000002",
        &[],
        None,
    )
    .await
    .json();
    assert_eq!(stale["status"], "OUTSIDE_MAX_AGE");

    let message = http(
        server.http,
        "GET",
        "/features/energy_features/MAC999999",
        &[],
        None,
    )
    .await
    .expect_error(404, "entity_not_found");
    assert!(
        message.contains("MAC999999") && message.contains("energy_features"),
        "{message}"
    );
    let message = http(server.http, "GET", "/features/nope/MAC000002", &[], None)
        .await
        .expect_error(404, "unknown_feature_view");
    assert!(
        message.contains("`nope`") && message.contains("energy_features"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_a_named_4xx() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let feature = "energy_features:energy_sum";
    let cases: Vec<(&str, Vec<u8>, u16, &str, &str)> = vec![
        ("not JSON", b"{\"entities\": ".to_vec(), 400, "malformed_request", "EOF"),
        ("not an object", b"[1, 2]".to_vec(), 400, "malformed_request", "malformed request"),
        ("unknown view", json!({"entities": {"id": ["MAC000002"]}, "features": ["nope:energy_sum"]}).to_string().into_bytes(), 404, "unknown_feature_view", "`nope`"),
        ("unknown feature", json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:nope"]}).to_string().into_bytes(), 404, "unknown_feature", "no feature `nope`"),
        ("unknown service", json!({"entities": {"id": ["MAC000002"]}, "feature_service": "nope"}).to_string().into_bytes(), 404, "unknown_feature_service", "energy_model_v1"),
        ("bad reference", json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_sum"]}).to_string().into_bytes(), 400, "bad_feature_reference", "view:feature"),
        ("duplicate feature", json!({"entities": {"id": ["MAC000002"]}, "features": [feature, feature]}).to_string().into_bytes(), 400, "duplicate_feature", feature),
        ("no selection", json!({"entities": {"id": ["MAC000002"]}}).to_string().into_bytes(), 400, "features_or_service", "feature_service"),
        ("both selections", json!({"entities": {"id": ["MAC000002"]}, "features": [feature], "feature_service": "energy_model_v1"}).to_string().into_bytes(), 400, "features_or_service", "exactly one"),
        ("empty features", json!({"entities": {"id": ["MAC000002"]}, "features": []}).to_string().into_bytes(), 400, "no_features", "empty"),
        ("integer id for a string key", json!({"entities": {"id": [2]}, "features": [feature]}).to_string().into_bytes(), 400, "invalid_entity_id", "the integer 2"),
        ("float id", json!({"entities": {"id": [1.5]}, "features": [feature]}).to_string().into_bytes(), 400, "malformed_request", "string or an integer"),
        ("object id", json!({"entities": {"id": [{}]}, "features": [feature]}).to_string().into_bytes(), 400, "malformed_request", "string or an integer"),
        ("ids not a list", json!({"entities": {"id": "MAC000002"}, "features": [feature]}).to_string().into_bytes(), 400, "malformed_request", "a list of ids"),
        ("no ids", json!({"entities": {"id": []}, "features": [feature]}).to_string().into_bytes(), 400, "empty_entity_ids", "`id` has no ids"),
        ("duplicate ids", json!({"entities": {"id": ["MAC000002", "MAC000003", "MAC000002"]}, "features": [feature]}).to_string().into_bytes(), 400, "duplicate_entity_id", "MAC000002"),
        ("too many ids", json!({"entities": {"id": ["a", "b", "c", "d", "e", "f"]}, "features": [feature]}).to_string().into_bytes(), 400, "too_many_ids", "at most 5"),
        ("wrong key", json!({"entities": {"household": ["MAC000002"]}, "features": [feature]}).to_string().into_bytes(), 400, "unexpected_entity_key", "`household`"),
        ("no entities", json!({"entities": {}, "features": [feature]}).to_string().into_bytes(), 400, "missing_entity_key", "`id`"),
        ("missing entities", json!({"features": [feature]}).to_string().into_bytes(), 400, "malformed_request", "entities"),
        ("unknown field", json!({"entities": {"id": ["MAC000002"]}, "features": [feature], "full_names": true}).to_string().into_bytes(), 400, "malformed_request", "full_names"),
        ("body over the limit", format!("{{\"entities\": {{\"id\": [\"{}\"]}}}}", "x".repeat(5000)).into_bytes(), 413, "body_too_large", "4096 bytes"),
    ];
    for (case, body, status, code, fragment) in cases {
        let response = http(
            server.http,
            "POST",
            "/get-online-features",
            &[],
            Some(&body),
        )
        .await;
        let message = response.expect_error(status, code);
        assert!(
            message.contains(fragment),
            "{case}: `{message}` should mention `{fragment}`"
        );
    }
    let message = http(server.http, "GET", "/nope", &[], None)
        .await
        .expect_error(404, "no_route");
    assert!(message.contains("/nope"), "{message}");
    let message = http(server.http, "GET", "/get-online-features", &[], None)
        .await
        .expect_error(405, "method_not_allowed");
    assert!(message.contains("GET"), "{message}");
    // The server still answers after all that.
    let ok = post_features(
        server.http,
        &json!({"entities": {"id": ["MAC000002"]}, "features": [feature]}),
    )
    .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_metrics_and_openapi() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let health = http(server.http, "GET", "/health", &[], None).await;
    assert_eq!(
        (health.status, health.json()),
        (200, json!({"status": "ok"}))
    );
    let ready = http(server.http, "GET", "/ready", &[], None).await;
    assert_eq!(ready.status, 200);
    assert_eq!(
        ready.json(),
        json!({"status": "ready", "views": [
            {"name": "energy_features", "materialized": true,
             "online_version": 0, "offline_version": 0, "lagging": false},
            {"name": "household_totals", "materialized": true,
             "online_version": 0, "offline_version": 0, "lagging": false}
        ]})
    );

    post_features(
        server.http,
        &json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum"]}),
    )
    .await;
    post_features(
        server.http,
        &json!({"entities": {"id": []}, "features": ["energy_features:energy_sum"]}),
    )
    .await;
    let metrics = http(server.http, "GET", "/metrics", &[], None).await;
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    for expected in [
        "quiver_serve_requests_total{endpoint=\"http_get_online_features\"}",
        "quiver_serve_errors_total{endpoint=\"http_get_online_features\",code=\"empty_entity_ids\"}",
        "quiver_serve_request_seconds_bucket{endpoint=\"http_get_online_features\"",
        "quiver_serve_store_read_seconds_bucket{view=\"energy_features\"",
    ] {
        assert!(
            text.contains(expected),
            "/metrics lacks {expected}:\n{text}"
        );
    }

    let openapi = http(server.http, "GET", "/openapi.json", &[], None).await;
    assert_eq!(openapi.status, 200);
    let document = openapi.json();
    assert_eq!(document["openapi"], "3.0.3");
    let paths = document["paths"].as_object().unwrap();
    // Every documented path answers (not the no-route 404), and every route is documented.
    for (path, methods) in paths {
        let concrete = path
            .replace("{view}", "energy_features")
            .replace("{id}", "MAC000002");
        for method in methods.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let body = (method == "POST").then_some(&b"{}"[..]);
            let response = http(server.http, &method, &concrete, &[], body).await;
            let unrouted = response.status == 404
                && String::from_utf8_lossy(&response.body).contains("no_route");
            assert!(!unrouted, "{method} {path} is documented but not routed");
        }
    }
    for route in [
        "/get-online-features",
        "/features/{view}/{id}",
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(
            paths.contains_key(route),
            "{route} is routed but not documented"
        );
    }
}

/// A table that moved on without the online store (another engine wrote
/// it, or a job died between its commits) shows in `/ready` as lagging,
/// and the server stays ready: older rows beat no rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_reports_a_view_whose_online_rows_lag_its_table() {
    let (_repo, definitions) = computed_repo().await;
    let offline = quiver_offline::OfflineStore::for_repo(&definitions).unwrap();
    // A commit the online store never saw: one household's rows again.
    let view = definitions.feature_view(VIEW).unwrap();
    let entity = definitions.entity_of(view);
    let rows = offline
        .history(view, entity, "MAC000002", quiver_offline::AsOf::Latest)
        .await
        .unwrap();
    let commit = offline
        .write(
            view,
            &entity.join_key,
            rows,
            quiver_offline::WriteMode::Append,
        )
        .await
        .unwrap();
    assert_eq!(commit.version, 1);
    let server = start(&definitions, test_config()).await;
    let ready = http(server.http, "GET", "/ready", &[], None).await;
    assert_eq!(ready.status, 200);
    let body = ready.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(
        body["views"][0],
        json!({"name": VIEW, "materialized": true,
               "online_version": 0, "offline_version": 1, "lagging": true})
    );
    assert_eq!(body["views"][1]["lagging"], false);

    // A view without a table yet is not lagging, only not materialized.
    drop(server);
    let other = quiver_test::TestRepo::energy(&csv());
    let unrun = apply(&other).await;
    let server = start(&unrun, test_config()).await;
    let body = http(server.http, "GET", "/ready", &[], None).await.json();
    assert_eq!(
        body["views"][0],
        json!({"name": VIEW, "materialized": false,
               "online_version": null, "offline_version": null, "lagging": false})
    );
}

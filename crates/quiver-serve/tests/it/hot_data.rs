//! Data written while the server runs is served without a restart, and no
//! request fails or sees a half-applied write.

use crate::support::*;
use quiver_online::{EntityRow, ViewLayout};
use quiver_test::repo::energy_line;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Reads MAC000002's `energy_sum` with its event time until `stop`, asserting
/// every answer succeeds and is one `allowed` (time, value) pair; returns them all.
fn reader(
    addr: std::net::SocketAddr,
    features: Vec<&'static str>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(String, serde_json::Value)>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while !stop.load(Ordering::Relaxed) || seen.is_empty() {
            let response = post_features(
                addr,
                &json!({"entities": {"id": ["MAC000002", "MAC000004"]}, "features": features,
                        "include_event_timestamps": true}),
            )
            .await;
            assert_eq!(
                response.status,
                200,
                "{}",
                String::from_utf8_lossy(&response.body)
            );
            let body = response.json();
            seen.push((
                body["results"][1]["event_timestamps"][0]
                    .as_str()
                    .unwrap()
                    .to_string(),
                body["results"][1]["values"][0].clone(),
            ));
        }
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_rewriting_rows_is_served_live() {
    let (repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let reads = reader(
        server.http,
        vec!["energy_features:energy_sum"],
        stop.clone(),
    );

    // A new day arrives and the real job runs while the reader reads.
    let mut csv = csv();
    csv.push_str(&energy_line(
        "MAC000002",
        "2014-01-03",
        Some(3.0),
        Some(48),
        Some(0.9),
        Some(0.5),
    ));
    csv.push('\n');
    repo.write_source(&csv);
    run_job(&definitions, VIEW).await;
    // Let the reader see the new row a few times.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = reads.await.unwrap();

    let old = ("2014-01-02T00:00:00Z".to_string(), json!(2.0));
    let new = ("2014-01-03T00:00:00Z".to_string(), json!(3.0));
    assert!(
        seen.iter().all(|s| *s == old || *s == new),
        "a mixed or unknown row was served: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&new), "the job's row is not served");
    let first_new = seen.iter().position(|s| *s == new).unwrap();
    assert!(
        seen[first_new..].iter().all(|s| *s == new),
        "served an older row after the newer one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redefined_layout_is_followed_by_name() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let store = quiver_backends::open_online_store(&definitions)
        .await
        .unwrap();
    let ids = ["MAC000002", "MAC000003", "MAC000004"];
    let (layout, rows) = store.read_with_layout(VIEW, &ids).await.unwrap();
    let original: Vec<EntityRow> = ids
        .iter()
        .zip(rows)
        .map(|(id, row)| EntityRow {
            key: id.to_string(),
            row: row.unwrap(),
        })
        .collect();
    // The same rows with the features in reverse order: a redefined view.
    let mut reversed_layout = ViewLayout::clone(&layout);
    reversed_layout.features.reverse();
    let reversed: Vec<EntityRow> = original
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.row.values.reverse();
            r
        })
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let reads = reader(
        server.http,
        vec!["energy_features:energy_sum"],
        stop.clone(),
    );
    let writer = {
        let store = store.clone();
        let layouts = [(*layout).clone(), reversed_layout.clone()];
        let rows = [original.clone(), reversed.clone()];
        tokio::spawn(async move {
            for i in 0..60 {
                store
                    .write(&layouts[i % 2], &rows[i % 2], None)
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    writer.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let seen = reads.await.unwrap();
    // Every layout switch rewrote the rows; by name, energy_sum stayed 2.0.
    let expected = ("2014-01-02T00:00:00Z".to_string(), json!(2.0));
    assert!(
        seen.iter().all(|s| *s == expected),
        "a value was read by the wrong layout: {seen:?}"
    );

    // A layout that drops a feature: the feature is then not found, not an error.
    let mut narrower = reversed_layout.clone();
    let dropped = narrower.position("energy_sum").unwrap();
    narrower.features.remove(dropped);
    let narrower_rows: Vec<EntityRow> = reversed
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.row.values.remove(dropped);
            r
        })
        .collect();
    store.write(&narrower, &narrower_rows, None).await.unwrap();
    // The embedded store and Redis follow a redefinition at once; a
    // Cassandra store's server rereads definitions every `layout_refresh`
    // and serves the previous one, whole, until then. Either way no answer
    // mixes the two, and the new one arrives.
    let started = std::time::Instant::now();
    loop {
        let body = post_features(
            server.http,
            &json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum", "energy_features:energy_count"]}),
        )
        .await
        .json();
        assert_eq!(body["results"][2]["values"], json!([47]));
        if body["results"][1]["statuses"] == json!(["NOT_FOUND"]) {
            break;
        }
        assert_eq!(body["results"][1]["values"], json!([2.0]), "{body}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the dropped feature was still served after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

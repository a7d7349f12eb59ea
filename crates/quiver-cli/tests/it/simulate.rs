//! `quiver simulate` end to end against the embedded store of a real repository.

use crate::support::{energy_repo, fails, ok};
use std::path::Path;

fn result_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap()
}

#[test]
fn simulate_the_store_then_merge_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(&dir.path().join("repo"), 6);
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);

    // Closed loop, every feature, ids from the offline table.
    let closed = dir.path().join("closed");
    let out = ok(&[
        "simulate",
        "--repo",
        &repo,
        "--workers",
        "2",
        "--warmup",
        "200ms",
        "--duration",
        "1s",
        "--quiet",
        "--out",
        closed.to_str().unwrap(),
    ]);
    for expected in [
        "p50",
        "p99.99",
        "max",
        "response time",
        "throughput",
        "Report:",
    ] {
        assert!(out.contains(expected), "no {expected} in\n{out}");
    }
    let result = result_json(&closed);
    assert!(
        result["totals"]["requests"].as_u64().unwrap() > 100,
        "{result}"
    );
    assert_eq!(result["totals"]["errors"], 0);
    assert_eq!(result["settings"]["target"]["kind"], "store");
    for file in [
        "seconds.csv",
        "report.html",
        "latency-distribution.png",
        "latency-distribution-p999.png",
        "throughput-per-second.png",
    ] {
        assert!(closed.join(file).is_file(), "{file} missing");
    }

    // Open loop, a feature service, zipf batches from an id file.
    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, "MAC000002\nMAC000003\n# a comment\nMAC000004\n").unwrap();
    let open = dir.path().join("open");
    ok(&[
        "simulate",
        "--repo",
        &repo,
        "--rate",
        "400",
        "--workers",
        "4",
        "--feature-service",
        "energy_model_v1",
        "--batch-size",
        "3",
        "--distribution",
        "zipf",
        "--ids-from",
        ids.to_str().unwrap(),
        "--warmup",
        "0s",
        "--requests",
        "300",
        "--quiet",
        "--out",
        open.to_str().unwrap(),
    ]);
    let result = result_json(&open);
    assert_eq!(result["totals"]["requests"], 300);
    assert_eq!(result["totals"]["errors"], 0);
    assert_eq!(result["settings"]["load"]["kind"], "open");

    let merged = dir.path().join("merged");
    let out = ok(&[
        "simulate",
        "merge",
        closed.join("result.json").to_str().unwrap(),
        open.join("result.json").to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(out.contains("generators  2"), "{out}");
    let merged_result = result_json(&merged);
    let closed_requests = result_json(&closed)["totals"]["requests"].as_u64().unwrap();
    assert_eq!(
        merged_result["totals"]["requests"].as_u64().unwrap(),
        closed_requests + 300
    );

    let out = ok(&[
        "simulate",
        "compare",
        closed.join("result.json").to_str().unwrap(),
        open.join("result.json").to_str().unwrap(),
    ]);
    assert!(
        out.contains("B / A") && out.contains("response p99"),
        "{out}"
    );
}

#[test]
fn simulate_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(&dir.path().join("repo"), 3);
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    let err = fails(&[
        "simulate",
        "--repo",
        &repo,
        "--features",
        "energy_features:no_such_feature",
        "--duration",
        "1s",
        "--quiet",
    ]);
    assert!(err.contains("no_such_feature"), "{err}");
    let err = fails(&[
        "simulate",
        "--repo",
        &repo,
        "--feature-service",
        "nope",
        "--quiet",
    ]);
    assert!(err.contains("no feature service `nope`"), "{err}");
    let err = fails(&["simulate", "--repo", &repo, "--duration", "soon"]);
    assert!(err.contains("soon"), "{err}");
}

//! `quiver simulate` end to end against the embedded store of a real repository.

use crate::support::{energy_repo, fails, ok, quiver, serve};
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
    assert_eq!(result["settings"]["warmup"], "200ms", "durations are text");
    assert_eq!(result["settings"]["stop"]["duration"], "1s");
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
    assert!(err.contains("unknown feature service `nope`"), "{err}");
    let err = fails(&["simulate", "--repo", &repo, "--duration", "soon"]);
    assert!(err.contains("soon"), "{err}");

    // A bare number of seconds, the old form, still works, with one warning.
    let old = dir.path().join("old");
    let out = quiver(&[
        "simulate",
        "--repo",
        &repo,
        "--warmup",
        "0s",
        "--duration",
        "0.3",
        "--quiet",
        "--out",
        old.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warning = "warning: a duration without a unit (`0.3`) is deprecated; write `300ms`";
    assert_eq!(stderr.matches(warning).count(), 1, "{stderr}");
    assert_eq!(result_json(&old)["settings"]["stop"]["duration"], "300ms");
}

/// Against a server with TLS and an API key, as production runs it: with the
/// CA and the key, every request succeeds over HTTP and gRPC, and the key
/// never reaches the result file; without the key every request is a 401 /
/// UNAUTHENTICATED; without the CA the run does not start.
#[test]
fn simulate_a_server_with_tls_and_an_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(&dir.path().join("repo"), 3);
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let secret = "k-7f3a9c-secret";
    let served = serve(
        &["--repo", &repo, "--http-addr", "127.0.0.1:0"],
        &[
            ("QUIVER_TLS_CERT", cert.to_str().unwrap()),
            ("QUIVER_TLS_KEY", key.to_str().unwrap()),
            ("QUIVER_API_KEYS", secret),
        ],
    );
    let port = |addr: &str| addr.rsplit_once(':').unwrap().1.to_string();
    let header = format!("x-api-key: {secret}");
    for (target, addr) in [("http", &served.http), ("grpc", &served.grpc)] {
        let url = format!("https://localhost:{}", port(addr));
        let simulate = |name: &str, extra: &[&str]| {
            let out = dir.path().join(format!("{target}-{name}"));
            let mut args = vec![
                "simulate",
                "--repo",
                &repo,
                "--target",
                target,
                "--url",
                &url,
                "--workers",
                "2",
                "--warmup",
                "0s",
                "--requests",
                "40",
                "--quiet",
                "--out",
                out.to_str().unwrap(),
            ];
            args.extend_from_slice(extra);
            (quiver(&args), out)
        };

        let (run, out) = simulate("ok", &["--ca-cert", cert.to_str().unwrap(), "-H", &header]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let text = std::fs::read_to_string(out.join("result.json")).unwrap();
        let result: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(result["totals"]["requests"], 40, "{target}: {result}");
        assert_eq!(result["totals"]["errors"], 0, "{target}: {result}");
        if target == "grpc" {
            // The columnar answer by default; the Feast shape is one flag away.
            assert_eq!(result["settings"]["target"]["rpc"], "columnar", "{result}");
        }
        assert_eq!(
            result["settings"]["access"]["headers"],
            serde_json::json!(["x-api-key: <hidden>"])
        );
        assert!(!text.contains(secret), "the key leaked into result.json");

        let (_, out) = simulate("no-key", &["--ca-cert", cert.to_str().unwrap()]);
        let result = result_json(&out);
        assert_eq!(result["totals"]["errors"], 40, "{target}: {result}");
        let kind = if target == "http" {
            "http_401"
        } else {
            "grpc_unauthenticated"
        };
        assert_eq!(
            result["totals"]["errors_by_kind"][kind], 40,
            "{target}: {result}"
        );

        let (run, _) = simulate("no-ca", &["-H", &header]);
        assert!(!run.status.success());
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains("certificate"), "{target}: {stderr}");
    }
    let message = fails(&[
        "simulate", "--repo", &repo, "--target", "http", "-H", "no colon", "--quiet",
    ]);
    assert!(
        message.contains("`no colon` is not `name: value`"),
        "{message}"
    );
}

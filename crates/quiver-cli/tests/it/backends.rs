//! Every online store by configuration alone: the same journey — `apply`,
//! `run`, `get`, `serve`, `simulate --target store` — on each server-backed
//! store the test servers provide (`scripts/services/up.sh`), checked
//! against the embedded store's answers for the same data. Needs the
//! `integration` feature and the servers; a missing server fails the test.

use crate::support::{energy_repo, get_json, http_get, ok, serve};
use quiver_test::servers::online_store_table;

const IDS: [&str; 3] = ["MAC000002", "MAC000003", "MAC000404"];

/// The journey on the store `online_store` configures, against the embedded
/// store's answers for the same data.
fn journey(online_store: &str) {
    let env_or = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_string());
    let env = [
        (
            "QUIVER_TEST_KEYSPACES_PASSWORD",
            env_or("QUIVER_TEST_KEYSPACES_PASSWORD", "cassandra"),
        ),
        (
            "QUIVER_TEST_REDIS_PASSWORD",
            env_or("QUIVER_TEST_REDIS_PASSWORD", "quiver-test-password"),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let embedded = energy_repo(&dir.path().join("embedded"), 3);
    ok(&["run", "energy_features", "--repo", &embedded, "--quiet"]);
    let expected = get_json(&embedded, &IDS);

    let repo = energy_repo(&dir.path().join("server"), 3);
    let toml = format!("{repo}/quiver.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let start = text.find("\n[online_store]\n").unwrap();
    std::fs::write(
        &toml,
        format!("{}\n[online_store]\n{online_store}", &text[..start]),
    )
    .unwrap();
    let with_env = |args: &[&str]| {
        let out = crate::support::command(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "quiver {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let applied = with_env(&["apply", "--repo", &repo]);
    // The table's first line is `type = "…"`: apply must name that store.
    let kind = online_store.lines().next().unwrap();
    let kind = kind.trim_start_matches("type = ").trim_matches('"');
    assert!(
        applied.contains(&format!("Online store ({kind}): ready")),
        "{applied}"
    );
    let summary = with_env(&["run", "energy_features", "--repo", &repo]);
    assert!(summary.contains("3 entities updated"), "{summary}");

    // `get` answers exactly what the embedded store answers.
    let mut args = vec![
        "get",
        "energy_features",
        "--repo",
        &repo,
        "--format",
        "json",
    ];
    for id in IDS {
        args.extend(["--id", id]);
    }
    let got: Vec<serde_json::Value> = serde_json::from_str(&with_env(&args)).unwrap();
    assert_eq!(got, expected);
    assert_eq!(got[2]["status"], "not_found");

    // A rerun writes nothing new and changes nothing.
    with_env(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    let again: Vec<serde_json::Value> = serde_json::from_str(&with_env(&args)).unwrap();
    assert_eq!(again, expected);

    // `serve` reads it, and is ready.
    let env_pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let served = serve(&["--repo", &repo, "--http-addr", "127.0.0.1:0"], &env_pairs);
    let ready = http_get(&served.http, "/ready");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    let features = http_get(&served.http, "/features/energy_features/MAC000002");
    assert!(features.starts_with("HTTP/1.1 200"), "{features}");
    let sum = expected[0]["features"]["energy_sum"].to_string();
    assert_ne!(sum, "null");
    assert!(features.contains(&sum), "{sum} not in {features}");
    drop(served);

    // `simulate --target store` measures it.
    let out = dir.path().join("sim");
    with_env(&[
        "simulate",
        "--repo",
        &repo,
        "--workers",
        "2",
        "--requests",
        "200",
        "--warmup",
        "0s",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["totals"]["requests"], 200);
    assert_eq!(result["totals"]["errors"], 0, "{result}");
}

#[test]
fn every_command_works_on_cassandra() {
    journey(&online_store_table("cassandra"));
}

#[test]
fn every_command_works_on_a_keyspaces_like_node() {
    journey(&online_store_table("keyspaces"));
}

#[test]
fn every_command_works_on_redis() {
    journey(&online_store_table("redis"));
}

#[test]
fn every_command_works_on_redis_with_tls_and_auth() {
    journey(&online_store_table("redis-secure"));
}

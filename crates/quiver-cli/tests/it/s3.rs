//! The whole job with the offline tables on S3: the local S3-compatible
//! server of scripts/services/up.sh (moto), through the usual AWS variables.

use crate::support::{command, energy_repo, succeeded};
use std::process::Output;

/// The AWS variables that point the binary at the test server.
pub(crate) fn aws_env() -> Vec<(&'static str, String)> {
    let endpoint = std::env::var("QUIVER_TEST_S3_ENDPOINT").expect(
        "QUIVER_TEST_S3_ENDPOINT is unset: start the test servers with scripts/services/up.sh \
         and source the env.sh it writes",
    );
    vec![
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "quiver-test".into()),
        ("AWS_SECRET_ACCESS_KEY", "quiver-test-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ALLOW_HTTP", "true".into()),
    ]
}

pub(crate) fn on_s3(args: &[&str]) -> Output {
    command(args)
        .envs(aws_env())
        .output()
        .expect("the quiver binary runs")
}

fn ok_on_s3(args: &[&str]) -> String {
    succeeded(args, on_s3(args))
}

/// A new, empty bucket on the test server.
pub(crate) fn bucket() -> String {
    let name = quiver_test::servers::unique("quiver-it")
        .replace('_', "-")
        .to_lowercase();
    let endpoint = &aws_env()[0].1;
    let status = std::process::Command::new("curl")
        .args(["-fsS", "-X", "PUT", &format!("{endpoint}/{name}")])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("curl runs");
    assert!(status.success(), "bucket {name} created");
    name
}

pub(crate) fn point_offline_store_at(repo: &str, location: &str) {
    let config = format!("{repo}/quiver.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen(
        "[offline_store]\nlocation = \"data/offline\"",
        &format!("[offline_store]\nlocation = \"{location}\""),
        1,
    );
    assert!(
        text.contains(location),
        "the template has an [offline_store] location"
    );
    std::fs::write(&config, text).unwrap();
    ok_on_s3(&["apply", "--repo", repo]);
}

#[test]
fn the_job_training_sets_and_materialize_run_with_the_tables_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 3);
    let bucket = bucket();
    point_offline_store_at(&repo, &format!("s3://{bucket}/tables"));

    let run = ok_on_s3(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    assert!(
        run.contains(&format!(
            "committed as Delta version 0 (s3://{bucket}/tables/energy_features/)"
        )),
        "{run}"
    );
    assert!(
        !std::path::Path::new(&format!("{repo}/data/offline")).exists(),
        "nothing local"
    );
    let committed: u64 = run
        .split(" rows committed")
        .next()
        .and_then(|head| head.split_whitespace().last())
        .map(|n| n.replace(',', "").parse().unwrap())
        .expect("the run says how many rows it committed");
    let log = ok_on_s3(&[
        "log",
        "energy_features",
        "--repo",
        &repo,
        "--format",
        "json",
    ]);
    let log: Vec<serde_json::Value> = serde_json::from_str(&log).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["rows_added"], committed);
    assert_eq!(
        log[0]["writer"],
        format!("quiver {}", env!("CARGO_PKG_VERSION"))
    );

    let entities = dir.path().join("entities.csv");
    std::fs::write(
        &entities,
        "id,event_timestamp\nMAC000002,2014-02-28T00:00:00Z\nMAC000003,2010-01-01T00:00:00Z\n",
    )
    .unwrap();
    let out = dir.path().join("training.csv");
    let summary = ok_on_s3(&[
        "training-set",
        "--repo",
        &repo,
        "--entities",
        entities.to_str().unwrap(),
        "--features",
        "energy_features:energy_sum",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        summary.contains("1 rows with features, 1 without"),
        "{summary}"
    );

    std::fs::remove_dir_all(format!("{repo}/data/online")).unwrap();
    let materialized = ok_on_s3(&["materialize", "energy_features", "--repo", &repo, "--quiet"]);
    assert!(
        materialized.contains("3 entities read, 3 updated"),
        "{materialized}"
    );
    let got = ok_on_s3(&[
        "get",
        "energy_features",
        "--repo",
        &repo,
        "--id",
        "MAC000002",
        "--format",
        "json",
    ]);
    let got: Vec<serde_json::Value> = serde_json::from_str(&got).unwrap();
    assert_eq!(got[0]["status"], "found");
    assert_eq!(got[0]["day_date"], "2014-02-28T00:00:00Z");
}

#[test]
fn a_missing_bucket_is_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 2);
    point_offline_store_at(&repo, "s3://quiver-no-such-bucket/tables");
    let out = on_s3(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("quiver-no-such-bucket"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert_online_store_untouched(&repo);
}

/// A moto server of the test's own with authentication on: it knows no
/// access key, so it refuses every request as S3 refuses wrong credentials
/// (`InvalidAccessKeyId`, 403). Stopped when dropped.
struct DenyingS3 {
    child: std::process::Child,
    endpoint: String,
}

impl DenyingS3 {
    fn start() -> DenyingS3 {
        let moto = std::env::var("QUIVER_TEST_MOTO_SERVER").expect(
            "QUIVER_TEST_MOTO_SERVER is unset: start the test servers with scripts/services/up.sh \
             and source the env.sh it writes",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "moto_server did not listen on {endpoint} within a minute"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        DenyingS3 { child, endpoint }
    }
}

impl Drop for DenyingS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn wrong_credentials_are_named_and_nothing_is_written() {
    let denying = DenyingS3::start();
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 2);
    point_offline_store_at(&repo, "s3://quiver-denied/tables");
    let out = command(&["run", "energy_features", "--repo", &repo, "--quiet"])
        .envs(aws_env())
        .env("AWS_ENDPOINT_URL", &denying.endpoint)
        .output()
        .expect("the quiver binary runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("access to bucket `quiver-denied` was denied"),
        "{err}"
    );
    assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
    assert_online_store_untouched(&repo);
}

/// The repository's online store holds nothing: a failed job wrote no row.
fn assert_online_store_untouched(repo: &str) {
    let untouched = on_s3(&[
        "get",
        "energy_features",
        "--repo",
        repo,
        "--id",
        "MAC000002",
    ]);
    let untouched = String::from_utf8_lossy(&untouched.stderr);
    assert!(
        untouched.contains("has no rows in the online store yet"),
        "the online store was not touched: {untouched}"
    );
}

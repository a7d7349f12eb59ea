//! Running the `quiver` binary.

use std::path::Path;
use std::process::{Command, Output};

/// `quiver ARGS…`, run to completion.
pub fn quiver(args: &[&str]) -> Output {
    command(args).output().expect("the quiver binary runs")
}

/// `quiver ARGS…` as a command to adjust before running.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quiver"));
    command.args(args).env_remove("QUIVER_REPO");
    command
}

/// Runs and asserts success, returning stdout.
pub fn ok(args: &[&str]) -> String {
    let out = quiver(args);
    assert!(
        out.status.success(),
        "quiver {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs and asserts failure, returning stderr.
pub fn fails(args: &[&str]) -> String {
    let out = quiver(args);
    assert!(!out.status.success(), "quiver {args:?} should have failed");
    String::from_utf8(out.stderr).unwrap()
}

/// A repository with `households` of generated data, applied.
pub fn energy_repo(dir: &Path, households: usize) -> String {
    let repo = dir.to_str().unwrap().to_string();
    ok(&["init", &repo]);
    let csv = format!("{repo}/data/energy.csv");
    ok(&[
        "datagen",
        "energy",
        "--households",
        &households.to_string(),
        "--out",
        &csv,
    ]);
    ok(&["apply", "--repo", &repo]);
    repo
}

/// `quiver get --format json` for `ids`, parsed.
pub fn get_json(repo: &str, ids: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["get", "energy_features", "--repo", repo, "--format", "json"];
    for id in ids {
        args.extend(["--id", id]);
    }
    serde_json::from_str(&ok(&args)).expect("get prints JSON")
}

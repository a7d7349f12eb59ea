//! A job killed half-way leaves both stores readable at their previous state,
//! and the next run brings them back in step.

use crate::support::{command, energy_repo, get_json, ok};

fn offline_version(repo: &str) -> Option<u64> {
    let log = std::path::Path::new(repo).join("data/offline/energy_features/_delta_log");
    std::fs::read_dir(log)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
        .max()
}

/// Uses the job's fail point (the `fail-points` feature).
#[cfg(feature = "fail-points")]
#[test]
fn a_job_dying_between_its_two_commits_is_repaired_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 3);
    let csv = format!("{repo}/data/energy.csv");
    let full = std::fs::read_to_string(&csv).unwrap();
    // Version 0 without 2014-02-28, so the second job has new rows to write.
    let early: String = full
        .lines()
        .filter(|l| !l.contains(",2014-02-28,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&csv, &early).unwrap();
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    let before = get_json(&repo, &["MAC000002"]);
    assert_eq!(before[0]["day_date"], "2014-02-27T00:00:00Z");

    std::fs::write(&csv, &full).unwrap();
    let died = command(&["run", "energy_features", "--repo", &repo, "--quiet"])
        .env("QUIVER_TEST_ABORT_AFTER_OFFLINE_COMMIT", "1")
        .output()
        .unwrap();
    assert!(!died.status.success());
    assert_eq!(offline_version(&repo), Some(1), "the offline commit landed");

    // The online store is whole, at its previous state, and says it is behind.
    let out = command(&[
        "get",
        "energy_features",
        "--repo",
        &repo,
        "--id",
        "MAC000002",
        "--format",
        "json",
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("reflects offline version 0") && stderr.contains("version 1"),
        "{stderr}"
    );
    let now: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(now, before);

    let rerun = ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    assert!(rerun.contains("repaired first: 3 entities"), "{rerun}");
    assert!(rerun.contains("no new rows"), "{rerun}");
    let after = get_json(&repo, &["MAC000002"]);
    assert_eq!(after[0]["day_date"], "2014-02-28T00:00:00Z");
}

#[test]
fn a_job_killed_at_any_moment_leaves_readable_stores_that_the_next_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 40);
    let csv = format!("{repo}/data/energy.csv");
    let full = std::fs::read_to_string(&csv).unwrap();
    let early: String = full
        .lines()
        .filter(|l| !l.contains(",2014-02-"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&csv, &early).unwrap();
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    let ids: Vec<String> = (2..42).map(|i| format!("MAC{i:06}")).collect();
    let asked: Vec<&str> = ids.iter().map(String::as_str).collect();
    let previous = get_json(&repo, &asked);
    std::fs::write(&csv, &full).unwrap();

    // Time a whole job, then kill jobs at spread-out moments within it.
    let started = std::time::Instant::now();
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("copy");
    copy_dir(std::path::Path::new(&repo), &copy);
    ok(&[
        "run",
        "energy_features",
        "--repo",
        copy.to_str().unwrap(),
        "--quiet",
    ]);
    let job = started.elapsed();

    for eighth in 1..8 {
        let mut child = command(&["run", "energy_features", "--repo", &repo, "--quiet"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(job * eighth / 8);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let version = offline_version(&repo).unwrap();
        let online = get_json(&repo, &asked);
        if version == 0 {
            assert_eq!(
                online, previous,
                "killed at {eighth}/8 before the offline commit, yet online changed"
            );
        }
        // Either way every store reads; once the job has finished, stop killing.
        if status.success() {
            break;
        }
    }
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    assert_eq!(
        offline_version(&repo),
        Some(1),
        "exactly one commit for the new days"
    );
    for object in get_json(&repo, &asked) {
        assert_eq!(object["day_date"], "2014-02-28T00:00:00Z", "{object}");
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A build without the `fail-points` feature (a release build) has no crash
/// hook: the variable that would abort the job is ignored.
#[cfg(not(feature = "fail-points"))]
#[test]
fn without_fail_points_the_abort_variable_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 3);
    let out = command(&["run", "energy_features", "--repo", &repo, "--quiet"])
        .env("QUIVER_TEST_ABORT_AFTER_OFFLINE_COMMIT", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(offline_version(&repo), Some(0));
}

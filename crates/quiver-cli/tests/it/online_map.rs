//! The embedded store's map, between processes: a server keeps serving when
//! a job grows the store past the map the server opened it with, a job
//! whose rows would not fit fails before its offline commit, and the
//! repair of a store more than half full fits.

use crate::support::{command, get_json, http_get, ok, serve};
use quiver_test::TestRepo;
use quiver_test::repo::{ENERGY_HEADER, energy_line};

/// A repository on the embedded store with a map of `map_size_mib`, whose
/// source has one reading on `day` for each of `households`.
fn repo_with(households: usize, day: &str, map_size_mib: usize) -> TestRepo {
    let repo = TestRepo::energy(&csv(0..households, day));
    repo.set_online_store(&format!(
        "type = \"embedded\"\nmap_size_mib = {map_size_mib}"
    ));
    ok(&["apply", "--repo", path(&repo)]);
    repo
}

fn csv(households: std::ops::Range<usize>, day: &str) -> String {
    let mut csv = format!("{ENERGY_HEADER}\n");
    for h in households {
        let line = energy_line(
            &format!("MAC{h:06}"),
            day,
            Some(h as f64),
            Some(48),
            Some(1.5),
            Some(0.5),
        );
        csv.push_str(&line);
        csv.push('\n');
    }
    csv
}

fn path(repo: &TestRepo) -> &str {
    repo.path().to_str().unwrap()
}

fn set_map_size(repo: &TestRepo, map_size_mib: usize) {
    repo.set_online_store(&format!(
        "type = \"embedded\"\nmap_size_mib = {map_size_mib}"
    ));
    ok(&["apply", "--repo", path(repo)]);
}

fn run(repo: &TestRepo) -> std::process::Output {
    command(&["run", "energy_features", "--repo", path(repo), "--quiet"])
        .output()
        .unwrap()
}

fn data_mdb_bytes(repo: &TestRepo) -> u64 {
    std::fs::metadata(repo.path().join("data/online/data.mdb"))
        .unwrap()
        .len()
}

/// A server that opened the store with a 1 MiB map keeps answering after a
/// job, configured with a larger map, grew the file past 1 MiB: LMDB
/// refuses its reads with `MDB_MAP_RESIZED` until it adopts the new size.
#[test]
fn a_server_keeps_serving_after_a_job_grows_the_store_past_its_map() {
    let repo = repo_with(10, "2014-01-01", 1);
    ok(&["run", "energy_features", "--repo", path(&repo), "--quiet"]);
    let served = serve(&["--repo", path(&repo), "--http-addr", "127.0.0.1:0"], &[]);
    let before = http_get(&served.http, "/features/energy_features/MAC000002");
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");

    set_map_size(&repo, 64);
    repo.write_source(&csv(0..6_000, "2014-01-02"));
    let out = run(&repo);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        data_mdb_bytes(&repo) > 1024 * 1024,
        "the job should have grown the store past the server's map"
    );
    for id in ["MAC000002", "MAC005999"] {
        let after = http_get(&served.http, &format!("/features/energy_features/{id}"));
        assert!(after.starts_with("HTTP/1.1 200"), "{after}");
        assert!(after.contains("2014-01-02"), "{after}");
    }
}

/// A job whose online rows would not fit the map fails with an error that
/// says so and names the setting, before its offline commit: both stores
/// are exactly as they were (no commit restored by a further version).
#[test]
fn a_job_whose_rows_do_not_fit_the_map_fails_before_its_offline_commit() {
    let repo = repo_with(10, "2014-01-01", 1);
    ok(&["run", "energy_features", "--repo", path(&repo), "--quiet"]);
    let before = repo.data_snapshot();
    repo.write_source(&csv(0..6_000, "2014-01-02"));
    let out = run(&repo);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the job should have failed");
    assert!(
        stderr.contains("is full") && stderr.contains("map_size_mib"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(
        repo.data_snapshot() == before,
        "a failed job changed the stores: {stderr}"
    );
}

/// The next run repairs a store left one version behind (a job died
/// between its two commits) by rewriting every entity's latest row. On a
/// store more than half full that must not need room for a second copy of
/// every row: rows already stored are left alone and the rest is written
/// in parts.
#[cfg(feature = "fail-points")] // aborts the job at its fail point
#[test]
fn the_repair_of_a_store_more_than_half_full_fits() {
    let repo = repo_with(3_000, "2014-01-01", 1);
    ok(&["run", "energy_features", "--repo", path(&repo), "--quiet"]);
    assert!(
        data_mdb_bytes(&repo) > 512 * 1024,
        "the store should be more than half full: {} bytes",
        data_mdb_bytes(&repo)
    );
    // A new day for a few households, committed offline only.
    let mut more = csv(0..3_000, "2014-01-01");
    more.push_str(&csv(0..50, "2014-01-02").replacen(&format!("{ENERGY_HEADER}\n"), "", 1));
    repo.write_source(&more);
    let died = command(&["run", "energy_features", "--repo", path(&repo), "--quiet"])
        .env("QUIVER_TEST_ABORT_AFTER_OFFLINE_COMMIT", "1")
        .output()
        .unwrap();
    assert!(!died.status.success());

    let out = run(&repo);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = get_json(path(&repo), &["MAC000049", "MAC000050"]);
    assert_eq!(rows[0]["day_date"], "2014-01-02T00:00:00Z", "{rows:?}");
    assert_eq!(rows[1]["day_date"], "2014-01-01T00:00:00Z", "{rows:?}");
}

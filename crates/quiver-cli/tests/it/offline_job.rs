//! The offline store's own commands through the binary: log, time travel,
//! training-set, materialize, materialize-incremental, optimize, vacuum.

use crate::support::{energy_repo, fails, get_json, ok};
use std::path::Path;

/// A repository whose table has two versions: v0 without the last day
/// (2014-02-28), v1 adding it (one row per household).
fn two_versions(dir: &Path) -> String {
    let repo = energy_repo(dir, 3);
    let csv = format!("{repo}/data/energy.csv");
    let full = std::fs::read_to_string(&csv).unwrap();
    let early: String = full
        .lines()
        .filter(|l| !l.contains(",2014-02-28,"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&csv, early).unwrap();
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    std::fs::write(&csv, full).unwrap();
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    repo
}

/// `energy_sum` of the history row of `id` on `day`, as of a version.
fn history_sum(repo: &str, id: &str, day: &str, version: Option<&str>) -> f64 {
    let mut args = vec![
        "history",
        "energy_features",
        "--repo",
        repo,
        "--id",
        id,
        "--format",
        "json",
    ];
    if let Some(v) = version {
        args.extend(["--as-of-version", v]);
    }
    let rows: Vec<serde_json::Value> = serde_json::from_str(&ok(&args)).unwrap();
    rows.iter()
        .find(|r| r["day_date"].as_str().unwrap().starts_with(day))
        .unwrap_or_else(|| panic!("{id} has a row on {day}"))["energy_sum"]
        .as_f64()
        .unwrap()
}

#[test]
fn log_and_time_travel_name_each_version() {
    let dir = tempfile::tempdir().unwrap();
    let repo = two_versions(dir.path());
    let log: Vec<serde_json::Value> = serde_json::from_str(&ok(&[
        "log",
        "energy_features",
        "--repo",
        &repo,
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["operation"], "CREATE TABLE");
    assert_eq!(log[1]["operation"], "WRITE");
    assert_eq!(log[1]["rows_added"], 3, "one new day for three households");
    assert_eq!(log[1]["rows_removed"], 0);
    assert_eq!(
        log[1]["writer"],
        format!("quiver {}", env!("CARGO_PKG_VERSION"))
    );

    let table = ok(&["log", "energy_features", "--repo", &repo]);
    assert!(
        table.contains("CREATE TABLE") && table.contains("WRITE"),
        "{table}"
    );

    let old = ok(&[
        "history",
        "energy_features",
        "--repo",
        &repo,
        "--id",
        "MAC000002",
        "--as-of-version",
        "0",
        "--format",
        "json",
    ]);
    assert!(!old.contains("2014-02-28"), "version 0 has no last day");
    let v0_time = log[0]["timestamp"].as_str().unwrap();
    let as_of_time = ok(&[
        "history",
        "energy_features",
        "--repo",
        &repo,
        "--id",
        "MAC000002",
        "--as-of",
        v0_time,
        "--format",
        "json",
    ]);
    assert_eq!(
        as_of_time, old,
        "--as-of the first commit's time reads version 0"
    );

    let err = fails(&[
        "history",
        "energy_features",
        "--repo",
        &repo,
        "--id",
        "MAC000002",
        "--as-of-version",
        "9",
    ]);
    assert!(
        err.contains("has no version 9: it has versions 0 to 1"),
        "{err}"
    );
    let err = fails(&[
        "history",
        "energy_features",
        "--repo",
        &repo,
        "--id",
        "MAC000002",
        "--as-of",
        "2001-01-01",
    ]);
    assert!(err.contains("its first version was committed at"), "{err}");
    let err = fails(&[
        "history",
        "energy_features",
        "--repo",
        &repo,
        "--id",
        "MAC000002",
        "--as-of",
        "last tuesday",
    ]);
    assert!(err.contains("is not a time"), "{err}");
}

#[test]
fn a_training_set_joins_point_in_time_and_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let repo = two_versions(dir.path());
    let entities = dir.path().join("entities.csv");
    std::fs::write(
        &entities,
        "id,event_timestamp,label\n\
         MAC000002,2014-02-28T00:00:00Z,a\n\
         MAC000003,2014-02-27T12:00:00Z,b\n\
         MAC000002,2011-01-01T00:00:00Z,c\n\
         NOPE,2014-02-28T00:00:00Z,d\n",
    )
    .unwrap();
    let out = dir.path().join("training.csv");
    let summary = ok(&[
        "training-set",
        "--repo",
        &repo,
        "--entities",
        entities.to_str().unwrap(),
        "--features",
        "energy_features:energy_sum,energy_features:energy_count",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(summary.contains("4 rows, 5 columns"), "{summary}");
    assert!(
        summary.contains("2 rows with features, 2 without"),
        "{summary}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,event_timestamp,label,energy_sum,energy_count");
    let field = |line: &str, i: usize| line.split(',').nth(i).unwrap().to_string();
    assert_eq!(
        lines[1..].iter().map(|l| field(l, 2)).collect::<Vec<_>>(),
        ["a", "b", "c", "d"],
        "every row, in the file's order"
    );
    // At a feature's own event time it is visible; half a day later the
    // same day's row is the latest; before any history, nothing.
    let sum = |line: &str| field(line, 3).parse::<f64>().unwrap();
    assert_eq!(
        sum(lines[1]),
        history_sum(&repo, "MAC000002", "2014-02-28", None)
    );
    assert_eq!(
        sum(lines[2]),
        history_sum(&repo, "MAC000003", "2014-02-27", None)
    );
    assert_eq!(field(lines[3], 3), "", "no feature before the first day");
    assert_eq!(field(lines[4], 3), "", "an unknown household keeps its row");

    // As of version 0 the last day does not exist yet: the day before wins.
    let old = dir.path().join("training-v0.parquet");
    ok(&[
        "training-set",
        "--repo",
        &repo,
        "--entities",
        entities.to_str().unwrap(),
        "--feature-service",
        "energy_model_v1",
        "--as-of-version",
        "0",
        "--out",
        old.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(std::fs::metadata(&old).unwrap().len() > 0);

    let err = fails(&[
        "training-set",
        "--repo",
        &repo,
        "--entities",
        entities.to_str().unwrap(),
        "--timestamp-column",
        "ts",
        "--features",
        "energy_features:energy_sum",
        "--out",
        dir.path().join("never.csv").to_str().unwrap(),
    ]);
    assert!(err.contains("has no timestamp column `ts`"), "{err}");
    assert!(
        !dir.path().join("never.csv").exists(),
        "nothing written on bad input"
    );
    let err = fails(&[
        "training-set",
        "--repo",
        &repo,
        "--entities",
        entities.to_str().unwrap(),
        "--features",
        "energy_features:nope",
        "--out",
        dir.path().join("never.csv").to_str().unwrap(),
    ]);
    assert!(
        err.contains("feature view `energy_features` has no feature `nope`"),
        "{err}"
    );
}

#[test]
fn materialize_rebuilds_the_online_store_and_incremental_moves_only_new_files() {
    let dir = tempfile::tempdir().unwrap();
    let repo = two_versions(dir.path());
    let up_to_date = ok(&[
        "materialize-incremental",
        "energy_features",
        "--repo",
        &repo,
        "--quiet",
    ]);
    assert!(
        up_to_date.contains("already at offline version 1 (0 new files)"),
        "{up_to_date}"
    );

    // A lost online store, rebuilt as of version 0, then brought up to date.
    std::fs::remove_dir_all(format!("{repo}/data/online")).unwrap();
    let full = ok(&[
        "materialize",
        "energy_features",
        "--repo",
        &repo,
        "--as-of-version",
        "0",
        "--quiet",
    ]);
    assert!(full.contains("materialized offline version 0"), "{full}");
    assert!(full.contains("3 entities read, 3 updated"), "{full}");
    assert_eq!(
        get_json(&repo, &["MAC000002"])[0]["day_date"],
        "2014-02-27T00:00:00Z"
    );

    let incremental = ok(&[
        "materialize-incremental",
        "energy_features",
        "--repo",
        &repo,
        "--quiet",
    ]);
    assert!(
        incremental.contains("versions 1..=1 of the offline table: 1 added files"),
        "only the last day's file: {incremental}"
    );
    assert!(
        incremental.contains("3 entities read, 3 updated"),
        "{incremental}"
    );
    assert_eq!(
        get_json(&repo, &["MAC000002"])[0]["day_date"],
        "2014-02-28T00:00:00Z"
    );

    // A window does not claim the whole version.
    let window = ok(&[
        "materialize",
        "energy_features",
        "--repo",
        &repo,
        "--start",
        "2013-01-01",
        "--end",
        "2013-01-31",
        "--quiet",
    ]);
    assert!(
        window.contains("3 kept (the store already had later rows)"),
        "{window}"
    );
    assert!(
        window.contains("recorded offline version is unchanged"),
        "{window}"
    );

    // A window is a date or a time, never text pasted into the predicate.
    for (start, end, named) in [
        (
            "2014-01-01' OR '1'='1",
            "2014-01-31",
            "is not a valid start",
        ),
        ("2014-01-31", "2014-01-01", "the range is empty"),
    ] {
        let refused = fails(&[
            "materialize",
            "energy_features",
            "--repo",
            &repo,
            "--start",
            start,
            "--end",
            end,
        ]);
        assert!(refused.contains(named), "{refused}");
    }
}

#[test]
fn a_window_materialized_after_a_redefinition_does_not_pass_for_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let repo = two_versions(dir.path());
    // Two features swap places: the table's columns are the same, the
    // online layout is not, so the next write drops the view's online rows.
    let config = format!("{repo}/quiver.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let (sources, views) = text
        .split_once("[feature_views.energy_features.features]")
        .unwrap();
    let swapped = views.replacen(
        "energy_median = \"float64\"\nenergy_mean = \"float64\"\n",
        "energy_mean = \"float64\"\nenergy_median = \"float64\"\n",
        1,
    );
    assert_ne!(swapped, views, "the view declares the two in this order");
    std::fs::write(
        &config,
        format!("{sources}[feature_views.energy_features.features]{swapped}"),
    )
    .unwrap();
    ok(&["apply", "--repo", &repo]);

    let window = ok(&[
        "materialize",
        "energy_features",
        "--repo",
        &repo,
        "--start",
        "2014-02-01",
        "--end",
        "2014-02-10",
        "--quiet",
    ]);
    assert!(window.contains("3 entities read"), "{window}");
    assert_eq!(
        get_json(&repo, &["MAC000002"])[0]["day_date"],
        "2014-02-10T00:00:00Z"
    );
    // The store holds the window's rows only, so it reflects no version of
    // the table, and an incremental run must read the table whole.
    let incremental = ok(&[
        "materialize-incremental",
        "energy_features",
        "--repo",
        &repo,
        "--quiet",
    ]);
    assert!(
        !incremental.contains("already at offline version"),
        "{incremental}"
    );
    assert!(
        incremental.contains("materialized offline version 1"),
        "{incremental}"
    );
    assert_eq!(
        get_json(&repo, &["MAC000002"])[0]["day_date"],
        "2014-02-28T00:00:00Z"
    );
}

#[test]
fn optimize_compacts_and_vacuum_deletes_only_unreferenced_files() {
    let dir = tempfile::tempdir().unwrap();
    let repo = two_versions(dir.path());
    let before = history_sum(&repo, "MAC000004", "2014-02-28", None);
    // A failed job's leftover: a data file no commit references.
    let table = format!("{repo}/data/offline/energy_features");
    let orphan = format!("{table}/orphan-from-a-failed-job.parquet");
    std::fs::write(&orphan, b"not referenced").unwrap();

    let oversized = fails(&[
        "optimize",
        "energy_features",
        "--repo",
        &repo,
        "--target-size-mib",
        "17592186044416",
    ]);
    assert!(
        oversized.contains("--target-size-mib") && oversized.contains("1..=1048576"),
        "{oversized}"
    );
    let optimized = ok(&["optimize", "energy_features", "--repo", &repo, "--z-order"]);
    assert!(optimized.contains("Z-ordered by id"), "{optimized}");
    assert!(optimized.contains("table version 2"), "{optimized}");

    // A retention past any file's age keeps everything, however long.
    let kept = ok(&[
        "vacuum",
        "energy_features",
        "--repo",
        &repo,
        "--retain",
        &u64::MAX.to_string(),
        "--dry-run",
    ]);
    assert!(!kept.contains("orphan-from-a-failed-job"), "{kept}");
    let dry = ok(&[
        "vacuum",
        "energy_features",
        "--repo",
        &repo,
        "--retain",
        "0",
        "--dry-run",
    ]);
    assert!(dry.contains("orphan-from-a-failed-job.parquet"), "{dry}");
    assert!(Path::new(&orphan).exists(), "a dry run deletes nothing");
    ok(&[
        "vacuum",
        "energy_features",
        "--repo",
        &repo,
        "--retain",
        "0",
    ]);
    assert!(
        !Path::new(&orphan).exists(),
        "the failed job's file is gone"
    );
    assert_eq!(history_sum(&repo, "MAC000004", "2014-02-28", None), before);
}

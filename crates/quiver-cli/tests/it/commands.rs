//! Each command, end to end through the binary.

use crate::support::{energy_repo, fails, get_json, ok, quiver};

#[test]
fn datagen_is_deterministic_and_reports_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    let out = ok(&[
        "datagen",
        "energy",
        "--households",
        "4",
        "--out",
        a.to_str().unwrap(),
    ]);
    assert!(out.contains("4 households"), "{out}");
    ok(&[
        "datagen",
        "energy",
        "--households",
        "4",
        "--out",
        b.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let text = std::fs::read_to_string(&a).unwrap();
    assert!(text.starts_with("household_id,day,energy_median,energy_mean,energy_max,energy_count,energy_std,energy_sum,energy_min\nMAC000002,"));
}

#[test]
fn init_apply_run_get_history() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 5);

    let out = ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    assert!(out.contains("committed as Delta version 0"), "{out}");
    assert!(out.contains("5 entities updated"), "{out}");

    let rerun = ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    assert!(
        rerun.contains("no new rows; table unchanged at version 0"),
        "{rerun}"
    );

    let got = get_json(&repo, &["MAC000002", "NOPE"]);
    assert_eq!(got.len(), 2, "one object per requested id");
    assert_eq!(got[0]["id"], "MAC000002");
    assert_eq!(got[0]["status"], "found");
    assert_eq!(got[0]["day_date"], "2014-02-28T00:00:00Z");
    let features = got[0]["features"].as_object().unwrap();
    assert_eq!(features.len(), 22);
    assert!(features["energy_sum_3months"].as_f64().unwrap() > 0.0);
    assert!(features["energy_count"].is_i64(), "counts stay integers");
    assert_eq!(got[1]["id"], "NOPE");
    assert_eq!(got[1]["status"], "not_found");
    assert!(got[1].get("features").is_none());

    let table = ok(&[
        "get",
        "energy_features",
        "--repo",
        &repo,
        "--id",
        "MAC000002",
    ]);
    assert!(
        table.contains("energy_stddev_1yr") && table.contains("found"),
        "{table}"
    );

    let history = ok(&[
        "history",
        "energy_features",
        "--repo",
        &repo,
        "--id",
        "MAC000003",
        "--format",
        "json",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&history).unwrap();
    assert!(rows.len() > 400, "{} rows", rows.len());
    assert!(rows.iter().all(|r| r["id"] == "MAC000003"));
    let days: Vec<&str> = rows
        .iter()
        .map(|r| r["day_date"].as_str().unwrap())
        .collect();
    assert!(
        days.windows(2).all(|w| w[0] < w[1]),
        "history is oldest first"
    );
    assert_eq!(*days.last().unwrap(), "2014-02-28");

    // A ttl makes the 2014 rows outside max age: the word `quiver serve`
    // uses (OUTSIDE_MAX_AGE), and the values are still shown.
    let config = format!("{repo}/quiver.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let with_ttl = text.replacen(
        "event_time = \"day_date\"\n",
        "event_time = \"day_date\"\nttl = \"30d\"\n",
        1,
    );
    assert_ne!(text, with_ttl, "the template names the view's event time");
    std::fs::write(&config, with_ttl).unwrap();
    ok(&["apply", "--repo", &repo]);
    let got = get_json(&repo, &["MAC000002", "NOPE"]);
    assert_eq!(got[0]["status"], "outside_max_age");
    assert!(got[0]["features"]["energy_sum_3months"].as_f64().unwrap() > 0.0);
    assert_eq!(got[1]["status"], "not_found");
    let table = ok(&[
        "get",
        "energy_features",
        "--repo",
        &repo,
        "--id",
        "MAC000002",
    ]);
    assert!(table.contains("outside_max_age"), "{table}");
}

#[test]
fn history_travels_back_to_an_earlier_version() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 2);
    let csv = format!("{repo}/data/energy.csv");
    // Version 0 from a source without its last line; version 1 appends it.
    let full = std::fs::read_to_string(&csv).unwrap();
    let cut = full.trim_end().rfind('\n').unwrap();
    std::fs::write(&csv, &full[..=cut]).unwrap();
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    std::fs::write(&csv, &full).unwrap();
    let out = ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    assert!(out.contains("1 rows committed as Delta version 1"), "{out}");
    let count = |version: Option<&str>| {
        let mut args = vec![
            "history",
            "energy_features",
            "--repo",
            &repo,
            "--id",
            "MAC000003",
            "--format",
            "json",
        ];
        if let Some(v) = version {
            args.extend(["--version", v]);
        }
        serde_json::from_str::<Vec<serde_json::Value>>(&ok(&args))
            .unwrap()
            .len()
    };
    assert_eq!(count(Some("0")) + 1, count(None));
}

#[test]
fn errors_are_one_clear_line_and_a_failure_exit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 2);
    let err = fails(&["run", "energy_featurez", "--repo", &repo]);
    assert!(
        err.contains("unknown feature view `energy_featurez`"),
        "{err}"
    );
    assert!(err.contains("`energy_features`"), "{err}");
    let err = fails(&["get", "energy_features", "--repo", &repo, "--id", "x"]);
    assert!(err.contains("run `quiver run energy_features`"), "{err}");
    let err = fails(&["history", "energy_features", "--repo", &repo, "--id", "x"]);
    assert!(err.contains("run `quiver run energy_features`"), "{err}");
    assert!(
        !std::path::Path::new(&repo).join("data/offline").exists(),
        "a read created the offline store's folder"
    );
    let empty = tempfile::tempdir().unwrap();
    let err = fails(&[
        "run",
        "energy_features",
        "--repo",
        empty.path().to_str().unwrap(),
    ]);
    assert!(err.contains("quiver apply"), "{err}");
    let err = fails(&["init", &repo]);
    assert!(err.contains("already exists"), "{err}");
    assert!(
        !quiver(&["get", "energy_features", "--repo", &repo])
            .status
            .success(),
        "--id is required"
    );
}

#[test]
fn init_names_the_step_that_comes_next() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    let out = ok(&["init", empty.to_str().unwrap()]);
    assert!(
        out.contains("Next: put data in place (quiver datagen energy"),
        "{out}"
    );

    // Data generated first: only `apply` is left.
    let with_data = dir.path().join("with-data");
    let csv = with_data.join("data/energy.csv");
    ok(&[
        "datagen",
        "energy",
        "--households",
        "1",
        "--out",
        csv.to_str().unwrap(),
    ]);
    let out = ok(&["init", with_data.to_str().unwrap()]);
    assert!(!out.contains("quiver datagen"), "{out}");
    assert!(out.contains("Next: `quiver apply --repo"), "{out}");
}

#[test]
fn demo_runs_end_to_end_and_says_what_to_try_next() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = ok(&["demo", "--dir", demo.to_str().unwrap(), "--households", "3"]);
    assert!(out.contains("committed as Delta version 0"), "{out}");
    assert!(out.contains("MAC999999"), "{out}");
    assert!(out.contains("not_found"), "{out}");
    assert!(out.contains("Try next"), "{out}");
    // The demo generates the data itself: no step tells the user to.
    assert!(!out.contains("Next: put data in place"), "{out}");
    // A second demo in the same folder reuses it, and the job adds nothing.
    let again = ok(&["demo", "--dir", demo.to_str().unwrap(), "--households", "3"]);
    assert!(again.contains("no new rows"), "{again}");
}

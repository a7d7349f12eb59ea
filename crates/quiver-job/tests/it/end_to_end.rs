//! datagen → apply → run → both stores, against an independent computation
//! of the windows in plain Rust; reruns, appends and replaced ranges.

use crate::support::{Features, offline_rows, online_rows, run, run_with};
use quiver_datagen::energy::{self, EnergyConfig};
use quiver_job::{JobError, RunOptions};
use quiver_test::TestRepo;
use std::collections::BTreeMap;

pub fn dataset(households: usize, last_day: (i32, u32, u32)) -> String {
    let config = EnergyConfig {
        households,
        last_day: chrono::NaiveDate::from_ymd_opt(last_day.0, last_day.1, last_day.2).unwrap(),
        ..EnergyConfig::default()
    };
    let mut bytes = Vec::new();
    energy::write_csv(&config, &mut bytes, |_| {}).unwrap();
    String::from_utf8(bytes).unwrap()
}

/// The feature view computed without DataFusion: for every row, scan the
/// household's rows in each trailing window of calendar days.
fn independent(csv: &str) -> BTreeMap<(String, i32), Features> {
    struct Day {
        day: i32,
        raw: [Option<f64>; 7],
    }
    let names = ["median", "mean", "max", "count", "std", "sum", "min"];
    let mut households: BTreeMap<String, Vec<Day>> = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let mut raw = [None; 7];
        for (i, field) in fields[2..].iter().enumerate() {
            raw[i] = field.parse::<f64>().ok();
        }
        households
            .entry(fields[0].to_string())
            .or_default()
            .push(Day {
                day: crate::support::day(fields[1]),
                raw,
            });
    }
    let (mean, max, count, sum) = (1, 2, 3, 5);
    let mut out = BTreeMap::new();
    for (id, days) in &households {
        for today in days {
            let mut features = Features::new();
            for (i, name) in names.iter().enumerate() {
                features.insert(format!("energy_{name}"), today.raw[i]);
            }
            for (length, suffix) in [(90, "3months"), (180, "6months"), (365, "1yr")] {
                let window: Vec<&Day> = days
                    .iter()
                    .filter(|d| d.day <= today.day && d.day > today.day - length)
                    .collect();
                let values =
                    |m: usize| -> Vec<f64> { window.iter().filter_map(|d| d.raw[m]).collect() };
                let total = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>());
                let sums = values(sum);
                let means = values(mean);
                let stddev = (sums.len() > 1).then(|| {
                    let n = sums.len() as f64;
                    let avg = sums.iter().sum::<f64>() / n;
                    (sums.iter().map(|s| (s - avg).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
                });
                let f = |m: &str| format!("energy_{m}_{suffix}");
                features.insert(f("sum"), total(&sums));
                features.insert(f("count"), total(&values(count)));
                features.insert(f("max"), values(max).into_iter().reduce(f64::max));
                features.insert(f("mean"), total(&means).map(|t| t / means.len() as f64));
                features.insert(f("stddev"), stddev);
            }
            out.insert((id.clone(), today.day), features);
        }
    }
    out
}

fn assert_close(context: &str, actual: &Features, expected: &Features) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "{context}: number of features"
    );
    for (name, e) in expected {
        match (actual[name], *e) {
            (None, None) => {}
            (Some(a), Some(e)) => assert!(
                (a - e).abs() <= 1e-6 * e.abs().max(1.0),
                "{context}: {name} = {a}, expected {e}"
            ),
            (a, e) => panic!("{context}: {name} = {a:?}, expected {e:?}"),
        }
    }
}

#[tokio::test]
async fn both_stores_equal_an_independent_computation() {
    let csv = dataset(12, (2014, 2, 28));
    let repo = TestRepo::energy(&csv);
    let summary = run(&repo).await.unwrap();
    let expected = independent(&csv);
    assert_eq!(summary.rows_read, expected.len());
    assert_eq!(summary.rows_computed, expected.len());
    assert_eq!(summary.offline_rows_written, expected.len());
    assert_eq!(summary.offline_version_before, None);
    assert_eq!(summary.offline_version, 0);
    assert_eq!(summary.online_rows_written, 12);

    let offline = offline_rows(&repo).await;
    assert_eq!(offline.len(), expected.len());
    for (key, features) in &expected {
        assert_close(&format!("offline {key:?}"), &offline[key], features);
    }
    let ids: Vec<String> = (0..12).map(energy::household_id).collect();
    let asked: Vec<&str> = ids.iter().map(String::as_str).collect();
    for (id, online) in ids.iter().zip(online_rows(&repo, &asked).await) {
        let (day, features) = online.unwrap_or_else(|| panic!("{id} missing online"));
        let latest = offline
            .keys()
            .filter(|(i, _)| i == id)
            .map(|(_, d)| *d)
            .max()
            .unwrap();
        assert_eq!(day, latest, "{id}: online is not the latest day");
        assert_eq!(
            features,
            offline[&(id.clone(), day)],
            "{id}: online differs from offline"
        );
    }
}

#[tokio::test]
async fn rerun_adds_nothing_and_new_days_are_appended_without_changing_history() {
    let early = dataset(6, (2014, 1, 31));
    let repo = TestRepo::energy(&early);
    let first = run(&repo).await.unwrap();
    let before = offline_rows(&repo).await;
    assert_eq!(first.offline_rows_written, before.len());

    // Same input again: nothing written, no new table version.
    let again = run(&repo).await.unwrap();
    assert_eq!(again.offline_rows_written, 0);
    assert_eq!(again.offline_version, first.offline_version);
    assert_eq!(offline_rows(&repo).await, before);

    // Four more weeks: only the new days are appended; old rows keep their
    // values (point-in-time: later data never changes an earlier row).
    let full = dataset(6, (2014, 2, 28));
    assert!(full.starts_with(&early[..early.find('\n').unwrap()]));
    repo.write_source(&full);
    let appended = run(&repo).await.unwrap();
    assert_eq!(appended.offline_rows_written, 6 * 28);
    assert_eq!(appended.offline_version, first.offline_version + 1);
    assert_eq!(appended.online_rows_written, 6);
    let after = offline_rows(&repo).await;
    assert_eq!(after.len(), before.len() + 6 * 28);
    for (key, features) in &before {
        assert_eq!(&after[key], features, "history changed at {key:?}");
    }
    let online = online_rows(&repo, &["MAC000002"]).await;
    assert_eq!(
        online[0].as_ref().unwrap().0,
        crate::support::day("2014-02-28")
    );
}

#[tokio::test]
async fn a_replaced_range_is_recomputed_and_a_backfill_never_rolls_online_back() {
    let csv = dataset(3, (2014, 2, 28));
    let repo = TestRepo::energy(&csv);
    run(&repo).await.unwrap();
    let online_before = online_rows(&repo, &["MAC000002"]).await;

    // Correct one old day's sum in the source and replace January 2014.
    let corrected: String = csv
        .lines()
        .map(|line| {
            if line.starts_with("MAC000002,2014-01-10,") {
                let mut fields: Vec<&str> = line.split(',').collect();
                fields[7] = "1000";
                fields.join(",")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    repo.write_source(&corrected);
    let options = RunOptions {
        replace_range: Some(("2014-01-01".to_string(), "2014-01-31".to_string())),
        ..RunOptions::default()
    };
    let summary = run_with(&repo, options).await.unwrap();
    assert_eq!(summary.offline_rows_written, 3 * 31);
    let rows = offline_rows(&repo).await;
    let expected = independent(&corrected);
    assert_eq!(
        rows.len(),
        expected.len(),
        "the replace lost or duplicated rows"
    );
    let key = ("MAC000002".to_string(), crate::support::day("2014-01-10"));
    assert_eq!(rows[&key]["energy_sum"], Some(1000.0));
    // Inside the range the windows see the correction …
    let inside = ("MAC000002".to_string(), crate::support::day("2014-01-31"));
    assert_close("inside", &rows[&inside], &expected[&inside]);
    // … outside it, rows were not rewritten (replace only what was asked).
    let outside = ("MAC000002".to_string(), crate::support::day("2014-02-01"));
    assert!(rows[&outside]["energy_sum_1yr"] < expected[&outside]["energy_sum_1yr"]);
    // January is older than the online row (2014-02-28): online is unchanged.
    assert_eq!(summary.online_rows_skipped_older, 3);
    assert_eq!(online_rows(&repo, &["MAC000002"]).await, online_before);
}

#[tokio::test]
async fn replacing_a_range_with_no_rows_deletes_it() {
    let csv = dataset(2, (2014, 2, 28));
    let repo = TestRepo::energy(&csv);
    let first = run(&repo).await.unwrap();
    let without_january: String = csv
        .lines()
        .filter(|l| !l.contains(",2014-01-"))
        .map(|l| format!("{l}\n"))
        .collect();
    repo.write_source(&without_january);
    let options = RunOptions {
        replace_range: Some(("2014-01-01".to_string(), "2014-01-31".to_string())),
        ..RunOptions::default()
    };
    let summary = run_with(&repo, options).await.unwrap();
    assert_eq!(summary.offline_rows_written, 0);
    assert_eq!(summary.offline_version, first.offline_version + 1);
    let rows = offline_rows(&repo).await;
    let january = crate::support::day("2014-01-01")..=crate::support::day("2014-01-31");
    assert!(
        rows.keys().all(|(_, d)| !january.contains(d)),
        "January survived"
    );
    assert_eq!(rows.len(), independent(&csv).len() - 2 * 31);
}

#[tokio::test]
async fn under_a_small_memory_limit_the_job_spills_and_writes_the_same_rows() {
    // About 90 MB of sorted rows against a 128 MiB limit shared by eight sorts: the sorts and
    // the sort-merge joins must spill to disk, and the rows stay exact.
    let csv = dataset(300, (2014, 2, 28));
    let lines: Vec<&str> = csv.lines().collect();
    let without_last_day: String = lines
        .iter()
        .filter(|l| !l.contains(",2014-02-28,"))
        .map(|l| format!("{l}\n"))
        .collect();
    let repo = TestRepo::energy(&without_last_day);
    let small = || RunOptions {
        memory_limit: 128 * 1024 * 1024,
        ..RunOptions::default()
    };
    let first = run_with(&repo, small()).await.unwrap();
    assert!(first.spilled_bytes > 0, "the limit made the job spill");
    // The append marks existing rows through a sort-merge join, also spilled.
    repo.write_source(&csv);
    let second = run_with(&repo, small()).await.unwrap();
    assert_eq!(
        second.offline_rows_written, 300,
        "one new day per household"
    );
    assert_eq!(second.rows_computed, first.rows_computed + 300);

    let expected = independent(&csv);
    let offline = offline_rows(&repo).await;
    assert_eq!(offline.len(), expected.len());
    for (key, features) in &expected {
        assert_close(&format!("offline {key:?}"), &offline[key], features);
    }
    let (day, _) = online_rows(&repo, &[&energy::household_id(7)]).await[0]
        .clone()
        .expect("household 7 online");
    assert_eq!(day, crate::support::day("2014-02-28"));

    // Too small to hold even one sort's batch: refused by name, nothing written.
    let tiny = RunOptions {
        memory_limit: 256 * 1024,
        replace_range: Some(("2014-01-01".into(), "2014-02-28".into())),
        ..RunOptions::default()
    };
    let error = run_with(&repo, tiny).await.unwrap_err();
    assert!(matches!(error, JobError::MemoryLimit { .. }), "{error}");
    assert_eq!(offline_rows(&repo).await.len(), expected.len());
}

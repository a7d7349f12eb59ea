//! Bad input gets an error that names the problem, and leaves both stores
//! exactly as they were.

use crate::support::{VIEW, run};
use quiver_core::{FeatureRepo, error_chain};
use quiver_job::{JobError, RunOptions};
use quiver_test::TestRepo;
use quiver_test::repo::ENERGY_HEADER;

const GOOD: &str = "MAC000002,2012-01-01,0.1,0.1,0.5,48,0.05,1,0.01\nMAC000002,2012-01-02,0.2,0.2,0.7,48,0.05,2,0.01\n";

/// A repository that has run once on good data, and the fingerprint of its stores.
async fn ran_once() -> (TestRepo, Vec<(std::path::PathBuf, Vec<u8>)>) {
    let repo = TestRepo::energy(&format!("{ENERGY_HEADER}\n{GOOD}"));
    run(&repo).await.unwrap();
    let snapshot = repo.data_snapshot();
    assert!(snapshot.iter().any(|(p, _)| p.ends_with("data.mdb")));
    assert!(
        snapshot
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains("_delta_log"))
    );
    (repo, snapshot)
}

/// Runs with `source` as the CSV and returns the error text, checking that
/// both stores are untouched.
async fn fails_with(source: &str) -> String {
    let (repo, before) = ran_once().await;
    repo.write_source(source);
    let error = run(&repo).await.expect_err("the job should fail");
    // The cause (the CSV reader's report) is the error's source.
    let error = error_chain(&error);
    assert_unchanged(&repo, &before, &error);
    error
}

fn assert_unchanged(repo: &TestRepo, before: &[(std::path::PathBuf, Vec<u8>)], error: &str) {
    let after = repo.data_snapshot();
    let changed: Vec<_> = after
        .iter()
        .filter(|file| !before.contains(file))
        .map(|(path, _)| path)
        .chain(
            before
                .iter()
                .filter(|(p, _)| !after.iter().any(|(q, _)| q == p))
                .map(|(path, _)| path),
        )
        .collect();
    assert!(
        changed.is_empty(),
        "a failed job changed {changed:?} ({error})"
    );
}

#[tokio::test]
async fn a_row_with_too_few_fields_names_the_file_and_line() {
    let error = fails_with(&format!(
        "{ENERGY_HEADER}\n{GOOD}MAC000002,2012-01-03,0.2,0.2\n"
    ))
    .await;
    assert!(error.contains("energy.csv"), "{error}");
    assert!(error.contains("line"), "{error}");
    assert!(error.contains("energy_features"), "{error}");
}

#[tokio::test]
async fn a_value_of_the_wrong_type_is_named_with_its_line() {
    let error = fails_with(&format!(
        "{ENERGY_HEADER}\n{GOOD}MAC000002,2012-01-03,0.2,0.2,0.7,48,0.05,lots,0.01\n"
    ))
    .await;
    assert!(error.contains("lots"), "{error}");
    assert!(error.contains("line"), "{error}");
    assert!(error.contains("energy.csv"), "{error}");
}

#[tokio::test]
async fn a_bad_date_is_named() {
    let error = fails_with(&format!(
        "{ENERGY_HEADER}\n{GOOD}MAC000002,2012-13-45,0.2,0.2,0.7,48,0.05,2,0.01\n"
    ))
    .await;
    assert!(error.contains("2012-13-45"), "{error}");
}

#[tokio::test]
async fn a_duplicate_household_and_day_is_named() {
    let error = fails_with(&format!(
        "{ENERGY_HEADER}\n{GOOD}MAC000002,2012-01-02,0.3,0.3,0.9,48,0.05,3,0.01\n"
    ))
    .await;
    assert!(error.contains("MAC000002"), "{error}");
    assert!(error.contains("2012-01-02"), "{error}");
    assert!(error.contains("2 rows"), "{error}");
}

#[tokio::test]
async fn an_empty_source_is_an_error_not_an_empty_table() {
    let error = fails_with(&format!("{ENERGY_HEADER}\n")).await;
    assert!(error.contains("no rows"), "{error}");
    assert!(error.contains("energy_daily"), "{error}");
}

#[tokio::test]
async fn a_missing_file_names_the_path() {
    let (repo, before) = ran_once().await;
    std::fs::remove_file(repo.source_file()).unwrap();
    let error = run(&repo).await.unwrap_err();
    assert!(matches!(error, JobError::SourceMissing { .. }), "{error}");
    assert!(error.to_string().contains("energy.csv"), "{error}");
    assert_unchanged(&repo, &before, &error.to_string());
}

#[tokio::test]
async fn an_unknown_view_lists_the_known_ones() {
    let (repo, before) = ran_once().await;
    let definitions = FeatureRepo::load(repo.path()).unwrap();
    let online = quiver_backends::open_online_store(&definitions)
        .await
        .unwrap();
    let offline = quiver_offline::OfflineStore::for_repo(&definitions).unwrap();
    let error = quiver_job::run_view(
        &definitions,
        "energy_featurez",
        online.as_ref(),
        &offline,
        RunOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("energy_featurez"), "{error}");
    assert!(error.contains(VIEW), "{error}");
    assert_unchanged(&repo, &before, &error);
}

#[tokio::test]
async fn a_bad_range_is_refused_before_anything_runs() {
    let (repo, before) = ran_once().await;
    let options = RunOptions {
        replace_range: Some(("2014-01-01".to_string(), "yesterday".to_string())),
        ..RunOptions::default()
    };
    let error = crate::support::run_with(&repo, options).await.unwrap_err();
    assert!(error.to_string().contains("yesterday"), "{error}");
    assert_unchanged(&repo, &before, &error.to_string());
}

#[tokio::test]
async fn a_reversed_range_is_refused() {
    let (repo, before) = ran_once().await;
    let options = RunOptions {
        replace_range: Some(("2014-02-01".to_string(), "2014-01-01".to_string())),
        ..RunOptions::default()
    };
    let error = crate::support::run_with(&repo, options).await.unwrap_err();
    assert!(matches!(error, JobError::EmptyRange { .. }), "{error}");
    assert_unchanged(&repo, &before, &error.to_string());
}

#[tokio::test]
async fn csv_columns_in_another_order_than_declared_are_refused() {
    let (repo, before) = ran_once().await;
    // energy_max and energy_mean swapped: same type, so only the header tells.
    let swapped = ENERGY_HEADER.replace("energy_mean,energy_max", "energy_max,energy_mean");
    repo.write_source(&format!("{swapped}\n{GOOD}"));
    let error = run(&repo).await.unwrap_err().to_string();
    assert!(error.contains("sources.energy_daily.schema"), "{error}");
    assert!(error.contains("column 4"), "{error}");
    assert!(error.contains("energy_max"), "{error}");
    assert_unchanged(&repo, &before, &error);
}

/// The header is CSV like the rows: quoted names are names, and a comma
/// inside quotes is part of one, so two declared columns quoted together
/// are one column found (a split on commas saw the two declared names).
#[tokio::test]
async fn a_quoted_csv_header_is_read_as_csv() {
    let (repo, before) = ran_once().await;
    let merged = ENERGY_HEADER.replacen("household_id,day", "\"household_id,day\"", 1);
    repo.write_source(&format!("{merged}\n{GOOD}"));
    let error = run(&repo).await.unwrap_err().to_string();
    assert!(error.contains("sources.energy_daily.schema"), "{error}");
    assert!(error.contains("column 1"), "{error}");
    assert!(error.contains("`household_id,day`"), "{error}");
    assert_unchanged(&repo, &before, &error);
    // Every name quoted, as spreadsheets write them: the same data runs.
    let quoted: Vec<String> = ENERGY_HEADER
        .split(',')
        .map(|c| format!("\"{c}\""))
        .collect();
    repo.write_source(&format!("{}\n{GOOD}", quoted.join(",")));
    run(&repo).await.unwrap();
}

/// A folder of CSV files: every file's header is checked, not only a
/// single file's, so a second file with two same-typed columns swapped is
/// refused by name rather than read with its values in the wrong columns.
#[tokio::test]
async fn a_file_of_a_csv_folder_with_columns_in_another_order_is_refused() {
    let (repo, before) = ran_once().await;
    let folder = repo.path().join("data/energy");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("a.csv"), format!("{ENERGY_HEADER}\n{GOOD}")).unwrap();
    let swapped = ENERGY_HEADER.replace("energy_mean,energy_max", "energy_max,energy_mean");
    std::fs::write(
        folder.join("b.csv"),
        format!("{swapped}\nMAC000003,2012-01-01,0.1,0.5,0.1,48,0.05,1,0.01\n"),
    )
    .unwrap();
    repo.edit_config(|toml| {
        toml.replace(
            "location = \"data/energy.csv\"",
            "location = \"data/energy\"",
        )
    });
    let error = run(&repo).await.unwrap_err().to_string();
    assert!(error.contains("sources.energy_daily.schema"), "{error}");
    assert!(error.contains("b.csv"), "{error}");
    assert!(error.contains("column 4"), "{error}");
    assert_unchanged(&repo, &before, &error);
    // In the declared order, the same folder runs.
    std::fs::write(
        folder.join("b.csv"),
        format!("{ENERGY_HEADER}\nMAC000003,2012-01-01,0.1,0.1,0.5,48,0.05,1,0.01\n"),
    )
    .unwrap();
    run(&repo).await.unwrap();
}

/// A key the online store cannot hold (here longer than the embedded
/// store's keys may be) fails the job with its other input checks, before
/// the offline commit: both stores stay exactly as they were, instead of a
/// commit that the failed online write then undoes with a new version.
#[tokio::test]
async fn a_key_too_long_for_the_online_store_fails_before_the_offline_commit() {
    let repo = TestRepo::energy(&format!("{ENERGY_HEADER}\n{GOOD}"));
    repo.set_online_store("type = \"embedded\"");
    run(&repo).await.unwrap();
    let before = repo.data_snapshot();
    let long = "M".repeat(600);
    repo.write_source(&format!(
        "{ENERGY_HEADER}\n{GOOD}{long},2012-01-03,0.1,0.1,0.5,48,0.05,1,0.01\n"
    ));
    let error = run(&repo).await.unwrap_err();
    assert!(matches!(error, JobError::OnlineRefuses { .. }), "{error}");
    let error = error_chain(&error);
    assert!(
        error.contains("nothing was written") && error.contains("1 to 495 bytes"),
        "{error}"
    );
    assert_unchanged(&repo, &before, &error);
}

#[tokio::test]
async fn a_second_job_on_the_same_view_waits_its_turn() {
    let (repo, before) = ran_once().await;
    let lock = repo.path().join("data/.locks/energy_features.lock");
    let held = std::fs::File::open(&lock).unwrap();
    held.lock().unwrap();
    let error = run(&repo).await.unwrap_err();
    assert!(matches!(error, JobError::Busy { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("another `quiver run energy_features`"),
        "{error}"
    );
    assert_unchanged(&repo, &before, &error.to_string());
    drop(held);
    run(&repo).await.unwrap();
}

#[tokio::test]
async fn changing_a_views_columns_after_it_ran_is_named_not_half_applied() {
    let (repo, before) = ran_once().await;
    repo.edit_sql(|sql| {
        sql.replace(
            "    energy_min,",
            "    energy_min,\n    energy_min * 2 AS energy_min_doubled,",
        )
    });
    repo.edit_config(|toml| {
        toml.replace(
            "energy_min = \"float64\"\nenergy_sum_3months",
            "energy_min = \"float64\"\nenergy_min_doubled = \"float64\"\nenergy_sum_3months",
        )
    });
    let error = run(&repo).await.unwrap_err().to_string();
    assert!(error.contains("added: energy_min_doubled"), "{error}");
    assert!(error.contains("removed: none"), "{error}");
    assert_unchanged(&repo, &before, &error);
}

//! `quiver apply`'s checks: every definition error names the file, the view
//! and the column (or the TOML key) at fault.

use crate::support::apply;
use quiver_test::TestRepo;
use quiver_test::repo::ENERGY_HEADER;

fn repo() -> TestRepo {
    TestRepo::energy(&format!(
        "{ENERGY_HEADER}\nMAC000002,2012-01-01,0.1,0.1,0.5,48,0.05,1,0.01\n"
    ))
}

async fn apply_error(repo: &TestRepo) -> String {
    let error = apply(repo).await.expect_err("apply should fail");
    // Where (the file) and what (the TOML parser's report) are two levels.
    quiver_core::error_chain(&error)
}

#[tokio::test]
async fn the_template_applies() {
    let definitions = apply(&repo()).await.unwrap();
    let view = &definitions.feature_views["energy_features"];
    assert_eq!(view.features.len(), 22);
    assert_eq!(
        definitions.feature_services["energy_model_v1"]
            .features
            .len(),
        4
    );
}

#[tokio::test]
async fn an_unknown_column_in_the_sql_names_it_and_the_file() {
    let repo = repo();
    repo.edit_sql(|sql| sql.replace("    energy_min,", "    energy_minimum AS energy_min,"));
    let error = apply_error(&repo).await;
    assert!(error.contains("energy_minimum"), "{error}");
    assert!(error.contains("energy_features.sql"), "{error}");
    assert!(error.contains("feature view `energy_features`"), "{error}");
}

#[tokio::test]
async fn sql_that_does_not_parse_is_reported() {
    let repo = repo();
    repo.edit_sql(|sql| sql.replace("SELECT", "SELEKT"));
    let error = apply_error(&repo).await;
    assert!(error.contains("SQL error"), "{error}");
    assert!(error.contains("energy_features.sql"), "{error}");
}

#[tokio::test]
async fn a_type_mismatch_names_the_column_and_both_types() {
    let repo = repo();
    repo.edit_config(|toml| {
        toml.replace(
            "energy_count_1yr = \"int64\"",
            "energy_count_1yr = \"float64\"",
        )
    });
    let error = apply_error(&repo).await;
    assert!(error.contains("column `energy_count_1yr`"), "{error}");
    assert!(error.contains("declared `float64`"), "{error}");
    assert!(error.contains("Int64"), "{error}");
    assert!(error.contains("quiver.toml"), "{error}");
}

#[tokio::test]
async fn a_missing_entity_key_is_named() {
    let repo = repo();
    repo.edit_sql(|sql| sql.replace("household_id AS id,", "household_id AS household,"));
    let error = apply_error(&repo).await;
    assert!(error.contains("column `id`"), "{error}");
    assert!(error.contains("household"), "{error}");
}

#[tokio::test]
async fn an_undeclared_output_column_is_named() {
    let repo = repo();
    repo.edit_sql(|sql| {
        sql.replace(
            "    energy_min,",
            "    energy_min,\n    energy_min * 2 AS doubled,",
        )
    });
    let error = apply_error(&repo).await;
    assert!(error.contains("column `doubled`"), "{error}");
    assert!(error.contains("not declared"), "{error}");
}

#[tokio::test]
async fn a_declared_feature_the_sql_lacks_is_named() {
    let repo = repo();
    repo.edit_config(|toml| {
        toml.replace(
            "energy_min = \"float64\"\nenergy_sum_3months",
            "energy_min = \"float64\"\nenergy_peak = \"float64\"\nenergy_sum_3months",
        )
    });
    let error = apply_error(&repo).await;
    assert!(error.contains("column `energy_peak`"), "{error}");
    assert!(error.contains("does not output it"), "{error}");
}

#[tokio::test]
async fn a_name_used_twice_is_refused() {
    let repo = repo();
    repo.edit_config(|toml| toml.replace("[feature_views.energy_features.features]\nenergy_median = \"float64\"", "[feature_views.energy_features.features]\nenergy_median = \"float64\"\nenergy_median = \"int64\""));
    let error = apply_error(&repo).await;
    assert!(error.contains("quiver.toml"), "{error}");
    assert!(error.contains("duplicate key"), "{error}");
    assert!(error.contains("line"), "{error}");

    let repo = self::repo();
    repo.edit_config(|toml| {
        toml.replace("[sources.energy_daily]", "[sources.energy_features]")
            .replace(
                "[sources.energy_daily.schema]",
                "[sources.energy_features.schema]",
            )
            .replace("source = \"energy_daily\"", "source = \"energy_features\"")
    });
    let error = apply_error(&repo).await;
    assert!(error.contains("`energy_features` is used twice"), "{error}");
}

#[tokio::test]
async fn an_unknown_entity_lists_the_known_ones() {
    let repo = repo();
    repo.edit_config(|toml| toml.replace("entity = \"household\"", "entity = \"home\""));
    let error = apply_error(&repo).await;
    assert!(
        error.contains("feature_views.energy_features.entity"),
        "{error}"
    );
    assert!(error.contains("unknown entity `home`"), "{error}");
    assert!(error.contains("`household`"), "{error}");
}

#[tokio::test]
async fn unknown_keys_and_bad_durations_are_refused() {
    let repo = repo();
    repo.edit_config(|toml| {
        toml.replace(
            "event_time = \"day_date\"",
            "event_time = \"day_date\"\nttl = \"ten days\"",
        )
    });
    let error = apply_error(&repo).await;
    assert!(
        error.contains("feature_views.energy_features.ttl"),
        "{error}"
    );

    let repo = self::repo();
    repo.edit_config(|toml| {
        toml.replace(
            "event_time = \"day_date\"",
            "event_time = \"day_date\"\nttll = \"10d\"",
        )
    });
    let error = apply_error(&repo).await;
    assert!(error.contains("unknown field `ttll`"), "{error}");
}

#[tokio::test]
async fn a_feature_service_naming_an_unknown_feature_is_refused() {
    let repo = repo();
    repo.edit_config(|toml| {
        toml.replace(
            "\"energy_features:energy_max_1yr\"",
            "\"energy_features:energy_max_2yr\"",
        )
    });
    let error = apply_error(&repo).await;
    assert!(error.contains("energy_features:energy_max_2yr"), "{error}");
    assert!(
        error.contains("feature_services.energy_model_v1"),
        "{error}"
    );
}

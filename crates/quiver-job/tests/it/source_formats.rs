//! Parquet and Delta sources give the same features as the CSV they were
//! made from, and a declared schema that disagrees with the files is named.

use crate::end_to_end::dataset;
use crate::support::{apply, offline_rows, run};
use deltalake::datafusion::dataframe::DataFrameWriteOptions;
use quiver_test::TestRepo;

/// The source's rows as Arrow batches, read through the CSV declaration.
async fn source_batches(repo: &TestRepo) -> Vec<deltalake::arrow::record_batch::RecordBatch> {
    let definitions = apply(repo).await.unwrap();
    let source = &definitions.sources["energy_daily"];
    let ctx = quiver_job::session_with_source(&definitions, source)
        .await
        .unwrap();
    ctx.table("energy_daily")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
}

/// Writes `batches` as the single file `data/energy.parquet` of `repo`.
async fn write_parquet(repo: &TestRepo, batches: Vec<deltalake::arrow::record_batch::RecordBatch>) {
    deltalake::datafusion::prelude::SessionContext::new()
        .read_batches(batches)
        .unwrap()
        .write_parquet(
            repo.path().join("data/energy.parquet").to_str().unwrap(),
            DataFrameWriteOptions::new().with_single_file_output(true),
            None,
        )
        .await
        .unwrap();
}

fn switch_source(repo: &TestRepo, format: &str, location: &str) {
    repo.edit_config(|toml| {
        toml.replace("format = \"csv\"", &format!("format = \"{format}\""))
            .replace(
                "location = \"data/energy.csv\"",
                &format!("location = \"{location}\""),
            )
    });
}

#[tokio::test]
async fn parquet_and_delta_sources_match_the_csv() {
    let csv = dataset(3, (2013, 6, 30));
    let from_csv = TestRepo::energy(&csv);
    run(&from_csv).await.unwrap();
    let expected = offline_rows(&from_csv).await;
    let batches = source_batches(&from_csv).await;

    let parquet = TestRepo::energy(&csv);
    write_parquet(&parquet, batches.clone()).await;
    std::fs::remove_file(parquet.source_file()).unwrap();
    switch_source(&parquet, "parquet", "data/energy.parquet");
    run(&parquet).await.unwrap();
    assert_eq!(offline_rows(&parquet).await, expected, "parquet source");

    let delta = TestRepo::energy(&csv);
    let table_dir = delta.path().join("data/energy_delta");
    std::fs::create_dir_all(&table_dir).unwrap();
    let url = url::Url::from_directory_path(&table_dir).unwrap();
    deltalake::DeltaTable::try_from_url(url)
        .await
        .unwrap()
        .write(batches)
        .await
        .unwrap();
    std::fs::remove_file(delta.source_file()).unwrap();
    switch_source(&delta, "delta", "data/energy_delta");
    run(&delta).await.unwrap();
    assert_eq!(offline_rows(&delta).await, expected, "delta source");
}

#[tokio::test]
async fn a_declared_column_the_parquet_file_disagrees_with_is_named() {
    let csv = dataset(1, (2012, 3, 1));
    let repo = TestRepo::energy(&csv);
    let batches = source_batches(&repo).await;
    write_parquet(&repo, batches).await;
    switch_source(&repo, "parquet", "data/energy.parquet");
    repo.edit_config(|toml| {
        toml.replace(
            "energy_count = \"int64\"\nenergy_std",
            "energy_count = \"string\"\nenergy_std",
        )
    });
    let error = apply(&repo).await.unwrap_err().to_string();
    assert!(
        error.contains("sources.energy_daily.schema.energy_count"),
        "{error}"
    );
    assert!(error.contains("declared `string`"), "{error}");
}

//! Batch sources as DataFusion tables.

use crate::{JobError, arrow_type};
use deltalake::arrow::datatypes::{Field, Schema};
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::SessionStateBuilder;
use deltalake::datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use deltalake::datafusion::execution::object_store::ObjectStoreUrl;
use deltalake::datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use deltalake::datafusion::prelude::{
    CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext,
};
use object_store::ObjectStoreExt;
use quiver_core::{BatchSource, DefinitionError, FeatureRepo, SourceFormat, SourceLocation};
use std::path::Path;
use std::sync::Arc;

/// A DataFusion session with `source` registered as a table of its own name,
/// as a view's SQL expects to find it.
pub async fn session_with_source(
    repo: &FeatureRepo,
    source: &BatchSource,
) -> Result<SessionContext, JobError> {
    bounded_session_with_source(repo, source, None).await
}

/// [`session_with_source`] whose queries hold at most `memory_limit` bytes:
/// sorts and joins spill to disk beyond it (joins are sort-merge joins, which
/// can), so the job's memory does not grow with its data.
pub(crate) async fn bounded_session_with_source(
    repo: &FeatureRepo,
    source: &BatchSource,
    memory_limit: Option<usize>,
) -> Result<SessionContext, JobError> {
    let mut config = SessionConfig::new()
        // One reader per file keeps CSV line numbers in error messages true
        // (a split file would count lines from each split).
        .with_repartition_file_scans(source.format != SourceFormat::Csv)
        .with_information_schema(false);
    let runtime = match memory_limit {
        None => Arc::new(RuntimeEnv::default()),
        Some(limit) => {
            config = config
                .with_sort_spill_reservation_bytes(limit / 32)
                .set_bool("datafusion.optimizer.prefer_hash_join", false);
            RuntimeEnvBuilder::new()
                // Tracking names the largest consumers when the pool runs out.
                .with_memory_pool(Arc::new(TrackConsumersPool::new(
                    FairSpillPool::new(limit),
                    std::num::NonZeroUsize::new(5).expect("5 is not zero"),
                )))
                .build_arc()
                .map_err(|e| JobError::Source {
                    source_name: source.name.clone(),
                    location: source.location.to_string(),
                    source: quiver_core::Foreign::new(e),
                })?
        }
    };
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        // Runs last, once DataFusion has planned the windows' sorts and
        // partitioning: it changes how a window is computed, not the plan.
        .with_physical_optimizer_rule(Arc::new(crate::SlidingRowsWindows))
        .build();
    let ctx = SessionContext::new_with_state(state);
    let storage = quiver_offline::StorageOptions::new(repo.offline_store.storage_options.clone());
    let location = source.location.to_string();
    let compute_err = |e| JobError::Source {
        source_name: source.name.clone(),
        location: location.clone(),
        source: quiver_core::Foreign::new(e),
    };
    let missing = || JobError::SourceMissing {
        source_name: source.name.clone(),
        location: location.clone(),
    };
    // Where the data is: a local path, or an object-store URL whose store is
    // registered in the session.
    let (url, is_folder) = match &source.location {
        SourceLocation::Local(path) => {
            if !path.exists() {
                return Err(missing());
            }
            let url = if path.is_dir() {
                url::Url::from_directory_path(path)
            } else {
                url::Url::from_file_path(path)
            }
            .map_err(|()| missing())?;
            (url, path.is_dir())
        }
        SourceLocation::Uri(uri) => {
            let bad = |reason: String| DefinitionError::Invalid {
                file: repo.config_file(),
                key: format!("sources.{}.location", source.name),
                reason,
            };
            let url =
                url::Url::parse(uri).map_err(|e| bad(format!("`{uri}` is not a URL: {e}")))?;
            if !quiver_offline::SUPPORTED_SCHEMES.contains(&url.scheme()) {
                return Err(bad(format!(
                    "`{uri}`: `{}://` is not supported; use a local path or s3://bucket/key",
                    url.scheme()
                ))
                .into());
            }
            let (root, store) = storage
                .object_store(&url)
                .map_err(|e| compute_err(e.into()))?;
            ctx.register_object_store(&root, store);
            let is_folder = url.path().ends_with('/') || source.format == SourceFormat::Delta;
            (url, is_folder)
        }
    };
    let listed = match url.to_file_path() {
        Ok(path) if url.scheme() == "file" => path.to_string_lossy().to_string(),
        _ => url.to_string(),
    };
    let declared_schema = source.schema.as_ref().map(|columns| {
        Schema::new(
            columns
                .iter()
                .map(|(name, t)| Field::new(name, arrow_type(*t), true))
                .collect::<Vec<_>>(),
        )
    });
    match source.format {
        SourceFormat::Csv => {
            let schema = declared_schema.expect("CSV sources always declare a schema");
            let extension = extension_of(&url, is_folder, ".csv");
            // DataFusion reads every file of a folder with the one declared
            // schema, by position: each file's header must match it.
            let files = if is_folder {
                csv_files(&ctx, &url, &extension)
                    .await
                    .map_err(compute_err)?
            } else {
                vec![url.clone()]
            };
            for file in &files {
                let header = csv_header(&ctx, file).await.map_err(|e| match e {
                    HeaderError::Missing => missing(),
                    HeaderError::Io(e) => compute_err(e),
                })?;
                check_csv_header(repo, source, file, &header)?;
            }
            let options = CsvReadOptions::new()
                .has_header(true)
                .schema(&schema)
                .file_extension(&extension);
            ctx.register_csv(&source.name, &listed, options)
                .await
                .map_err(compute_err)?;
        }
        SourceFormat::Parquet => {
            let extension = extension_of(&url, is_folder, ".parquet");
            let options = ParquetReadOptions::default().file_extension(&extension);
            ctx.register_parquet(&source.name, &listed, options)
                .await
                .map_err(compute_err)?;
        }
        SourceFormat::Delta => {
            let mut url = url.clone();
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            let table = storage
                .table_builder(&url)
                .map_err(|e| compute_err(e.into()))?
                .load()
                .await
                .map_err(|e| compute_err(e.into()))?;
            table
                .update_datafusion_session(&ctx.state())
                .map_err(|e| compute_err(e.into()))?;
            let provider = table.table_provider().await.map_err(compute_err)?;
            ctx.register_table(source.name.as_str(), provider)
                .map_err(compute_err)?;
        }
    }
    if source.format != SourceFormat::Csv
        && let Some(declared) = &source.schema
    {
        check_declared_columns(repo, source, &ctx, declared).await?;
    }
    Ok(ctx)
}

/// Parquet and Delta files carry their own schema; a declared one must agree.
async fn check_declared_columns(
    repo: &FeatureRepo,
    source: &BatchSource,
    ctx: &SessionContext,
    declared: &indexmap::IndexMap<String, quiver_core::ValueType>,
) -> Result<(), JobError> {
    let provider = ctx
        .table_provider(source.name.as_str())
        .await
        .map_err(|e| JobError::Source {
            source_name: source.name.clone(),
            location: source.location.to_string(),
            source: quiver_core::Foreign::new(e),
        })?;
    let schema = provider.schema();
    for (column, value_type) in declared {
        let key = format!("sources.{}.schema.{column}", source.name);
        let reason = match schema.field_with_name(column) {
            Err(_) => format!(
                "the {} data at {} has no such column; it has: {}",
                source.format.name(),
                source.location,
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Ok(field) if !crate::arrow_types::accepts(*value_type, field.data_type()) => format!(
                "declared `{value_type}` but the {} data at {} holds {}",
                source.format.name(),
                source.location,
                field.data_type()
            ),
            Ok(_) => continue,
        };
        return Err(DefinitionError::Invalid {
            file: repo.config_file(),
            key,
            reason,
        }
        .into());
    }
    Ok(())
}

/// The extension DataFusion should list: the file's own for a single file
/// (so `energy.txt` reads as CSV too), the format's usual one for a folder.
fn extension_of(url: &url::Url, is_folder: bool, usual: &str) -> String {
    if is_folder {
        return usual.to_string();
    }
    Path::new(url.path())
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default()
}

enum HeaderError {
    Missing,
    Io(DataFusionError),
}

/// The column names in the header of the CSV file at `url` (from its first
/// 64 KiB), read through the session's object store: local files and S3
/// alike. Parsed as CSV, so a quoted name may hold a comma or a quote; an
/// empty file has none.
async fn csv_header(ctx: &SessionContext, url: &url::Url) -> Result<Vec<String>, HeaderError> {
    let io =
        |e: deltalake::ObjectStoreError| HeaderError::Io(DataFusionError::ObjectStore(Box::new(e)));
    let store_url =
        ObjectStoreUrl::parse(&url[..url::Position::BeforePath]).map_err(HeaderError::Io)?;
    let store = ctx
        .runtime_env()
        .object_store(&store_url)
        .map_err(HeaderError::Io)?;
    let path = deltalake::Path::from_url_path(url.path())
        .map_err(|e| HeaderError::Io(DataFusionError::External(Box::new(e))))?;
    let meta = match store.head(&path).await {
        Ok(meta) => meta,
        Err(deltalake::ObjectStoreError::NotFound { .. }) => return Err(HeaderError::Missing),
        Err(e) => return Err(io(e)),
    };
    let bytes = store
        .get_range(&path, 0..meta.size.min(64 * 1024))
        .await
        .map_err(io)?;
    Ok(parse_csv_header(&bytes))
}

/// The first record of `bytes`, each name trimmed; none when the first line
/// is blank (the csv crate would skip it and read the first row instead).
fn parse_csv_header(bytes: &[u8]) -> Vec<String> {
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    if first_line.iter().all(u8::is_ascii_whitespace) {
        return Vec::new();
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => record
            .iter()
            .map(|field| String::from_utf8_lossy(field).into_owned())
            .collect(),
        // Reading from a slice cannot fail, and the first line is not blank.
        Ok(false) | Err(_) => Vec::new(),
    }
}

/// The files of the folder at `url` that DataFusion reads as the source:
/// those ending in `extension`, in subfolders too, except hidden ones (a
/// name starting with `.` or `_`, which DataFusion skips as well).
async fn csv_files(
    ctx: &SessionContext,
    url: &url::Url,
    extension: &str,
) -> Result<Vec<url::Url>, DataFusionError> {
    let store_url = ObjectStoreUrl::parse(&url[..url::Position::BeforePath])?;
    let store = ctx.runtime_env().object_store(&store_url)?;
    let prefix = deltalake::Path::from_url_path(url.path())
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let prefix_parts = prefix.parts().count();
    let mut listed = store.list(Some(&prefix));
    let mut files = Vec::new();
    while let Some(meta) = futures::StreamExt::next(&mut listed).await {
        let meta = meta.map_err(|e| DataFusionError::ObjectStore(Box::new(e)))?;
        let hidden = meta
            .location
            .parts()
            .skip(prefix_parts)
            .any(|part| part.as_ref().starts_with(['.', '_']));
        if hidden || !meta.location.as_ref().ends_with(extension) {
            continue;
        }
        let mut file = url.clone();
        file.set_path(&format!("/{}", meta.location));
        files.push(file);
    }
    files.sort();
    Ok(files)
}

/// DataFusion matches a declared CSV schema to columns by position; a header
/// in another order would silently swap same-typed columns, so check it.
fn check_csv_header(
    repo: &FeatureRepo,
    source: &BatchSource,
    file: &url::Url,
    header: &[String],
) -> Result<(), JobError> {
    if header.is_empty() {
        return Ok(()); // an empty file is reported as an empty source
    }
    let found: Vec<&str> = header.iter().map(String::as_str).collect();
    let declared: Vec<&str> = source
        .schema
        .as_ref()
        .map(|s| s.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if found == declared {
        return Ok(());
    }
    let position = found
        .iter()
        .zip(&declared)
        .position(|(f, d)| f != d)
        .unwrap_or(found.len().min(declared.len()));
    Err(DefinitionError::Invalid {
        file: repo.config_file(),
        key: format!("sources.{}.schema", source.name),
        reason: format!(
            "the header of {} does not match the declared columns at column {}: the file has `{}`, the declaration `{}` (declare the columns in the file's order: {})",
            match file.to_file_path() {
                Ok(path) if file.scheme() == "file" => path.display().to_string(),
                _ => file.to_string(),
            },
            position + 1,
            found.get(position).unwrap_or(&"(nothing)"),
            declared.get(position).unwrap_or(&"(nothing)"),
            found.join(", ")
        ),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::parse_csv_header;

    #[test]
    fn the_header_is_read_as_csv() {
        assert_eq!(parse_csv_header(b"id, day ,x\n1,2,3\n"), ["id", "day", "x"]);
        assert_eq!(
            parse_csv_header(b"\"id\",\"a,b\",\"say \"\"hi\"\"\"\r\n1,2,3\n"),
            ["id", "a,b", "say \"hi\""]
        );
        assert!(parse_csv_header(b"").is_empty());
        assert!(
            parse_csv_header(b"  \n1,2\n").is_empty(),
            "a blank first line"
        );
    }
}

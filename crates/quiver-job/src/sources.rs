//! Batch sources as DataFusion tables.

use crate::{JobError, arrow_type};
use deltalake::arrow::datatypes::{Field, Schema};
use deltalake::datafusion::prelude::{
    CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext,
};
use quiver_core::{BatchSource, DefinitionError, FeatureRepo, SourceFormat, SourceLocation};
use std::path::Path;

/// A DataFusion session with `source` registered as a table of its own name,
/// as a view's SQL expects to find it.
pub async fn session_with_source(
    repo: &FeatureRepo,
    source: &BatchSource,
) -> Result<SessionContext, JobError> {
    let config = SessionConfig::new()
        // One reader per file keeps CSV line numbers in error messages true
        // (a split file would count lines from each split).
        .with_repartition_file_scans(source.format != SourceFormat::Csv)
        .with_information_schema(false);
    let ctx = SessionContext::new_with_config(config);
    let path = match &source.location {
        SourceLocation::Local(path) => path.clone(),
        SourceLocation::Uri(uri) => {
            return Err(DefinitionError::Invalid {
                file: repo.config_file(),
                key: format!("sources.{}.location", source.name),
                reason: format!("`{uri}`: only local files are supported for now"),
            }
            .into());
        }
    };
    if !path.exists() {
        return Err(JobError::SourceMissing {
            source_name: source.name.clone(),
            location: path.display().to_string(),
        });
    }
    let location = path.to_string_lossy().to_string();
    let compute_err = |e| JobError::Source {
        source_name: source.name.clone(),
        location: location.clone(),
        source: Box::new(e),
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
            check_csv_header(repo, source, &path)?;
            let extension = extension_of(&path, ".csv");
            let options = CsvReadOptions::new()
                .has_header(true)
                .schema(&schema)
                .file_extension(&extension);
            ctx.register_csv(&source.name, &location, options)
                .await
                .map_err(compute_err)?;
        }
        SourceFormat::Parquet => {
            let extension = extension_of(&path, ".parquet");
            let options = ParquetReadOptions::default().file_extension(&extension);
            ctx.register_parquet(&source.name, &location, options)
                .await
                .map_err(compute_err)?;
        }
        SourceFormat::Delta => {
            let url =
                url::Url::from_directory_path(&path).map_err(|()| JobError::SourceMissing {
                    source_name: source.name.clone(),
                    location: location.clone(),
                })?;
            let table = deltalake::open_table(url)
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
            source: Box::new(e),
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
fn extension_of(path: &Path, usual: &str) -> String {
    if path.is_file() {
        path.extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default()
    } else {
        usual.to_string()
    }
}

/// DataFusion matches a declared CSV schema to columns by position; a header
/// in another order would silently swap same-typed columns, so check it.
fn check_csv_header(repo: &FeatureRepo, source: &BatchSource, path: &Path) -> Result<(), JobError> {
    use std::io::BufRead;
    if !path.is_file() {
        return Ok(());
    }
    let file = std::fs::File::open(path).map_err(|e| JobError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut header = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut header)
        .map_err(|e| JobError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
    if header.trim().is_empty() {
        return Ok(()); // an empty file is reported as an empty source
    }
    let found: Vec<&str> = header
        .trim_end()
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
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
            path.display(),
            position + 1,
            found.get(position).unwrap_or(&"(nothing)"),
            declared.get(position).unwrap_or(&"(nothing)"),
            found.join(", ")
        ),
    }
    .into())
}

//! The SQL half of `quiver apply`: plan each view's query and check its output
//! against the declaration, reading no data.

use crate::arrow_types::{accepts, closest};
use crate::{JobError, arrow_type};
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::Column;
use deltalake::datafusion::logical_expr::{Expr, cast};
use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use quiver_core::{DefinitionError, FeatureRepo, FeatureView, ValueType};
use std::path::PathBuf;

/// A view whose SQL plans and whose output matches its declaration.
#[derive(Debug, Clone)]
pub struct ValidatedView {
    /// The view.
    pub view: String,
    /// The source it reads.
    pub source: String,
    /// Number of features.
    pub features: usize,
    /// The event-time column's type.
    pub event_time_type: ValueType,
}

/// Validates every feature view of `repo`.
pub async fn validate_repo(repo: &FeatureRepo) -> Result<Vec<ValidatedView>, JobError> {
    let mut out = Vec::new();
    for view in repo.feature_views.values() {
        out.push(validate_view(repo, view).await?);
    }
    Ok(out)
}

/// Validates one view: its source is readable, its SQL plans, and its output
/// has exactly the entity key, the event time and the declared features.
pub async fn validate_view(
    repo: &FeatureRepo,
    view: &FeatureView,
) -> Result<ValidatedView, JobError> {
    let planned = plan_view(repo, view, None).await?;
    Ok(ValidatedView {
        view: view.name.clone(),
        source: view.source.clone(),
        features: view.features.len(),
        event_time_type: planned.event_time_type,
    })
}

/// A view's query, planned and normalised to Quiver's column order and types.
pub(crate) struct PlannedView {
    pub ctx: SessionContext,
    /// `key, event_time, features…`, cast to the declared types.
    pub frame: DataFrame,
    pub event_time_type: ValueType,
}

fn sql_file(repo: &FeatureRepo, view: &FeatureView) -> PathBuf {
    view.sql_file.clone().unwrap_or_else(|| repo.config_file())
}

pub(crate) async fn plan_view(
    repo: &FeatureRepo,
    view: &FeatureView,
    memory_limit: Option<usize>,
) -> Result<PlannedView, JobError> {
    let source = repo.source_of(view);
    let entity = repo.entity_of(view);
    let ctx = crate::sources::bounded_session_with_source(repo, source, memory_limit).await?;
    let file = sql_file(repo, view);
    let frame = ctx.sql(&view.sql).await.map_err(|e| DefinitionError::Sql {
        file: file.clone(),
        view: view.name.clone(),
        reason: e.to_string(),
    })?;
    // Column errors are about the declaration, which lives in quiver.toml.
    let column_err = |column: &str, reason: String| DefinitionError::Column {
        file: repo.config_file(),
        view: view.name.clone(),
        column: column.to_string(),
        reason,
    };
    let output: Vec<(String, DataType)> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let type_of = |name: &str| output.iter().find(|(n, _)| n == name).map(|(_, t)| t);

    let key_type = type_of(&entity.join_key).ok_or_else(|| {
        column_err(
            &entity.join_key,
            format!(
                "the SQL must output the key of entity `{}` as a column named `{}` (for example `SELECT household_id AS {} …`)",
                entity.name, entity.join_key, entity.join_key
            ),
        )
    })?;
    if !accepts(entity.value_type, key_type) {
        return Err(column_err(
            &entity.join_key,
            mismatch("entity key", entity.value_type, key_type, &file),
        )
        .into());
    }
    let time_type = type_of(&view.event_time).ok_or_else(|| {
        column_err(
            &view.event_time,
            "the SQL must output the view's event time under this name".to_string(),
        )
    })?;
    let event_time_type = match closest(time_type) {
        Some(t @ (ValueType::Date | ValueType::Timestamp)) => t,
        _ => {
            return Err(column_err(
                &view.event_time,
                format!(
                    "an event time must be a date or a timestamp, but the SQL yields {time_type}"
                ),
            )
            .into());
        }
    };
    for feature in &view.features {
        let actual = type_of(&feature.name).ok_or_else(|| {
            column_err(
                &feature.name,
                format!(
                    "declared as a {} feature, but the SQL does not output it; the SQL outputs: {}",
                    feature.value_type,
                    output
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        if !accepts(feature.value_type, actual) {
            return Err(column_err(
                &feature.name,
                mismatch("feature", feature.value_type, actual, &file),
            )
            .into());
        }
    }
    for (name, _) in &output {
        let known =
            *name == entity.join_key || *name == view.event_time || view.feature(name).is_some();
        if !known {
            return Err(column_err(
                name,
                format!(
                    "the SQL outputs this column but it is not declared; add it under [feature_views.{}.features] or drop it from the SELECT",
                    view.name
                ),
            )
            .into());
        }
    }

    let as_declared = |name: &str, value_type: ValueType| {
        cast(
            Expr::Column(Column::new_unqualified(name)),
            arrow_type(value_type),
        )
        .alias(name)
    };
    let mut columns = vec![
        as_declared(&entity.join_key, entity.value_type),
        as_declared(&view.event_time, event_time_type),
    ];
    columns.extend(
        view.features
            .iter()
            .map(|f| as_declared(&f.name, f.value_type)),
    );
    let frame = frame.select(columns).map_err(|e| DefinitionError::Sql {
        file,
        view: view.name.clone(),
        reason: e.to_string(),
    })?;
    Ok(PlannedView {
        ctx,
        frame,
        event_time_type,
    })
}

fn mismatch(what: &str, declared: ValueType, actual: &DataType, sql: &std::path::Path) -> String {
    let hint = match closest(actual) {
        Some(t) => format!("declare it as `{t}`, or CAST it in the SQL"),
        None => "CAST it in the SQL".to_string(),
    };
    format!(
        "the {what} is declared `{declared}` but the SQL ({}) yields {actual}; {hint}",
        sql.display()
    )
}

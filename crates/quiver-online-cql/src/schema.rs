//! The store's tables and statements, as CQL text made from a [`ViewLayout`].
//!
//! One table per view, named after it, and one metadata table:
//!
//! ```text
//! CREATE TABLE ks."<view>" (
//!     entity_key text, layout_generation int, event_time_micros bigint,
//!     "<feature>" <type>, ...,
//!     PRIMARY KEY ((entity_key), layout_generation, event_time_micros)
//! ) WITH CLUSTERING ORDER BY (layout_generation DESC, event_time_micros DESC)
//!
//! CREATE TABLE ks.quiver_views (view_name text PRIMARY KEY, layout text,
//!     layout_generation int, pending_generation int, offline_version bigint)
//! ```
//!
//! Times are `bigint` microseconds since the epoch, not CQL `timestamp`:
//! that type holds milliseconds, and Quiver's event times and timestamp
//! features are microseconds, which must come back exactly as written.
//! Feature names are quoted, so they keep their case and may be CQL keywords.

use crate::error::CqlError;
use quiver_core::ValueType;
use quiver_online::ViewLayout;
use std::collections::HashMap;

/// The metadata table: per view, its layout (JSON), the generation its rows
/// are written under, the last generation handed out, and the offline version.
pub(crate) const META_TABLE: &str = "quiver_views";
/// Partition key: the entity key as text.
pub(crate) const KEY: &str = "entity_key";
/// First clustering column: which layout of the view the row was written with.
pub(crate) const GENERATION: &str = "layout_generation";
/// Second clustering column: the row's event time, microseconds since the epoch.
pub(crate) const EVENT_TIME: &str = "event_time_micros";

/// The columns Quiver keeps for itself, with their CQL type and kind.
const RESERVED: [(&str, &str, &str); 3] = [
    (KEY, "text", "partition_key"),
    (GENERATION, "int", "clustering"),
    (EVENT_TIME, "bigint", "clustering"),
];

/// The CQL type of a column holding values of `value_type`.
pub fn cql_type(value_type: ValueType) -> &'static str {
    match value_type {
        ValueType::String => "text",
        ValueType::Int64 => "bigint",
        ValueType::Float64 => "double",
        ValueType::Bool => "boolean",
        ValueType::Date => "date",
        // Microseconds; CQL `timestamp` would drop the last three digits.
        ValueType::Timestamp => "bigint",
    }
}

/// `name` as a quoted CQL identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `ks."view"`.
pub(crate) fn table(keyspace: &str, view: &str) -> String {
    format!("{}.{}", quote(keyspace), quote(view))
}

pub(crate) fn create_keyspace(keyspace: &str, replication_cql: &str) -> String {
    format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {replication_cql}",
        quote(keyspace)
    )
}

pub(crate) fn create_meta_table(keyspace: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (view_name text PRIMARY KEY, layout text, \
         {GENERATION} int, pending_generation int, offline_version bigint)",
        table(keyspace, META_TABLE)
    )
}

pub(crate) fn create_view_table(keyspace: &str, layout: &ViewLayout) -> String {
    let features: String = layout
        .features
        .iter()
        .map(|(name, value_type)| format!("{} {}, ", quote(name), cql_type(*value_type)))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {} ({KEY} text, {GENERATION} int, {EVENT_TIME} bigint, \
         {features}PRIMARY KEY (({KEY}), {GENERATION}, {EVENT_TIME})) \
         WITH CLUSTERING ORDER BY ({GENERATION} DESC, {EVENT_TIME} DESC)",
        table(keyspace, &layout.view)
    )
}

/// A column of an existing table, as `system_schema.columns` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExistingColumn {
    /// `text`, `bigint`, …
    pub(crate) cql_type: String,
    /// `partition_key`, `clustering` or `regular`.
    pub(crate) kind: String,
}

/// The DDL that makes the view's table fit `layout`, given the table's
/// columns (`None` if there is no table): create it, add the missing
/// feature columns, or nothing. Refuses, naming the column, a change
/// Cassandra cannot make, before any DDL runs.
pub(crate) fn plan_table(
    keyspace: &str,
    layout: &ViewLayout,
    existing: Option<&HashMap<String, ExistingColumn>>,
) -> Result<Vec<String>, CqlError> {
    let refuse = |column: &str, problem: String| CqlError::IncompatibleSchema {
        view: layout.view.clone(),
        column: column.to_string(),
        problem,
    };
    let name = table(keyspace, &layout.view);
    for (feature, _) in &layout.features {
        if RESERVED.iter().any(|(reserved, _, _)| reserved == feature) {
            return Err(refuse(
                feature,
                format!(
                    "`{feature}` is a column Quiver keeps for itself in Cassandra; rename the feature"
                ),
            ));
        }
    }
    let Some(existing) = existing else {
        return Ok(vec![create_view_table(keyspace, layout)]);
    };
    for (column, cql_type, kind) in RESERVED {
        match existing.get(column) {
            Some(found) if found.cql_type == cql_type && found.kind == kind => {}
            found => {
                return Err(refuse(
                    column,
                    format!(
                        "table {name} was not made by Quiver: expected a {kind} column `{column}` \
                         of type {cql_type}, found {}; drop the table or use another keyspace",
                        found.map_or("none".to_string(), |f| format!("{} {}", f.kind, f.cql_type))
                    ),
                ));
            }
        }
    }
    let mut ddl = Vec::new();
    for (feature, value_type) in &layout.features {
        let wanted = cql_type(*value_type);
        match existing.get(feature) {
            None => ddl.push(format!(
                "ALTER TABLE {name} ADD {} {wanted}",
                quote(feature)
            )),
            Some(found) if found.cql_type == wanted => {}
            Some(found) => {
                return Err(refuse(
                    feature,
                    format!(
                        "the feature is now {value_type} (CQL {wanted}) but column `{feature}` of \
                         {name} is {}, and Cassandra cannot change a column's type; rename the \
                         feature, or drop the column (`ALTER TABLE {name} DROP {}`) and run again",
                        found.cql_type,
                        quote(feature)
                    ),
                ));
            }
        }
    }
    Ok(ddl)
}

/// `SELECT event_time_micros, "f1", ... FROM t WHERE entity_key = ? AND
/// layout_generation = ? LIMIT 1`: the latest row of one entity in one
/// generation, a single-partition read.
pub(crate) fn select_latest(keyspace: &str, layout: &ViewLayout) -> String {
    let features: String = layout
        .features
        .iter()
        .map(|(name, _)| format!(", {}", quote(name)))
        .collect();
    format!(
        "SELECT {EVENT_TIME}{features} FROM {} WHERE {KEY} = ? AND {GENERATION} = ? LIMIT 1",
        table(keyspace, &layout.view)
    )
}

/// Every (generation, event time) of one entity: what a write looks at
/// to count skipped rows and to delete only what exists.
pub(crate) fn select_versions(keyspace: &str, view: &str) -> String {
    format!(
        "SELECT {GENERATION}, {EVENT_TIME} FROM {} WHERE {KEY} = ?",
        table(keyspace, view)
    )
}

/// Inserts one row, its TTL bound last (0 for none).
pub(crate) fn insert_row(keyspace: &str, layout: &ViewLayout) -> String {
    let names: String = layout
        .features
        .iter()
        .map(|(name, _)| format!(", {}", quote(name)))
        .collect();
    let markers = ", ?".repeat(layout.features.len());
    format!(
        "INSERT INTO {} ({KEY}, {GENERATION}, {EVENT_TIME}{names}) VALUES (?, ?, ?{markers}) \
         USING TTL ?",
        table(keyspace, &layout.view)
    )
}

/// Deletes the entity's rows of one generation older than an event time.
pub(crate) fn delete_older_times(keyspace: &str, view: &str) -> String {
    format!(
        "DELETE FROM {} WHERE {KEY} = ? AND {GENERATION} = ? AND {EVENT_TIME} < ?",
        table(keyspace, view)
    )
}

/// Deletes the entity's rows of generations older than one.
pub(crate) fn delete_key(keyspace: &str, view: &str) -> String {
    format!("DELETE FROM {} WHERE {KEY} = ?", table(keyspace, view))
}

pub(crate) fn delete_older_generations(keyspace: &str, view: &str) -> String {
    format!(
        "DELETE FROM {} WHERE {KEY} = ? AND {GENERATION} < ?",
        table(keyspace, view)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> ViewLayout {
        quiver_test::online_conformance::layout("energy")
    }

    fn columns_of(layout: &ViewLayout) -> HashMap<String, ExistingColumn> {
        let mut columns: HashMap<_, _> = RESERVED
            .iter()
            .map(|(name, cql_type, kind)| {
                let column = ExistingColumn {
                    cql_type: cql_type.to_string(),
                    kind: kind.to_string(),
                };
                (name.to_string(), column)
            })
            .collect();
        for (name, value_type) in &layout.features {
            let column = ExistingColumn {
                cql_type: cql_type(*value_type).to_string(),
                kind: "regular".to_string(),
            };
            columns.insert(name.clone(), column);
        }
        columns
    }

    #[test]
    fn a_new_view_gets_a_typed_table_clustered_newest_first() {
        assert_eq!(
            plan_table("ks", &layout(), None).unwrap(),
            vec![
                "CREATE TABLE IF NOT EXISTS \"ks\".\"energy\" (entity_key text, layout_generation int, \
                 event_time_micros bigint, \"total\" double, \"count\" bigint, \
                 PRIMARY KEY ((entity_key), layout_generation, event_time_micros)) \
                 WITH CLUSTERING ORDER BY (layout_generation DESC, event_time_micros DESC)"
                    .to_string()
            ]
        );
    }

    #[test]
    fn every_value_type_has_a_lossless_column_type() {
        let types: Vec<&str> = ValueType::ALL.iter().map(|t| cql_type(*t)).collect();
        assert_eq!(
            types,
            ["text", "bigint", "double", "boolean", "date", "bigint"]
        );
    }

    #[test]
    fn an_unchanged_view_needs_nothing_and_a_new_feature_is_added() {
        let old = layout();
        assert!(
            plan_table("ks", &old, Some(&columns_of(&old)))
                .unwrap()
                .is_empty()
        );
        let mut wider = old.clone();
        wider.features.push(("flag".into(), ValueType::Bool));
        assert_eq!(
            plan_table("ks", &wider, Some(&columns_of(&old))).unwrap(),
            vec!["ALTER TABLE \"ks\".\"energy\" ADD \"flag\" boolean".to_string()]
        );
    }

    #[test]
    fn a_changed_type_is_refused_naming_view_and_column() {
        let old = layout();
        let mut changed = old.clone();
        changed.features[0].1 = ValueType::String;
        match plan_table("ks", &changed, Some(&columns_of(&old))) {
            Err(CqlError::IncompatibleSchema {
                view,
                column,
                problem,
            }) => {
                assert_eq!((view.as_str(), column.as_str()), ("energy", "total"));
                assert!(problem.contains("is double"), "{problem}");
            }
            other => panic!("expected IncompatibleSchema, got {other:?}"),
        }
    }

    #[test]
    fn a_foreign_table_or_a_reserved_feature_name_is_refused() {
        let old = layout();
        let mut foreign = columns_of(&old);
        foreign.remove(GENERATION);
        assert!(matches!(
            plan_table("ks", &old, Some(&foreign)),
            Err(CqlError::IncompatibleSchema { column, .. }) if column == GENERATION
        ));
        let mut reserved = old.clone();
        reserved.features.push((KEY.to_string(), ValueType::String));
        assert!(matches!(
            plan_table("ks", &reserved, None),
            Err(CqlError::IncompatibleSchema { column, .. }) if column == KEY
        ));
    }

    #[test]
    fn statements_name_every_feature_in_layout_order() {
        let l = layout();
        assert_eq!(
            select_latest("ks", &l),
            "SELECT event_time_micros, \"total\", \"count\" FROM \"ks\".\"energy\" \
             WHERE entity_key = ? AND layout_generation = ? LIMIT 1"
        );
        assert_eq!(
            insert_row("ks", &l),
            "INSERT INTO \"ks\".\"energy\" (entity_key, layout_generation, event_time_micros, \
             \"total\", \"count\") VALUES (?, ?, ?, ?, ?) USING TTL ?"
        );
    }
}

//! Point-in-time-correct training sets: Feast's `get_historical_features`.
//!
//! Every row of the entity file (keys, a timestamp, labels) comes back, in
//! its order, with the features of each view's latest row at or before the
//! row's timestamp and within the view's TTL, or nulls; never a value from
//! the future, never a dropped row.
//!
//! How, for one view (several views chain, each adding its columns):
//! 1. The entity file is read once into a numbered, typed copy (spill
//!    folder), checking the key and timestamp columns on the way.
//! 2. Entity rows and the view's feature rows (pruned to the event-time
//!    partitions the entity timestamps can reach) are unioned and sorted by
//!    key, time, feature-before-entity, in parallel hash partitions by key:
//!    DataFusion's sort, which spills to disk beyond the memory limit.
//! 3. One pass over each sorted partition carries the latest feature row
//!    forward to the entity rows after it (`fill_forward`), in Arrow kernels.
//! 4. A final sort on the row number restores the file's order and the
//!    rows stream to the output file.
//!
//! Memory is bounded by [`TrainingSet::memory_limit`], not by the input size.

use crate::{AsOf, OfflineError, OfflineStore};
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Int8Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    UInt32Array, UInt64Array,
};
use deltalake::arrow::compute::{cast, concat, take};
use deltalake::arrow::datatypes::{
    DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use deltalake::arrow::row::{OwnedRow, RowConverter, SortField};
use deltalake::datafusion::catalog::streaming::StreamingTable;
use deltalake::datafusion::common::ScalarValue;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::TaskContext;
use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::functions_window::expr_fn::row_number;
use deltalake::datafusion::logical_expr::{ExprFunctionExt, cast as cast_expr};
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::streaming::PartitionStream;
use deltalake::datafusion::physical_plan::{
    SendableRecordBatchStream, execute_stream, execute_stream_partitioned,
};
use deltalake::datafusion::prelude::{
    CsvReadOptions, DataFrame, Expr, ParquetReadOptions, SessionConfig, SessionContext, col, lit,
};
use deltalake::parquet::arrow::ArrowWriter;
use futures::{StreamExt, TryStreamExt};
use quiver_core::{Entity, FeatureView, ValueType};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The row number each entity row gets, to restore the file's order.
const ROW: &str = "__quiver_row";
/// The entity row's timestamp, parsed.
const TS: &str = "__quiver_ts";
const KEY: &str = "__quiver_key";
const TIME: &str = "__quiver_time";
const SIDE: &str = "__quiver_side";
const FEATURE_TIME: &str = "__quiver_feature_time";
const SEQ: &str = "__quiver_seq";
/// Feature rows sort before entity rows of the same key and time, so a
/// feature stamped exactly at an entity row's timestamp is visible to it.
const FEATURE_SIDE: i8 = 0;
const ENTITY_SIDE: i8 = 1;

/// A file format for entity files and training sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl TableFormat {
    /// The format a file name's extension says, if any.
    pub fn of_path(path: &Path) -> Option<TableFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(TableFormat::Csv),
            "parquet" | "pq" => Some(TableFormat::Parquet),
            _ => None,
        }
    }
}

/// The features one view contributes.
#[derive(Debug, Clone)]
pub struct ViewFeatures {
    /// The view.
    pub view: FeatureView,
    /// Its entity (the entity file must have its join key as a column).
    pub entity: Entity,
    /// The features asked for, in order.
    pub features: Vec<String>,
}

/// A training-set request.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    /// The entity file: keys, a timestamp per row, any other columns.
    pub entities: PathBuf,
    /// Its format.
    pub entities_format: TableFormat,
    /// The entity file's timestamp column (Feast: `event_timestamp`).
    pub timestamp_column: String,
    /// The views and features, in output order.
    pub views: Vec<ViewFeatures>,
    /// Which version of the offline tables to read.
    pub at: AsOf,
    /// Name features `view__feature` (Feast's `full_feature_names`).
    pub full_feature_names: bool,
    /// Memory the joins may hold before spilling to disk, in bytes.
    pub memory_limit: usize,
    /// Where spill files go (default: the system's temporary folder).
    pub spill_dir: Option<PathBuf>,
}

/// What a training set held.
#[derive(Debug, Clone)]
pub struct TrainingSetSummary {
    /// Rows written (the entity file's rows).
    pub rows: u64,
    /// Per view: rows that found a feature row, and the table version read.
    pub views: Vec<ViewMatch>,
    /// The output's column names.
    pub columns: Vec<String>,
}

/// How one view's features matched.
#[derive(Debug, Clone)]
pub struct ViewMatch {
    /// The view.
    pub view: String,
    /// The offline table version read.
    pub version: u64,
    /// Entity rows that got this view's features (the rest got nulls).
    pub rows_matched: u64,
}

/// Entity-file problems, each named with the file.
fn entity_err(path: &Path, problem: impl Into<String>) -> OfflineError {
    OfflineError::EntityFile {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

impl TrainingSet {
    /// Computes the training set and writes it to `out` as `format`,
    /// calling `progress` with the rows written so far. Nothing is written
    /// to `out` unless every input checked out: the rows go to a temporary
    /// file beside it that is renamed at the end.
    pub async fn write(
        &self,
        store: &OfflineStore,
        out: &Path,
        format: TableFormat,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<TrainingSetSummary, OfflineError> {
        let query_err = |source| OfflineError::Query {
            table: "training set".to_string(),
            source: quiver_core::Foreign::new(source),
        };
        let ctx = self.session().map_err(query_err)?;
        let spill = tempfile::Builder::new()
            .prefix("quiver-training-set-")
            .tempdir_in(self.spill_dir.clone().unwrap_or_else(std::env::temp_dir))
            .map_err(|e| OfflineError::Location {
                location: "spill folder".to_string(),
                reason: e.to_string(),
            })?;

        let output_names = self.output_names()?;
        let numbered = spill.path().join("entities.parquet");
        let scan = self.number_entities(&ctx, &numbered).await?;
        let mut current = ctx
            .read_parquet(
                numbered.to_string_lossy().as_ref(),
                ParquetReadOptions::default(),
            )
            .await
            .map_err(query_err)?;
        let entity_columns: Vec<String> = scan.columns.clone();

        let mut matches = Vec::new();
        for (index, request) in self.views.iter().enumerate() {
            let table_name = format!("__quiver_view_{index}");
            let version = store
                .register(&ctx, &request.view.name, &table_name, self.at)
                .await?
                .ok_or_else(|| OfflineError::NoTable {
                    view: request.view.name.clone(),
                    table: store.table_url(&request.view.name).to_string(),
                })?;
            let names = &output_names[index];
            let counter = Arc::new(AtomicU64::new(0));
            current = self
                .join_view(&ctx, current, &table_name, request, names, &scan, &counter)
                .await
                .map_err(|e| OfflineError::Query {
                    table: store.table_url(&request.view.name).to_string(),
                    source: quiver_core::Foreign::new(e),
                })?;
            matches.push((request.view.name.clone(), version, counter));
        }

        let mut columns: Vec<Expr> = entity_columns.iter().map(|c| col(quoted(c))).collect();
        columns.extend(output_names.iter().flatten().map(|c| col(quoted(c))));
        let result = current
            .sort(vec![col(ROW).sort(true, false)])
            .and_then(|frame| frame.select(columns))
            .map_err(query_err)?;
        let plan = result.create_physical_plan().await.map_err(query_err)?;
        let stream = execute_stream(plan, ctx.task_ctx()).map_err(query_err)?;
        let rows = write_stream(stream, out, format, scan.rows, progress).await?;

        let mut column_names = entity_columns;
        column_names.extend(output_names.into_iter().flatten());
        Ok(TrainingSetSummary {
            rows,
            views: matches
                .into_iter()
                .map(|(view, version, counter)| ViewMatch {
                    view,
                    version,
                    rows_matched: counter.load(Ordering::Relaxed),
                })
                .collect(),
            columns: column_names,
        })
    }

    /// A session whose sorts spill beyond the memory limit.
    fn session(&self) -> Result<SessionContext, DataFusionError> {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(self.memory_limit)))
            .build_arc()?;
        // Each sort sets aside room to merge its spill files; with one sort
        // per partition and view, the default 10 MiB each would not fit a
        // small limit.
        let config = SessionConfig::new()
            .with_information_schema(false)
            .with_repartition_file_scans(false)
            .with_sort_spill_reservation_bytes(self.memory_limit / 32);
        Ok(SessionContext::new_with_config_rt(config, runtime))
    }

    /// The output name of every requested feature, per view; refuses two
    /// features with one name (use full names) and unknown features.
    fn output_names(&self) -> Result<Vec<Vec<String>>, OfflineError> {
        let mut seen = std::collections::HashMap::new();
        let mut all = Vec::new();
        for request in &self.views {
            let mut names = Vec::new();
            for feature in &request.features {
                request.view.resolve_feature(feature)?;
                let name = if self.full_feature_names {
                    format!("{}__{feature}", request.view.name)
                } else {
                    feature.clone()
                };
                if let Some(first) = seen.insert(name.clone(), request.view.name.clone()) {
                    return Err(OfflineError::FeatureNameClash {
                        name,
                        first,
                        second: request.view.name.clone(),
                    });
                }
                names.push(name);
            }
            all.push(names);
        }
        Ok(all)
    }

    /// Reads the entity file once: checks its key and timestamp columns,
    /// parses the timestamps, numbers the rows and writes the typed copy
    /// the joins read.
    async fn number_entities(
        &self,
        ctx: &SessionContext,
        numbered: &Path,
    ) -> Result<EntityScan, OfflineError> {
        let path = &self.entities;
        if !path.is_file() {
            return Err(entity_err(path, "no such file"));
        }
        let location = path.to_string_lossy().to_string();
        let read_err = |e: DataFusionError| entity_err(path, format!("cannot be read: {e}"));
        let keys: Vec<(&str, ValueType)> = {
            let mut keys: Vec<(&str, ValueType)> = Vec::new();
            for request in &self.views {
                let key = request.entity.join_key.as_str();
                if !keys.iter().any(|(k, _)| *k == key) {
                    keys.push((key, request.entity.value_type));
                }
            }
            keys
        };
        let frame = match self.entities_format {
            TableFormat::Parquet => {
                ctx.read_parquet(
                    location.as_str(),
                    ParquetReadOptions::default().file_extension(""),
                )
                .await
            }
            TableFormat::Csv => {
                // Infer the labels' types, but read keys and timestamps as
                // text: they are parsed and checked here, with errors that
                // name the value.
                let inferred = ctx
                    .read_csv(location.as_str(), CsvReadOptions::new().file_extension(""))
                    .await
                    .map_err(read_err)?;
                let fields: Vec<Field> = inferred
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| {
                        let textual = f.name() == &self.timestamp_column
                            || keys.iter().any(|(k, _)| *k == f.name());
                        if textual {
                            Field::new(f.name(), DataType::Utf8, true)
                        } else {
                            f.as_ref().clone().with_nullable(true)
                        }
                    })
                    .collect();
                let schema = Schema::new(fields);
                ctx.read_csv(
                    location.as_str(),
                    CsvReadOptions::new().file_extension("").schema(&schema),
                )
                .await
            }
        }
        .map_err(read_err)?;
        let schema = frame.schema().as_arrow().clone();
        let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let has = |name: &str| columns.iter().any(|c| c == name);
        let listing = || columns.join(", ");
        if !has(&self.timestamp_column) {
            return Err(entity_err(
                path,
                format!(
                    "has no timestamp column `{}` (its columns: {}); name it with --timestamp-column",
                    self.timestamp_column,
                    listing()
                ),
            ));
        }
        for request in &self.views {
            if !has(&request.entity.join_key) {
                return Err(entity_err(
                    path,
                    format!(
                        "has no column `{}`, the join key of entity `{}` that view `{}` needs (its columns: {})",
                        request.entity.join_key,
                        request.entity.name,
                        request.view.name,
                        listing()
                    ),
                ));
            }
        }
        for reserved in [ROW, TS] {
            if has(reserved) {
                return Err(entity_err(
                    path,
                    format!("has a column named `{reserved}`, a name Quiver reserves"),
                ));
            }
        }

        let plan = frame.create_physical_plan().await.map_err(read_err)?;
        let mut stream = execute_stream(plan, ctx.task_ctx()).map_err(read_err)?;
        let mut out_fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| {
                match keys.iter().find(|(k, _)| *k == f.name()) {
                    Some((_, t)) => Field::new(f.name(), key_type(*t), true),
                    None => f.as_ref().clone(),
                }
                .with_nullable(true)
            })
            .collect();
        out_fields.push(Field::new(ROW, DataType::UInt64, false));
        out_fields.push(Field::new(TS, utc_micros(), false));
        let out_schema = Arc::new(Schema::new(out_fields));
        let file = std::fs::File::create(numbered).map_err(|e| OfflineError::Location {
            location: numbered.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut writer = ArrowWriter::try_new(file, out_schema.clone(), None)
            .map_err(|e| entity_err(path, format!("cannot write its copy: {e}")))?;
        let mut zones = ZoneCheck::default();
        let (mut rows, mut min, mut max) = (0u64, i64::MAX, i64::MIN);
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(read_err)?;
            let mut arrays: Vec<ArrayRef> = Vec::with_capacity(out_schema.fields().len());
            for (field, array) in schema.fields().iter().zip(batch.columns()) {
                match keys.iter().find(|(k, _)| *k == field.name()) {
                    Some((_, t)) => arrays.push(parse_keys(path, field.name(), array, *t, rows)?),
                    None => arrays.push(array.clone()),
                }
            }
            let ts_index = schema
                .index_of(&self.timestamp_column)
                .expect("checked above");
            let ts = parse_timestamps(
                path,
                &self.timestamp_column,
                batch.column(ts_index),
                rows,
                &mut zones,
            )?;
            for value in ts.values().iter() {
                min = min.min(*value);
                max = max.max(*value);
            }
            let n = batch.num_rows() as u64;
            arrays.push(Arc::new(UInt64Array::from_iter_values(rows..rows + n)));
            arrays.push(Arc::new(ts));
            let typed = RecordBatch::try_new(out_schema.clone(), arrays)
                .map_err(|e| entity_err(path, e.to_string()))?;
            writer
                .write(&typed)
                .map_err(|e| entity_err(path, format!("cannot write its copy: {e}")))?;
            rows += n;
        }
        writer
            .close()
            .map_err(|e| entity_err(path, format!("cannot write its copy: {e}")))?;
        if rows == 0 {
            return Err(entity_err(path, "has no rows"));
        }
        Ok(EntityScan {
            columns,
            rows,
            min_micros: min,
            max_micros: max,
        })
    }

    /// Adds one view's features to `current` (the entity rows so far).
    #[allow(
        clippy::too_many_arguments,
        reason = "the join's inputs, each used once; a struct would be built for one call"
    )]
    async fn join_view(
        &self,
        ctx: &SessionContext,
        current: DataFrame,
        table_name: &str,
        request: &ViewFeatures,
        names: &[String],
        scan: &EntityScan,
        matched: &Arc<AtomicU64>,
    ) -> Result<DataFrame, DataFusionError> {
        let view = &request.view;
        let key = &request.entity.join_key;
        let features = ctx.table(table_name).await?;
        let time_type = features
            .schema()
            .field_with_unqualified_name(&view.event_time)?
            .data_type()
            .clone();
        let ttl = view.ttl();
        let ttl_micros = ttl.micros();
        // Only the event-time partitions the entity timestamps can reach.
        let earliest = scan
            .min_micros
            .saturating_sub(ttl_micros.unwrap_or(i64::MAX / 2));
        let bound = |micros: i64| {
            cast_expr(
                lit(ScalarValue::TimestampMicrosecond(
                    Some(micros),
                    Some("UTC".into()),
                )),
                time_type.clone(),
            )
        };
        let mut pruned = col(quoted(&view.event_time)).lt_eq(bound(scan.max_micros));
        if ttl_micros.is_some() {
            pruned = pruned.and(col(quoted(&view.event_time)).gt_eq(bound(earliest)));
        }
        let features = features.filter(pruned)?;

        let current_schema = current.schema().as_arrow().clone();
        let feature_schema = features.schema().as_arrow().clone();
        let typed_null = |t: &DataType| ScalarValue::try_from(t).map(lit);

        let mut entity_side = vec![
            cast_expr(col(quoted(key)), key_type(request.entity.value_type)).alias(KEY),
            col(TS).alias(TIME),
            lit(ENTITY_SIDE).alias(SIDE),
        ];
        let mut feature_side = vec![
            cast_expr(col(quoted(key)), key_type(request.entity.value_type)).alias(KEY),
            cast_expr(col(quoted(&view.event_time)), utc_micros()).alias(TIME),
            lit(FEATURE_SIDE).alias(SIDE),
        ];
        for field in current_schema.fields() {
            entity_side.push(col(quoted(field.name())).alias(field.name()));
            feature_side.push(typed_null(field.data_type())?.alias(field.name()));
        }
        entity_side.push(typed_null(&utc_micros())?.alias(FEATURE_TIME));
        feature_side
            .push(cast_expr(col(quoted(&view.event_time)), utc_micros()).alias(FEATURE_TIME));
        for (feature, name) in request.features.iter().zip(names) {
            let data_type = feature_schema.field_with_name(feature)?.data_type().clone();
            entity_side.push(typed_null(&data_type)?.alias(name));
            feature_side.push(col(quoted(feature)).alias(name));
        }
        let unioned = current
            .select(entity_side)?
            .union(features.select(feature_side)?)?;
        // The window is only there to have DataFusion hash-partition the rows
        // by key and sort each partition by (time, side); its numbers are
        // not used. The fill checks the order it relies on.
        let sorted = unioned.window(vec![
            row_number()
                .partition_by(vec![col(KEY)])
                .order_by(vec![
                    col(TIME).sort(true, false),
                    col(SIDE).sort(true, false),
                ])
                .build()?
                .alias(SEQ),
        ])?;
        let plan = sorted.create_physical_plan().await?;
        let in_schema = plan.schema();
        let mut out_fields: Vec<Field> = current_schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for name in names {
            out_fields.push(in_schema.field_with_name(name)?.clone().with_nullable(true));
        }
        let out_schema: SchemaRef = Arc::new(Schema::new(out_fields));
        let fill = Arc::new(Fill {
            in_schema: in_schema.clone(),
            out_schema: out_schema.clone(),
            carried: current_schema
                .fields()
                .iter()
                .map(|f| in_schema.index_of(f.name()))
                .collect::<Result<_, _>>()?,
            features: names
                .iter()
                .map(|n| in_schema.index_of(n))
                .collect::<Result<_, _>>()?,
            key: in_schema.index_of(KEY)?,
            time: in_schema.index_of(TIME)?,
            side: in_schema.index_of(SIDE)?,
            feature_time: in_schema.index_of(FEATURE_TIME)?,
            ttl,
            matched: matched.clone(),
        });
        let partitions: Vec<Arc<dyn PartitionStream>> =
            execute_stream_partitioned(plan, ctx.task_ctx())?
                .into_iter()
                .map(|stream| {
                    Arc::new(FilledPartition {
                        schema: out_schema.clone(),
                        stream: Mutex::new(Some(fill.clone().over(stream))),
                    }) as Arc<dyn PartitionStream>
                })
                .collect();
        let table = StreamingTable::try_new(out_schema, partitions)?;
        ctx.read_table(Arc::new(table))
    }
}

/// What reading the entity file found.
struct EntityScan {
    columns: Vec<String>,
    rows: u64,
    min_micros: i64,
    max_micros: i64,
}

/// `name` quoted for DataFusion's column parser (keeps case and dots).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn key_type(t: ValueType) -> DataType {
    match t {
        ValueType::Int64 => DataType::Int64,
        _ => DataType::Utf8,
    }
}

/// Entity keys as the entity's type, or an error naming the first value
/// that is not one.
fn parse_keys(
    path: &Path,
    column: &str,
    array: &ArrayRef,
    t: ValueType,
    first_row: u64,
) -> Result<ArrayRef, OfflineError> {
    let target = key_type(t);
    let safe = deltalake::arrow::compute::CastOptions {
        safe: true,
        ..Default::default()
    };
    let typed = deltalake::arrow::compute::cast_with_options(array, &target, &safe)
        .map_err(|e| entity_err(path, format!("column `{column}`: {e}")))?;
    for i in 0..array.len() {
        if array.is_null(i) {
            return Err(entity_err(
                path,
                format!(
                    "row {}: the key column `{column}` is empty",
                    first_row + i as u64 + 1
                ),
            ));
        }
        if typed.is_null(i) {
            let text = cast(&array.slice(i, 1), &DataType::Utf8)
                .ok()
                .and_then(|a| a.as_string_opt::<i32>().map(|s| s.value(0).to_string()))
                .unwrap_or_default();
            return Err(entity_err(
                path,
                format!(
                    "row {}: `{text}` in column `{column}` is not a {t} key",
                    first_row + i as u64 + 1
                ),
            ));
        }
    }
    Ok(typed)
}

/// Whether timestamps written as text carried a zone; mixing the two is
/// refused, since a zoneless time is then ambiguous.
#[derive(Default)]
struct ZoneCheck {
    zoned: Option<(u64, String)>,
    zoneless: Option<(u64, String)>,
}

fn has_zone(text: &str) -> bool {
    let text = text.trim();
    if text.ends_with(['Z', 'z']) {
        return true;
    }
    // A `+hh:mm`, `-hh:mm`, `+hhmm` or `+hh` suffix after the time of day.
    let Some(time_at) = text.find(['T', 't', ' ']) else {
        return false;
    };
    text[time_at..].contains('+') || text[time_at..].contains('-')
}

/// Timestamps as UTC microseconds, or an error naming the first value that
/// is not one.
fn parse_timestamps(
    path: &Path,
    column: &str,
    array: &ArrayRef,
    first_row: u64,
    zones: &mut ZoneCheck,
) -> Result<TimestampMicrosecondArray, OfflineError> {
    let row = |i: usize| first_row + i as u64 + 1;
    let parsed: ArrayRef = match array.data_type() {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            let text = cast(array, &DataType::Utf8)
                .map_err(|e| entity_err(path, format!("column `{column}`: {e}")))?;
            let text: &StringArray = text.as_string();
            for i in 0..text.len() {
                if text.is_null(i) {
                    continue;
                }
                let value = text.value(i);
                let slot = if has_zone(value) {
                    &mut zones.zoned
                } else {
                    &mut zones.zoneless
                };
                if slot.is_none() {
                    *slot = Some((row(i), value.to_string()));
                }
            }
            if let (Some((zoned_row, zoned)), Some((plain_row, plain))) =
                (&zones.zoned, &zones.zoneless)
            {
                return Err(entity_err(
                    path,
                    format!(
                        "column `{column}` mixes timestamps with a zone (row {zoned_row}: `{zoned}`) \
                         and without one (row {plain_row}: `{plain}`); write them all in one form"
                    ),
                ));
            }
            let safe = deltalake::arrow::compute::CastOptions {
                safe: true,
                ..Default::default()
            };
            let parsed = deltalake::arrow::compute::cast_with_options(text, &utc_micros(), &safe)
                .map_err(|e| entity_err(path, format!("column `{column}`: {e}")))?;
            if let Some(i) = (0..text.len()).find(|&i| text.is_valid(i) && parsed.is_null(i)) {
                return Err(entity_err(
                    path,
                    format!(
                        "row {}: `{}` in column `{column}` is not a timestamp (use RFC 3339, \
                         such as 2014-02-27T00:00:00Z, or YYYY-MM-DD HH:MM:SS)",
                        row(i),
                        text.value(i)
                    ),
                ));
            }
            parsed
        }
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
            // A zoneless timestamp column is read as UTC.
            let utc = match array.data_type() {
                DataType::Timestamp(unit, None) => {
                    let as_utc = DataType::Timestamp(*unit, Some("UTC".into()));
                    cast(array, &as_utc)
                }
                _ => Ok(array.clone()),
            };
            utc.and_then(|a| cast(&a, &utc_micros()))
                .map_err(|e| entity_err(path, format!("column `{column}`: {e}")))?
        }
        other => {
            return Err(entity_err(
                path,
                format!("column `{column}` is {other}, not a timestamp"),
            ));
        }
    };
    if let Some(i) = (0..parsed.len()).find(|&i| parsed.is_null(i)) {
        return Err(entity_err(
            path,
            format!("row {}: the timestamp column `{column}` is empty", row(i)),
        ));
    }
    Ok(parsed
        .as_primitive::<TimestampMicrosecondType>()
        .clone()
        .with_timezone("UTC"))
}

/// The forward fill of one view over sorted partitions.
#[derive(Debug)]
struct Fill {
    in_schema: SchemaRef,
    out_schema: SchemaRef,
    /// Columns of the entity rows carried to the output, in order.
    carried: Vec<usize>,
    /// The view's feature columns.
    features: Vec<usize>,
    key: usize,
    time: usize,
    side: usize,
    feature_time: usize,
    ttl: quiver_core::Ttl,
    matched: Arc<AtomicU64>,
}

/// The latest feature row of the current key, carried from one batch to the next.
struct Carry {
    key: OwnedRow,
    /// One row: the feature columns, then the feature time.
    row: Vec<ArrayRef>,
    time: i64,
}

impl Fill {
    fn over(self: Arc<Self>, input: SendableRecordBatchStream) -> SendableRecordBatchStream {
        let schema = self.out_schema.clone();
        let key_type = self.in_schema.field(self.key).data_type().clone();
        let state = (input, None::<Carry>, self, key_type);
        let stream = futures::stream::try_unfold(
            state,
            |(mut input, mut carry, fill, key_type)| async move {
                loop {
                    let Some(batch) = input.try_next().await? else {
                        return Ok(None);
                    };
                    let out = fill.batch(&batch, &mut carry, &key_type)?;
                    if out.num_rows() > 0 {
                        return Ok(Some((out, (input, carry, fill, key_type))));
                    }
                }
            },
        );
        Box::pin(RecordBatchStreamAdapter::new(schema, stream))
    }

    fn batch(
        &self,
        batch: &RecordBatch,
        carry: &mut Option<Carry>,
        key_type: &DataType,
    ) -> Result<RecordBatch, DataFusionError> {
        let converter = RowConverter::new(vec![SortField::new(key_type.clone())])?;
        let keys = converter.convert_columns(&[batch.column(self.key).clone()])?;
        let sides = batch
            .column(self.side)
            .as_any()
            .downcast_ref::<Int8Array>()
            .ok_or_else(|| DataFusionError::Internal("side column is not Int8".into()))?;
        let times = batch
            .column(self.time)
            .as_primitive::<TimestampMicrosecondType>();
        let feature_times = batch
            .column(self.feature_time)
            .as_primitive::<TimestampMicrosecondType>();

        // Source rows for `take`: the carried row (index 0) then this batch.
        let offset = u32::from(carry.is_some());
        let mut last: Option<(u32, i64)> = carry.as_ref().map(|c| (0, c.time));
        let carried_key = carry.as_ref().map(|c| c.key.clone());
        let mut last_key = carried_key.as_ref().map(|k| k.row());
        let mut picks: Vec<Option<u32>> = Vec::new();
        let mut entity_rows = Vec::new();
        let mut previous: Option<(usize, i64, i8)> = None;
        for i in 0..batch.num_rows() {
            let key = keys.row(i);
            let (time, side) = (times.value(i), sides.value(i));
            if let Some((p, p_time, p_side)) = previous
                && keys.row(p) == key
                && (p_time, p_side) > (time, side)
            {
                return Err(DataFusionError::Internal(
                    "training set: rows reached the fill out of order".into(),
                ));
            }
            previous = Some((i, time, side));
            if side == FEATURE_SIDE {
                last = Some((i as u32 + offset, feature_times.value(i)));
                last_key = Some(key);
                continue;
            }
            entity_rows.push(i as u32);
            let pick = match (last, last_key) {
                (Some((index, feature_time)), Some(k)) if k == key => {
                    // The rule of the online path, at the entity's timestamp.
                    let fresh = !self.ttl.is_outside_max_age(feature_time, time);
                    fresh.then_some(index)
                }
                _ => None,
            };
            picks.push(pick);
        }
        let matched = picks.iter().filter(|p| p.is_some()).count() as u64;
        self.matched.fetch_add(matched, Ordering::Relaxed);

        // The new carry: the latest feature row of this batch, if any.
        let mut sources: Vec<ArrayRef> = Vec::with_capacity(self.features.len() + 1);
        for (n, &column) in self
            .features
            .iter()
            .chain(std::iter::once(&self.feature_time))
            .enumerate()
        {
            let here = batch.column(column);
            sources.push(match carry {
                Some(c) => concat(&[c.row[n].as_ref(), here.as_ref()])?,
                None => here.clone(),
            });
        }
        let indices = UInt32Array::from(picks);
        let entity_indices = UInt32Array::from(entity_rows);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.out_schema.fields().len());
        for &column in &self.carried {
            columns.push(take(batch.column(column).as_ref(), &entity_indices, None)?);
        }
        for source in &sources[..self.features.len()] {
            columns.push(take(source.as_ref(), &indices, None)?);
        }
        if let (Some((index, time)), Some(key)) = (last, last_key) {
            let index = index as usize;
            let key = key.owned();
            let row = sources.iter().map(|s| s.slice(index, 1)).collect();
            *carry = Some(Carry { key, row, time });
        }
        Ok(RecordBatch::try_new(self.out_schema.clone(), columns)?)
    }
}

/// One partition of a view's filled rows, as DataFusion reads it (once).
struct FilledPartition {
    schema: SchemaRef,
    stream: Mutex<Option<SendableRecordBatchStream>>,
}

impl std::fmt::Debug for FilledPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilledPartition").finish_non_exhaustive()
    }
}

impl PartitionStream for FilledPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().ok().and_then(|mut s| s.take());
        match taken {
            Some(stream) => stream,
            None => Box::pin(RecordBatchStreamAdapter::new(
                self.schema.clone(),
                futures::stream::once(async {
                    Err(DataFusionError::Internal(
                        "a training-set stage was read twice".into(),
                    ))
                }),
            )),
        }
    }
}

/// Writes the sorted rows to a temporary file beside `out`, then renames it.
async fn write_stream(
    mut stream: SendableRecordBatchStream,
    out: &Path,
    format: TableFormat,
    total: u64,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<u64, OfflineError> {
    let io_err = |e: std::io::Error| OfflineError::Location {
        location: out.display().to_string(),
        reason: e.to_string(),
    };
    let write_err = |e: String| OfflineError::Location {
        location: out.display().to_string(),
        reason: e,
    };
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let partial = tempfile::Builder::new()
        .prefix(".quiver-training-set-")
        .tempfile_in(dir)
        .map_err(io_err)?;
    let schema = stream.schema();
    let file = partial.reopen().map_err(io_err)?;
    let mut rows = 0u64;
    let query_err = |source| OfflineError::Query {
        table: "training set".to_string(),
        source: quiver_core::Foreign::new(source),
    };
    match format {
        TableFormat::Parquet => {
            let mut writer =
                ArrowWriter::try_new(file, schema, None).map_err(|e| write_err(e.to_string()))?;
            while let Some(batch) = stream.try_next().await.map_err(query_err)? {
                writer.write(&batch).map_err(|e| write_err(e.to_string()))?;
                rows += batch.num_rows() as u64;
                progress(rows, total);
            }
            writer.close().map_err(|e| write_err(e.to_string()))?;
        }
        TableFormat::Csv => {
            let mut writer = deltalake::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(std::io::BufWriter::new(file));
            while let Some(batch) = stream.try_next().await.map_err(query_err)? {
                writer.write(&batch).map_err(|e| write_err(e.to_string()))?;
                rows += batch.num_rows() as u64;
                progress(rows, total);
            }
            use std::io::Write;
            writer.into_inner().flush().map_err(io_err)?;
        }
    }
    partial.persist(out).map_err(|e| io_err(e.error))?;
    Ok(rows)
}

/// Reads a whole (small) result, for tests and the CLI's preview.
pub async fn read_table(
    path: &Path,
    format: TableFormat,
) -> Result<Vec<RecordBatch>, DataFusionError> {
    let ctx = SessionContext::new();
    let location = path.to_string_lossy().to_string();
    let frame = match format {
        TableFormat::Parquet => {
            ctx.read_parquet(
                location.as_str(),
                ParquetReadOptions::default().file_extension(""),
            )
            .await?
        }
        TableFormat::Csv => {
            ctx.read_csv(location.as_str(), CsvReadOptions::new().file_extension(""))
                .await?
        }
    };
    frame.collect().await
}

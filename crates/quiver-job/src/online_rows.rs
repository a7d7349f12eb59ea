//! From the job's Arrow batches to the online store's rows: the latest row of
//! each entity, converted to [`FeatureRow`]s. Only winners are converted, so
//! the per-row cost over millions of rows is one hash lookup.

use deltalake::arrow::array::{Array, ArrayRef, AsArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{
    DataType, Date32Type, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use deltalake::arrow::record_batch::RecordBatch;
use quiver_online::{EntityRow, FeatureRow, FeatureValue};
use std::collections::HashMap;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The latest row per entity in `batches`, which have Quiver's normalised
/// layout: entity key, event time, then the features.
///
/// Errors name the column when a key or an event time is null.
pub fn latest_rows_per_entity(batches: &[RecordBatch]) -> Result<Vec<EntityRow>, String> {
    let batches: Vec<RecordBatch> = batches
        .iter()
        .map(plain_strings)
        .collect::<Result<_, _>>()?;
    let batches = batches.as_slice();
    let latest = winners(batches)?;
    let mut rows: Vec<EntityRow> = latest
        .into_iter()
        .map(|(key, (time, b, row))| EntityRow {
            key: key.into_string(),
            row: FeatureRow {
                event_time_micros: time,
                values: batches[b].columns()[2..]
                    .iter()
                    .map(|column| value_at(column, row))
                    .collect(),
            },
        })
        .collect();
    rows.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(rows)
}

/// Every row of `batch` (Quiver's normalised layout: entity key, event time,
/// then the features), in order: for loading a store with a whole history,
/// where the store itself keeps the latest event per entity.
pub fn entity_rows(batch: &RecordBatch) -> Result<Vec<EntityRow>, String> {
    let batch = plain_strings(batch)?;
    let keys = batch.column(0);
    event_times(&batch)?
        .into_iter()
        .enumerate()
        .map(|(row, time)| {
            let key = entity_key(keys, row).ok_or_else(|| {
                format!(
                    "a row has a null entity key `{}`",
                    batch.schema().field(0).name()
                )
            })?;
            Ok(EntityRow {
                key: key.into_string(),
                row: FeatureRow {
                    event_time_micros: time,
                    values: batch.columns()[2..]
                        .iter()
                        .map(|column| value_at(column, row))
                        .collect(),
                },
            })
        })
        .collect()
}

/// For each entity key, the (event time, batch, row) of its latest row: a
/// later or equal event time wins.
fn winners(batches: &[RecordBatch]) -> Result<HashMap<EntityKey<'_>, (i64, usize, usize)>, String> {
    let mut latest: HashMap<EntityKey<'_>, (i64, usize, usize)> = HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        let keys = batch.column(0);
        for (row, time) in event_times(batch)?.into_iter().enumerate() {
            let key = entity_key(keys, row).ok_or_else(|| {
                format!(
                    "a row has a null entity key `{}`",
                    batch.schema().field(0).name()
                )
            })?;
            match latest.get_mut(&key) {
                Some(best) if best.0 > time => {}
                Some(best) => *best = (time, b, row),
                None => {
                    latest.insert(key, (time, b, row));
                }
            }
        }
    }
    Ok(latest)
}

/// A key borrowed from its batch, so the scan allocates only for new entities.
/// Text columns as plain `Utf8`: tables read back through DataFusion come as
/// `Utf8View`, which the rest of this module need not know about.
fn plain_strings(batch: &RecordBatch) -> Result<RecordBatch, String> {
    if !batch
        .columns()
        .iter()
        .any(|c| matches!(c.data_type(), DataType::Utf8View | DataType::LargeUtf8))
    {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8View | DataType::LargeUtf8 => cast(c, &DataType::Utf8),
            _ => Ok(c.clone()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let fields: Vec<_> = batch
        .schema()
        .fields()
        .iter()
        .zip(&columns)
        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    RecordBatch::try_new(
        std::sync::Arc::new(deltalake::arrow::datatypes::Schema::new(fields)),
        columns,
    )
    .map_err(|e| e.to_string())
}

#[derive(Hash, PartialEq, Eq)]
enum EntityKey<'a> {
    Text(&'a str),
    Number(i64),
}

impl EntityKey<'_> {
    fn into_string(self) -> String {
        match self {
            EntityKey::Text(s) => s.to_string(),
            EntityKey::Number(n) => n.to_string(),
        }
    }
}

fn entity_key(keys: &ArrayRef, row: usize) -> Option<EntityKey<'_>> {
    if keys.is_null(row) {
        return None;
    }
    Some(match keys.data_type() {
        DataType::Int64 => EntityKey::Number(keys.as_primitive::<Int64Type>().value(row)),
        _ => EntityKey::Text(keys.as_string::<i32>().value(row)),
    })
}

fn event_times(batch: &RecordBatch) -> Result<Vec<i64>, String> {
    let column = batch.column(1);
    let name = batch.schema().field(1).name().clone();
    if column.null_count() > 0 {
        return Err(format!("a row has a null event time `{name}`"));
    }
    Ok(match column.data_type() {
        DataType::Date32 => column
            .as_primitive::<Date32Type>()
            .values()
            .iter()
            .map(|d| {
                i64::from(*d).checked_mul(MICROS_PER_DAY).ok_or_else(|| {
                    format!(
                        "event time `{name}` holds a date {d} days from 1970, \
                         beyond what a time in microseconds can hold"
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        DataType::Timestamp(TimeUnit::Microsecond, _) => column
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .to_vec(),
        other => return Err(format!("event time `{name}` has unexpected type {other}")),
    })
}

fn value_at(column: &ArrayRef, row: usize) -> FeatureValue {
    if column.is_null(row) {
        return FeatureValue::Null;
    }
    match column.data_type() {
        DataType::Utf8 => FeatureValue::String(column.as_string::<i32>().value(row).to_string()),
        DataType::Int64 => FeatureValue::Int64(column.as_primitive::<Int64Type>().value(row)),
        DataType::Float64 => FeatureValue::Float64(column.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => FeatureValue::Bool(column.as_boolean().value(row)),
        DataType::Date32 => FeatureValue::Date(column.as_primitive::<Date32Type>().value(row)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            FeatureValue::Timestamp(column.as_primitive::<TimestampMicrosecondType>().value(row))
        }
        other => unreachable!("the job casts every feature to a Quiver type, not {other}"),
    }
}

/// Rows kept before [`LatestRowCollector`] first reduces them to one per entity.
const FIRST_COMPACTION_ROWS: usize = 256 * 1024;

/// The latest row per entity of a stream of batches (Quiver's normalised
/// layout), in memory that grows with the number of entities, not rows:
/// batches are kept until they hold more rows than a threshold, then reduced
/// to one row per entity; the threshold doubles when entities alone fill
/// half of it.
pub struct LatestRowCollector {
    kept: Vec<RecordBatch>,
    rows: usize,
    threshold: usize,
}

impl Default for LatestRowCollector {
    fn default() -> Self {
        LatestRowCollector {
            kept: Vec::new(),
            rows: 0,
            threshold: FIRST_COMPACTION_ROWS,
        }
    }
}

impl LatestRowCollector {
    /// Takes the rows of `batch` into account.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<(), String> {
        self.kept.push(plain_strings(batch)?);
        self.rows += batch.num_rows();
        if self.rows > self.threshold {
            self.compact()?;
            if self.rows > self.threshold / 2 {
                self.threshold *= 2;
            }
        }
        Ok(())
    }

    /// The latest row of each entity seen.
    pub fn finish(self) -> Result<Vec<EntityRow>, String> {
        latest_rows_per_entity(&self.kept)
    }

    fn compact(&mut self) -> Result<(), String> {
        let Some(first) = self.kept.first() else {
            return Ok(());
        };
        let schema = first.schema();
        let latest = winners(&self.kept)?;
        let picks: Vec<(usize, usize)> = latest.values().map(|&(_, b, row)| (b, row)).collect();
        drop(latest);
        let columns = (0..schema.fields().len())
            .map(|c| {
                let arrays: Vec<&dyn Array> =
                    self.kept.iter().map(|b| b.column(c).as_ref()).collect();
                deltalake::arrow::compute::interleave(&arrays, &picks)
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let compacted = RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())?;
        self.rows = compacted.num_rows();
        self.kept = vec![compacted];
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{
        Float64Array, Int64Array, StringViewArray, TimestampMicrosecondArray,
    };
    use deltalake::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn batch(keys: Vec<Option<&str>>, times: Vec<i64>, totals: Vec<Option<f64>>) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8View, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), false),
            Field::new("total", DataType::Float64, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringViewArray::from(keys)),
                Arc::new(TimestampMicrosecondArray::from(times)),
                Arc::new(Float64Array::from(totals)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn entity_rows_keeps_every_row_in_order_and_latest_rows_one_per_entity() {
        let b = batch(
            vec![Some("a"), Some("b"), Some("a")],
            vec![2, 1, 1],
            vec![Some(2.0), None, Some(1.0)],
        );
        let all = entity_rows(&b).unwrap();
        let keys: Vec<_> = all
            .iter()
            .map(|r| (r.key.as_str(), r.row.event_time_micros))
            .collect();
        assert_eq!(keys, [("a", 2), ("b", 1), ("a", 1)]);
        assert_eq!(all[1].row.values, [FeatureValue::Null]);
        assert_eq!(all[2].row.values, [FeatureValue::Float64(1.0)]);

        let latest = latest_rows_per_entity(&[b]).unwrap();
        let keys: Vec<_> = latest
            .iter()
            .map(|r| (r.key.as_str(), r.row.event_time_micros))
            .collect();
        assert_eq!(keys, [("a", 2), ("b", 1)]);
    }

    #[test]
    fn a_date_beyond_microseconds_is_named_not_wrapped() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8View, true),
            Field::new("day", DataType::Date32, false),
        ]);
        let b = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(StringViewArray::from(vec![Some("a"), Some("b")])),
                Arc::new(deltalake::arrow::array::Date32Array::from(vec![
                    19_000,
                    i32::MAX,
                ])),
            ],
        )
        .unwrap();
        let error = entity_rows(&b).unwrap_err();
        assert!(
            error.contains("event time `day`") && error.contains("2147483647 days"),
            "{error}"
        );
    }

    #[test]
    fn a_null_key_is_named() {
        let b = batch(vec![None], vec![1], vec![Some(1.0)]);
        assert_eq!(
            entity_rows(&b).unwrap_err(),
            "a row has a null entity key `id`"
        );
        let keys = Int64Array::from(vec![7]);
        assert_eq!(
            entity_key(&(Arc::new(keys) as ArrayRef), 0).map(EntityKey::into_string),
            Some("7".to_string())
        );
    }
}

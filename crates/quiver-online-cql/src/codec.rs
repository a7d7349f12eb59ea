//! [`FeatureValue`]s to and from CQL values, without an intermediate
//! `CqlValue`: bound values serialize straight from the row, and a result row
//! decodes straight into a [`FeatureRow`] by the view's layout.
//!
//! The layout decides the Rust type of each column, because two Quiver types
//! share one CQL type (`int64` and `timestamp` are both `bigint`, see
//! [`schema`](crate::schema)). A date is CQL's unsigned day count centred on
//! 2^31, which [`date_to_cql`] and [`date_from_cql`] convert.

use quiver_core::ValueType;
use quiver_online::{FeatureRow, FeatureValue, ViewLayout};
use scylla::cluster::metadata::ColumnType;
use scylla::deserialize::row::{ColumnIterator, RawColumn};
use scylla::deserialize::value::DeserializeValue;
use scylla::serialize::SerializationError;
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::{CellWriter, WrittenCellProof};
use scylla::value::CqlDate;

/// One bound value of a statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    /// A `text` value: the entity key.
    Text(&'a str),
    /// An `int`: a generation, or a TTL in seconds.
    Int(i32),
    /// A `bigint`: an event time in microseconds.
    BigInt(i64),
    /// A feature value. A null is written as a null (which replaces a value
    /// already stored in the row), or left unset when `unset_nulls` is true:
    /// on a row that does not exist yet, unset writes no tombstone.
    Feature {
        value: &'a FeatureValue,
        unset_nulls: bool,
    },
}

impl SerializeValue for Bind<'_> {
    fn serialize<'b>(
        &self,
        typ: &ColumnType<'_>,
        writer: CellWriter<'b>,
    ) -> Result<WrittenCellProof<'b>, SerializationError> {
        match *self {
            Bind::Text(text) => text.serialize(typ, writer),
            Bind::Int(n) => n.serialize(typ, writer),
            Bind::BigInt(n) => n.serialize(typ, writer),
            Bind::Feature { value, unset_nulls } => match value {
                FeatureValue::Null if unset_nulls => Ok(writer.set_unset()),
                FeatureValue::Null => Ok(writer.set_null()),
                FeatureValue::Bool(b) => b.serialize(typ, writer),
                FeatureValue::Int64(n) | FeatureValue::Timestamp(n) => n.serialize(typ, writer),
                FeatureValue::Float64(x) => x.serialize(typ, writer),
                FeatureValue::String(s) => s.as_str().serialize(typ, writer),
                FeatureValue::Date(days) => date_to_cql(*days).serialize(typ, writer),
            },
        }
    }
}

/// Days since 1970-01-01 as CQL's `date`: an unsigned count with the epoch at 2^31.
pub(crate) fn date_to_cql(days: i32) -> CqlDate {
    CqlDate((i64::from(days) + (1 << 31)) as u32)
}

/// CQL's `date` as days since 1970-01-01.
pub(crate) fn date_from_cql(date: CqlDate) -> i32 {
    (i64::from(date.0) - (1 << 31)) as i32
}

/// Decodes `SELECT event_time_micros, <features in layout order>` into a row.
pub(crate) fn decode_row(
    layout: &ViewLayout,
    mut columns: ColumnIterator<'_, '_>,
) -> Result<FeatureRow, String> {
    let mut next = |what: &str| -> Result<RawColumn<'_, '_>, String> {
        columns
            .next()
            .ok_or_else(|| format!("the result has no column for {what}"))?
            .map_err(|e| e.to_string())
    };
    let event_time_micros = value::<i64>(next("the event time")?)?
        .ok_or_else(|| "the event time is null".to_string())?;
    let mut values = Vec::with_capacity(layout.features.len());
    for (name, value_type) in &layout.features {
        let column = next(name)?;
        let decoded = match value_type {
            ValueType::String => value::<String>(column)?.map(FeatureValue::String),
            ValueType::Int64 => value::<i64>(column)?.map(FeatureValue::Int64),
            ValueType::Float64 => value::<f64>(column)?.map(FeatureValue::Float64),
            ValueType::Bool => value::<bool>(column)?.map(FeatureValue::Bool),
            ValueType::Date => {
                value::<CqlDate>(column)?.map(|d| FeatureValue::Date(date_from_cql(d)))
            }
            ValueType::Timestamp => value::<i64>(column)?.map(FeatureValue::Timestamp),
        };
        values.push(decoded.unwrap_or(FeatureValue::Null));
    }
    Ok(FeatureRow {
        event_time_micros,
        values,
    })
}

/// One column as `T`, `None` when null, checking the column's CQL type first.
fn value<'f, 'm, T>(column: RawColumn<'f, 'm>) -> Result<Option<T>, String>
where
    T: DeserializeValue<'f, 'm>,
{
    let typ = column.spec.typ();
    let name = column.spec.name();
    Option::<T>::type_check(typ).map_err(|e| format!("column `{name}`: {e}"))?;
    Option::<T>::deserialize(typ, column.slice).map_err(|e| format!("column `{name}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_keep_their_day_across_the_epoch() {
        for days in [i32::MIN, -3, -1, 0, 1, 16_129, i32::MAX] {
            assert_eq!(date_from_cql(date_to_cql(days)), days);
        }
        assert_eq!(date_to_cql(0).0, 1 << 31);
    }
}

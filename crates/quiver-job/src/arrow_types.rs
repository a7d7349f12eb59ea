//! How Quiver's value types map to Arrow types, and which Arrow types a
//! declared type accepts from SQL.

use deltalake::arrow::datatypes::{DataType, TimeUnit};
use quiver_core::ValueType;

/// The Arrow type a column of `value_type` has in Quiver's output (and so in
/// the Delta table).
pub fn arrow_type(value_type: ValueType) -> DataType {
    match value_type {
        ValueType::String => DataType::Utf8,
        ValueType::Int64 => DataType::Int64,
        ValueType::Float64 => DataType::Float64,
        ValueType::Bool => DataType::Boolean,
        ValueType::Date => DataType::Date32,
        ValueType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// Whether SQL output of type `actual` can be stored as `declared` without
/// loss: the same kind of value, possibly a narrower or differently encoded one.
pub(crate) fn accepts(declared: ValueType, actual: &DataType) -> bool {
    use DataType::*;
    match declared {
        ValueType::String => matches!(actual, Utf8 | LargeUtf8 | Utf8View),
        ValueType::Int64 => matches!(
            actual,
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32
        ),
        ValueType::Float64 => matches!(actual, Float16 | Float32 | Float64),
        ValueType::Bool => matches!(actual, Boolean),
        ValueType::Date => matches!(actual, Date32 | Date64),
        ValueType::Timestamp => matches!(actual, Timestamp(_, _)),
    }
}

/// The Quiver type closest to `actual`, to suggest in an error message.
pub(crate) fn closest(actual: &DataType) -> Option<ValueType> {
    ValueType::ALL.into_iter().find(|t| accepts(*t, actual))
}

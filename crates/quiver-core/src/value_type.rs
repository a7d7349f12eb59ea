//! The value types a column of a source or a feature can have.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of one column, as written in `quiver.toml` (`"float64"`, `"date"` …).
///
/// Deliberately small: these are the types every store (Delta, the embedded
/// store, Redis, Cassandra) represents without loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// UTF-8 text.
    String,
    /// 64-bit signed integer.
    Int64,
    /// 64-bit IEEE float.
    Float64,
    /// true or false.
    Bool,
    /// A calendar day, without time zone.
    Date,
    /// An instant, microsecond precision, UTC.
    Timestamp,
}

impl ValueType {
    /// Every type, in the order the docs list them.
    pub const ALL: [ValueType; 6] = [
        ValueType::String,
        ValueType::Int64,
        ValueType::Float64,
        ValueType::Bool,
        ValueType::Date,
        ValueType::Timestamp,
    ];

    /// The name used in `quiver.toml`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Int64 => "int64",
            ValueType::Float64 => "float64",
            ValueType::Bool => "bool",
            ValueType::Date => "date",
            ValueType::Timestamp => "timestamp",
        }
    }

    /// Whether a column of this type can carry an event time.
    pub fn is_temporal(self) -> bool {
        matches!(self, ValueType::Date | ValueType::Timestamp)
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

//! The shapes rows take at the online-store seam.

use quiver_core::ValueType;
use serde::{Deserialize, Serialize};

/// One value of one feature.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValue {
    /// No value (a null in the source or the computation).
    Null,
    /// true or false.
    Bool(bool),
    /// A 64-bit integer.
    Int64(i64),
    /// A 64-bit float.
    Float64(f64),
    /// Text.
    String(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
}

impl FeatureValue {
    /// The value's type, or `None` for [`FeatureValue::Null`].
    pub fn value_type(&self) -> Option<ValueType> {
        Some(match self {
            FeatureValue::Null => return None,
            FeatureValue::Bool(_) => ValueType::Bool,
            FeatureValue::Int64(_) => ValueType::Int64,
            FeatureValue::Float64(_) => ValueType::Float64,
            FeatureValue::String(_) => ValueType::String,
            FeatureValue::Date(_) => ValueType::Date,
            FeatureValue::Timestamp(_) => ValueType::Timestamp,
        })
    }
}

/// The features of one entity at one event time, in the view's declared order.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    /// When the row's features were true, in microseconds since the Unix epoch (UTC).
    pub event_time_micros: i64,
    /// One value per feature of the view's [`ViewLayout`].
    pub values: Vec<FeatureValue>,
}

/// A row and the entity it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRow {
    /// The entity's key, as text (an `int64` key in decimal).
    pub key: String,
    /// Its features.
    pub row: FeatureRow,
}

/// The names and types of a view's features, in the order rows carry them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewLayout {
    /// The feature view.
    pub view: String,
    /// Name of the entity key column (`id`).
    pub entity_key: String,
    /// Name of the event-time column (`day_date`).
    pub event_time: String,
    /// Feature names and types, in row order.
    pub features: Vec<(String, ValueType)>,
}

impl ViewLayout {
    /// The layout of `view` as declared in the repository.
    pub fn of(view: &quiver_core::FeatureView, entity: &quiver_core::Entity) -> ViewLayout {
        ViewLayout {
            view: view.name.clone(),
            entity_key: entity.join_key.clone(),
            event_time: view.event_time.clone(),
            features: view
                .features
                .iter()
                .map(|f| (f.name.clone(), f.value_type))
                .collect(),
        }
    }

    /// Refuses a row that does not fit this layout, naming its key: an
    /// empty key (or one longer than `max_key_bytes`, when the store has a
    /// limit), a value count other than the feature count, or a value of
    /// another type than its feature's (nulls fit every type). Every store
    /// checks a whole write with it before it writes anything.
    pub fn check_row(
        &self,
        row: &EntityRow,
        max_key_bytes: Option<usize>,
    ) -> Result<(), crate::OnlineError> {
        let mismatch = |reason: String| crate::OnlineError::RowMismatch {
            view: self.view.clone(),
            key: row.key.clone(),
            reason,
        };
        match max_key_bytes {
            Some(max) if row.key.is_empty() || row.key.len() > max => {
                return Err(mismatch(format!(
                    "an entity key must be 1 to {max} bytes long"
                )));
            }
            None if row.key.is_empty() => {
                return Err(mismatch("an entity key must not be empty".to_string()));
            }
            _ => {}
        }
        if self.features.len() > quiver_core::MAX_FEATURES_PER_VIEW {
            return Err(mismatch(format!(
                "the view declares {} features; a row holds at most {}",
                self.features.len(),
                quiver_core::MAX_FEATURES_PER_VIEW
            )));
        }
        if row.row.values.len() != self.features.len() {
            return Err(mismatch(format!(
                "{} values for {} features",
                row.row.values.len(),
                self.features.len()
            )));
        }
        for (value, (name, declared)) in row.row.values.iter().zip(&self.features) {
            if let Some(actual) = value.value_type()
                && actual != *declared
            {
                return Err(mismatch(format!(
                    "feature `{name}` is declared {declared} but the value is {actual}"
                )));
            }
        }
        Ok(())
    }

    /// Position of feature `name` in a row.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|(n, _)| n == name)
    }
}

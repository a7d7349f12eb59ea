//! An entity is the thing features describe — a household, a merchant — and the
//! key that identifies one.

use crate::ValueType;
use serde::{Deserialize, Serialize};

/// A kind of thing features describe, identified by one join key column.
///
/// The join key is the column that every feature view of this entity must
/// output, and the key a model sends to look features up online.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// Name used by feature views (`entity = "household"`).
    pub name: String,
    /// Column holding the entity's key (`id`).
    pub join_key: String,
    /// Type of the key: `string` or `int64`.
    pub value_type: ValueType,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
}

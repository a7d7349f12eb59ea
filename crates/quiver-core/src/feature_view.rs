//! A feature view is a SQL transformation of one batch source into features of
//! one entity, each row stamped with an event time.

use crate::ValueType;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Features of one entity, computed by one SQL query over one batch source.
///
/// The query's output has exactly these columns: the entity's join key, the
/// event-time column, and the declared features. Every row is one
/// (entity, event time) observation; the offline store keeps them all, the
/// online store keeps the latest per entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureView {
    /// Name of the view; also the name of its offline table.
    pub name: String,
    /// The batch source the SQL reads (by its name, as a table).
    pub source: String,
    /// The entity whose join key the SQL outputs.
    pub entity: String,
    /// The output column with each row's event time (`date` or `timestamp`).
    pub event_time: String,
    /// Online values older than this many seconds are reported as outside TTL.
    pub ttl_seconds: Option<u64>,
    /// The transformation, run by DataFusion.
    pub sql: String,
    /// The `.sql` file the query came from, when it is not inline.
    pub sql_file: Option<PathBuf>,
    /// The declared features, in output order.
    pub features: Vec<Feature>,
    /// Free text for people.
    pub description: String,
}

/// One declared output column of a feature view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    /// Column name.
    pub name: String,
    /// Declared type; the job checks the SQL yields it.
    pub value_type: ValueType,
}

impl FeatureView {
    /// The declared feature called `name`.
    pub fn feature(&self, name: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.name == name)
    }
}

/// Parses a duration such as `90d`, `12h`, `30m`, `45s` or `2w` into seconds.
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    number.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90d"), Some(90 * 86_400));
        assert_eq!(parse_duration("12h"), Some(43_200));
        assert_eq!(parse_duration("2w"), Some(1_209_600));
        assert_eq!(parse_duration("45s"), Some(45));
        for bad in ["", "d", "10", "10y", "-1d", "1.5d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}

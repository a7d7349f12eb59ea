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

/// A view's `ttl` in seconds: the [`crate::duration`] grammar (`90d`,
/// `12h`, `1d 12h`), longer than zero and a whole number of seconds, since
/// stores count expiry in seconds.
pub(crate) fn parse_ttl(text: &str) -> Result<u64, String> {
    let duration = crate::duration::parse(text).map_err(|e| e.to_string())?;
    if duration.is_zero() || duration.subsec_nanos() != 0 {
        return Err(format!(
            "`{text}` is not a whole number of seconds longer than 0; write one such as `90d` or `12h`"
        ));
    }
    Ok(duration.as_secs())
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn ttls_are_durations_in_whole_seconds() {
        assert_eq!(parse_ttl("90d"), Ok(90 * 86_400));
        assert_eq!(parse_ttl("12h"), Ok(43_200));
        assert_eq!(parse_ttl("2w"), Ok(1_209_600));
        assert_eq!(parse_ttl("45s"), Ok(45));
        assert_eq!(parse_ttl("1d 12h"), Ok(129_600));
        for bad in ["", "d", "10", "-1d", "0s", "1500ms"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
        assert!(parse_ttl("10").unwrap_err().contains("not a duration"));
        assert!(
            parse_ttl("1500ms")
                .unwrap_err()
                .contains("whole number of seconds")
        );
    }
}

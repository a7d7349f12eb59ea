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
    /// The view's `ttl` in seconds: online values older than it are
    /// *outside max age* (see [`Ttl`]).
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

    /// The view's `ttl`, which decides whether a row is outside max age.
    pub fn ttl(&self) -> Ttl {
        Ttl {
            micros: self.ttl_seconds.map(|s| {
                i64::try_from(s)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1_000_000)
            }),
        }
    }
}

/// A feature view's `ttl` (Feast's name for the setting): how old a row may
/// be and still be served. A row older than it is *outside max age* (Feast's
/// `OUTSIDE_MAX_AGE`, the one word for the status wherever a user sees it):
/// the server withholds its values, `quiver get` says `outside_max_age`, and
/// a training set does not join it. Small and `Copy`, so hot paths keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ttl {
    micros: Option<i64>,
}

impl Ttl {
    /// The ttl in microseconds; `None` when the view has none (rows never
    /// age out).
    pub fn micros(self) -> Option<i64> {
        self.micros
    }

    /// Whether a row stamped `event_time_micros` is outside max age at
    /// `at_micros`: strictly older than the ttl (a row exactly `ttl` old is
    /// still served).
    pub fn is_outside_max_age(self, event_time_micros: i64, at_micros: i64) -> bool {
        self.micros
            .is_some_and(|ttl| event_time_micros.saturating_add(ttl) < at_micros)
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
    use super::{Ttl, parse_duration};

    #[test]
    fn a_row_is_outside_max_age_only_when_older_than_the_ttl() {
        let day = Ttl {
            micros: Some(86_400_000_000),
        };
        let written = 1_000_000_000_000;
        assert!(!day.is_outside_max_age(written, written));
        assert!(!day.is_outside_max_age(written, written + 86_400_000_000));
        assert!(day.is_outside_max_age(written, written + 86_400_000_001));
        assert!(!Ttl::default().is_outside_max_age(i64::MIN, i64::MAX));
        // A ttl too long to add never wraps round into "outside".
        let forever = Ttl {
            micros: Some(i64::MAX),
        };
        assert!(!forever.is_outside_max_age(written, i64::MAX));
    }

    #[test]
    fn a_views_ttl_is_its_seconds_in_microseconds() {
        let mut view = super::FeatureView {
            name: "v".into(),
            source: "s".into(),
            entity: "e".into(),
            event_time: "t".into(),
            ttl_seconds: Some(90),
            sql: "SELECT 1".into(),
            sql_file: None,
            features: Vec::new(),
            description: String::new(),
        };
        assert_eq!(view.ttl().micros(), Some(90_000_000));
        view.ttl_seconds = Some(u64::MAX);
        assert_eq!(view.ttl().micros(), Some(i64::MAX));
        view.ttl_seconds = None;
        assert_eq!(view.ttl(), Ttl::default());
    }

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

//! A feature view is a SQL transformation of one batch source into features of
//! one entity, each row stamped with an event time.

use crate::ValueType;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The most features one view may declare: an online row stores its
/// number of values in two bytes.
pub const MAX_FEATURES_PER_VIEW: usize = u16::MAX as usize;

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
    use super::{Ttl, parse_ttl};

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

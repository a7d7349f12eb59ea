//! Durations as text: one grammar for every duration a user writes.
//!
//! A feature view's `ttl = "90d"`, `quiver serve`'s `header_timeout = "10s"`,
//! `quiver simulate --timeout 500ms` and the online stores' settings all read
//! [`parse`], which is [humantime]'s grammar: a number and a unit, possibly
//! several (`1h 30m`), units from `ns` to `y` (`ms`, `s`, `m`, `h`, `d`, `w`,
//! and their long names such as `days`), fractions allowed (`1.5s`). [`format()`] writes the same grammar back, so a value read, written
//! and read again is unchanged.
//!
//! [`text`] is the serde form of the same, for settings structs
//! (`#[serde(with = "quiver_core::duration::text")]`).

use std::time::Duration;

/// A text that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a duration ({reason}); write a number and a unit, such as `500ms`, `10s`, `2m` or `90d`"
)]
pub struct DurationError {
    /// The text as given.
    pub text: String,
    /// What humantime found wrong with it.
    pub reason: String,
}

/// Parses `500ms`, `10s`, `2m`, `12h`, `90d`, `2w` or a sum such as `1h 30m`.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text.trim()).map_err(|e| DurationError {
        text: text.to_string(),
        reason: e.to_string(),
    })
}

/// `duration` in the grammar [`parse`] reads (`1m 30s`, `500ms`).
pub fn format(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// Serde for a `Duration` written as text in the grammar of [`parse`].
pub mod text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes `duration` as text (`"10s"`).
    pub fn serialize<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*duration))
    }

    /// Reads text (`"10s"`); a bare number is refused, since its unit would be a guess.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum TextOrNumber {
            Text(String),
            Number(f64),
        }
        match TextOrNumber::deserialize(d)? {
            TextOrNumber::Text(text) => super::parse(&text).map_err(serde::de::Error::custom),
            TextOrNumber::Number(n) => Err(serde::de::Error::custom(format!(
                "`{n}` has no unit; write a duration as text, such as \"{n}s\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar_with_units() {
        assert_eq!(parse("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse("2w"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse(" 45s "), Ok(Duration::from_secs(45)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1_500)));
        for bad in ["", "d", "10", "-1d", "3 parsecs", "fast"] {
            let error = parse(bad).unwrap_err();
            assert_eq!(error.text, bad);
            assert!(error.to_string().contains("such as `500ms`"), "{error}");
        }
    }

    #[test]
    fn format_writes_what_parse_reads() {
        for duration in [
            Duration::from_millis(1_500),
            Duration::from_secs(90 * 86_400),
            Duration::from_micros(7),
        ] {
            assert_eq!(parse(&format(duration)), Ok(duration));
        }
        assert_eq!(format(Duration::from_secs(10)), "10s");
    }

    #[test]
    fn serde_reads_text_and_refuses_bare_numbers() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct S {
            #[serde(with = "text")]
            d: Duration,
        }
        let s: S = toml::from_str("d = \"1m 30s\"").unwrap();
        assert_eq!(s.d, Duration::from_secs(90));
        assert_eq!(toml::to_string(&s).unwrap().trim(), "d = \"1m 30s\"");
        let error = toml::from_str::<S>("d = 10").unwrap_err().to_string();
        assert!(error.contains("\"10s\""), "{error}");
        let error = toml::from_str::<S>("d = \"10 lightyears\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a duration"), "{error}");
    }
}

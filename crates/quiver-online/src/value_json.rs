//! How a feature value is written as JSON, the one rule for `quiver serve`'s
//! responses and the CLI's output, so that HTTP, gRPC and `quiver get` agree
//! on every value (docs/SERVING.md, "Values").
//!
//! Written straight into a byte buffer, for the server's hot path.

use crate::FeatureValue;
use std::io::Write;

/// Every value exactly as stored, so that JSON and gRPC (which sends the
/// double, the day number or the microseconds) always agree. What JSON has
/// no literal for is written as the protobuf JSON mapping writes it, and as
/// Feast's feature server does: NaN and the infinities as the strings
/// `"NaN"`, `"Infinity"` and `"-Infinity"`. Dates are `YYYY-MM-DD` and
/// timestamps RFC 3339 UTC; a year outside 0000–9999, which those formats
/// cannot hold, gets ISO 8601's expanded form (`+10000-01-01`, `-0001-…`).
#[inline]
pub fn write_value(out: &mut Vec<u8>, value: &FeatureValue) {
    match value {
        FeatureValue::Null => out.extend_from_slice(b"null"),
        FeatureValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        FeatureValue::Int64(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        // Shortest round-trip digits, as serde_json writes them.
        FeatureValue::Float64(f) if f.is_finite() => {
            out.extend_from_slice(zmij::Buffer::new().format_finite(*f).as_bytes())
        }
        FeatureValue::Float64(f) => write_str(out, non_finite_name(*f).unwrap_or("NaN")),
        FeatureValue::String(s) => write_str(out, s),
        FeatureValue::Date(days) => {
            out.push(b'"');
            write_date(out, i64::from(*days));
            out.push(b'"');
        }
        FeatureValue::Timestamp(micros) => write_time(out, *micros),
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// RFC 3339 UTC, fractional seconds only as precise as needed (chrono's
/// `AutoSi`); any `i64` of microseconds, years beyond 9999 included.
pub fn write_time(out: &mut Vec<u8>, micros: i64) {
    if let Some(time) = chrono::DateTime::from_timestamp_micros(micros)
        && (0..=9999).contains(&chrono::Datelike::year(&time))
    {
        let _ = write!(
            out,
            "\"{}\"",
            time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        );
        return;
    }
    out.push(b'"');
    write_date(out, micros.div_euclid(MICROS_PER_DAY));
    let in_day = micros.rem_euclid(MICROS_PER_DAY);
    let (seconds, fraction) = (in_day / 1_000_000, in_day % 1_000_000);
    let _ = write!(
        out,
        "T{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if fraction != 0 && fraction % 1000 == 0 {
        let _ = write!(out, ".{:03}", fraction / 1000);
    } else if fraction != 0 {
        let _ = write!(out, ".{fraction:06}");
    }
    out.extend_from_slice(b"Z\"");
}

/// `YYYY-MM-DD` for the proleptic Gregorian day `days` after 1970-01-01,
/// for any day an `i64` of microseconds or an `i32` of days can hold.
pub fn write_date(out: &mut Vec<u8>, days: i64) {
    // Howard Hinnant's `civil_from_days`, in i64 throughout.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    if (0..=9999).contains(&year) {
        let _ = write!(out, "{year:04}-{month:02}-{day:02}");
    } else {
        let _ = write!(out, "{year:+05}-{month:02}-{day:02}");
    }
}

/// How JSON writes a double it has no literal for, as protobuf's JSON
/// mapping does: `NaN`, `Infinity`, `-Infinity` (as strings); `None` for a
/// finite one.
pub fn non_finite_name(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f == f64::INFINITY {
        Some("Infinity")
    } else if f == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}

/// A JSON string: `text`, quoted and escaped.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("writing to a Vec cannot fail");
}

/// [`write_date`] as a string, without the quotes.
pub fn date_text(days: i64) -> String {
    let mut out = Vec::with_capacity(10);
    write_date(&mut out, days);
    String::from_utf8(out).expect("dates are ASCII")
}

/// [`write_time`] as a string, without the quotes.
pub fn time_text(micros: i64) -> String {
    let mut out = Vec::with_capacity(32);
    write_time(&mut out, micros);
    let text = String::from_utf8(out).expect("times are ASCII");
    text.trim_matches('"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn numbers_match_serde_json() {
        for f in [
            0.0,
            -0.0,
            1.0,
            0.1,
            1e21,
            1.5e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
            123.456_789_012_345_68,
        ] {
            let mut out = Vec::new();
            write_value(&mut out, &FeatureValue::Float64(f));
            assert_eq!(text(&out), serde_json::to_string(&f).unwrap(), "{f}");
        }
        for (f, json) in [
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"Infinity\""),
            (f64::NEG_INFINITY, "\"-Infinity\""),
        ] {
            let mut out = Vec::new();
            write_value(&mut out, &FeatureValue::Float64(f));
            assert_eq!(text(&out), json);
        }
        for i in [0, -1, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            write_value(&mut out, &FeatureValue::Int64(i));
            assert_eq!(text(&out), i.to_string());
        }
    }

    #[test]
    fn dates_and_times_match_chrono_and_extend_beyond_it() {
        // Every day chrono can write, sampled, and the edges of its range.
        let mut days: Vec<i64> = (-800_000..800_000).step_by(997).collect();
        days.extend([-719_528, -1, 0, 1, 2_932_896, 2_932_897, -719_529]);
        for day in days {
            let mut out = Vec::new();
            write_date(&mut out, day);
            let expected = chrono::NaiveDate::from_epoch_days(day as i32).unwrap();
            assert_eq!(text(&out), expected.to_string(), "day {day}");
        }
        for micros in [
            0,
            1,
            -1,
            1_000,
            1_500_000,
            253_402_300_799_999_999,
            253_402_300_800_000_000,
            -62_167_219_200_000_001,
        ] {
            let mut out = Vec::new();
            write_time(&mut out, micros);
            let seconds = micros.div_euclid(1_000_000);
            let nanos = (micros.rem_euclid(1_000_000) * 1000) as u32;
            let expected = chrono::DateTime::from_timestamp(seconds, nanos)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            assert_eq!(text(&out), format!("\"{expected}\""), "{micros} µs");
        }
        for (value, json) in [
            (FeatureValue::Date(i32::MAX), "\"+5881580-07-11\""),
            (FeatureValue::Date(i32::MIN), "\"-5877641-06-23\""),
            (
                FeatureValue::Timestamp(i64::MAX),
                "\"+294247-01-10T04:00:54.775807Z\"",
            ),
            (
                FeatureValue::Timestamp(i64::MIN),
                "\"-290308-12-21T19:59:05.224192Z\"",
            ),
        ] {
            let mut out = Vec::new();
            write_value(&mut out, &value);
            assert_eq!(text(&out), json, "{value:?}");
        }
    }

    #[test]
    fn text_forms_drop_the_quotes() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(time_text(86_400_000_000), "1970-01-02T00:00:00Z");
        assert_eq!(date_text(i64::from(i32::MAX)), "+5881580-07-11");
    }
}

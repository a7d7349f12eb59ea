//! JSON encoding of answers, written straight into one buffer: no
//! intermediate `serde_json::Value` tree on the hot path.

use crate::lookup::{Answer, Cell, EntityAnswer};
use crate::request::EntityId;
use quiver_online::FeatureValue;
use std::io::Write;

/// Entity key columns carry no event time of their own; like Feast, they get the epoch.
const KEY_TIMESTAMP: &str = "1970-01-01T00:00:00Z";

/// `{"metadata": {"feature_names": [...]}, "results": [{"values", "statuses", "event_timestamps"?}, ...]}`.
pub(crate) fn write_answer(answer: &Answer, out: &mut Vec<u8>) {
    let plan = &answer.plan;
    out.reserve(64 + answer.rows * plan.columns.len() * 32);
    out.extend_from_slice(b"{\"metadata\":{\"feature_names\":[");
    let mut first = true;
    for key in &plan.key_columns {
        comma(out, &mut first);
        write_str(out, &key.name);
    }
    for column in 0..plan.columns.len() {
        comma(out, &mut first);
        write_str(out, answer.feature_name(column));
    }
    out.extend_from_slice(b"]},\"results\":[");
    let mut first = true;
    for ids in &answer.ids {
        comma(out, &mut first);
        out.extend_from_slice(b"{\"values\":[");
        let mut first_id = true;
        for id in ids.iter() {
            comma(out, &mut first_id);
            write_id(out, id);
        }
        out.extend_from_slice(b"],\"statuses\":[");
        repeat(out, "\"PRESENT\"", ids.len());
        out.push(b']');
        if answer.include_event_timestamps {
            out.extend_from_slice(b",\"event_timestamps\":[");
            repeat(out, &format!("\"{KEY_TIMESTAMP}\""), ids.len());
            out.push(b']');
        }
        out.push(b'}');
    }
    for column in 0..plan.columns.len() {
        comma(out, &mut first);
        out.extend_from_slice(b"{\"values\":[");
        for row in 0..answer.rows {
            if row > 0 {
                out.push(b',');
            }
            match answer.cell(column, row) {
                Cell::Present(value, _) => write_value(out, value),
                _ => out.extend_from_slice(b"null"),
            }
        }
        out.extend_from_slice(b"],\"statuses\":[");
        for row in 0..answer.rows {
            if row > 0 {
                out.push(b',');
            }
            out.extend_from_slice(match answer.cell(column, row) {
                Cell::Present(..) => b"\"PRESENT\"",
                Cell::Null(_) => b"\"NULL_VALUE\"",
                Cell::NotFound => b"\"NOT_FOUND\"",
                Cell::OutsideMaxAge(_) => b"\"OUTSIDE_MAX_AGE\"",
            });
        }
        out.push(b']');
        if answer.include_event_timestamps {
            out.extend_from_slice(b",\"event_timestamps\":[");
            for row in 0..answer.rows {
                if row > 0 {
                    out.push(b',');
                }
                match answer.cell(column, row) {
                    Cell::Present(_, time) | Cell::Null(time) | Cell::OutsideMaxAge(time) => {
                        write_time(out, time)
                    }
                    Cell::NotFound => out.extend_from_slice(b"null"),
                }
            }
            out.push(b']');
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// `{"<join key>": id, "status": …, "<event time column>": …, "features": {…}}`.
pub(crate) fn write_entity(answer: &EntityAnswer, out: &mut Vec<u8>) {
    out.push(b'{');
    write_str(out, &answer.join_key);
    out.push(b':');
    write_id(out, &answer.id);
    out.extend_from_slice(b",\"status\":");
    out.extend_from_slice(if answer.outside_max_age {
        b"\"OUTSIDE_MAX_AGE\""
    } else {
        b"\"PRESENT\""
    });
    out.push(b',');
    write_str(out, &answer.layout.event_time);
    out.push(b':');
    write_time(out, answer.row.event_time_micros);
    out.extend_from_slice(b",\"features\":{");
    let mut first = true;
    for ((name, _), value) in answer.layout.features.iter().zip(&answer.row.values) {
        comma(out, &mut first);
        write_str(out, name);
        out.push(b':');
        write_value(out, value);
    }
    out.extend_from_slice(b"}}");
}

fn comma(out: &mut Vec<u8>, first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
}

fn repeat(out: &mut Vec<u8>, item: &str, times: usize) {
    for i in 0..times {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.as_bytes());
    }
}

fn write_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("writing to a Vec cannot fail");
}

fn write_id(out: &mut Vec<u8>, id: &EntityId) {
    match id {
        EntityId::Text(text) => write_str(out, text),
        EntityId::Int(i) => {
            let _ = write!(out, "{i}");
        }
    }
}

/// Dates as `YYYY-MM-DD`, timestamps as RFC 3339 UTC, NaN and infinities as null.
fn write_value(out: &mut Vec<u8>, value: &FeatureValue) {
    match value {
        FeatureValue::Null => out.extend_from_slice(b"null"),
        FeatureValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        FeatureValue::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        // serde_json writes shortest round-trip digits, and null for non-finite values.
        FeatureValue::Float64(f) => {
            serde_json::to_writer(out, f).expect("writing to a Vec cannot fail")
        }
        FeatureValue::String(s) => write_str(out, s),
        FeatureValue::Date(days) => match chrono::NaiveDate::from_epoch_days(*days) {
            Some(date) => {
                let _ = write!(out, "\"{date}\"");
            }
            None => out.extend_from_slice(b"null"),
        },
        FeatureValue::Timestamp(micros) => write_time(out, *micros),
    }
}

fn write_time(out: &mut Vec<u8>, micros: i64) {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(time) => {
            let _ = write!(
                out,
                "\"{}\"",
                time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            );
        }
        None => out.extend_from_slice(b"null"),
    }
}

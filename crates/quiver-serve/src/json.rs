//! JSON encoding of answers, written straight into one buffer: no
//! intermediate `serde_json::Value` tree on the hot path.

use crate::lookup::{Answer, EntityAnswer, ViewRead};
use crate::request::EntityId;
use quiver_online::FeatureValue;
use quiver_online::value_json::{write_str, write_time, write_value};

/// Entity key columns carry no event time of their own; like Feast, they get the epoch.
const KEY_TIMESTAMP: &str = "\"1970-01-01T00:00:00Z\"";

/// `{"metadata": {"feature_names": [...]}, "results": [{"values", "statuses", "event_timestamps"?}, ...]}`.
///
/// The hot path of batch requests: each cell is visited once, statuses are
/// kept as bytes and written in runs, and a view's event times are rendered
/// once and reused by every column of that view.
pub(crate) fn write_answer(answer: &Answer<'_>, out: &mut Vec<u8>) {
    let plan = &answer.plan;
    let names = plan.names_json(answer.full_feature_names);
    // Enough for the usual answer, so that it is written without a copy
    // into a larger buffer: per column its `{"values":[…],"statuses":[…]}`,
    // per cell a number and `"PRESENT"` (event times make it grow once).
    let columns = answer.ids.len() + plan.columns.len();
    out.reserve(64 + names.len() + columns * (40 + answer.rows * 24));
    out.extend_from_slice(b"{\"metadata\":{\"feature_names\":");
    out.extend_from_slice(names);
    out.extend_from_slice(b"},\"results\":[");
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
        write_run(out, Status::Present, ids.len());
        out.push(b']');
        if answer.include_event_timestamps {
            out.extend_from_slice(b",\"event_timestamps\":[");
            for i in 0..ids.len() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(KEY_TIMESTAMP.as_bytes());
            }
            out.push(b']');
        }
        out.push(b'}');
    }
    let mut statuses: Vec<Status> = Vec::with_capacity(answer.rows);
    // Per view of the plan: `[t1,t2,…]` of its rows, rendered on first use.
    let mut view_times: Vec<Option<Vec<u8>>> = vec![None; answer.reads.len()];
    for column in 0..plan.columns.len() {
        comma(out, &mut first);
        let feature = &plan.columns[column];
        let read = &answer.reads[feature.view];
        let position = read.positions[feature.slot];
        statuses.clear();
        // A row that lacks this feature: its cells are not found, yet the
        // view's event times list that row's time.
        let mut row_without_value = false;
        out.extend_from_slice(b"{\"values\":[");
        for (row, found) in read.rows.iter().enumerate() {
            if row > 0 {
                out.push(b',');
            }
            let status = match found {
                None => Status::NotFound,
                Some(found) if read.is_outside_max_age(found, answer.now_micros) => {
                    Status::OutsideMaxAge
                }
                Some(found) => match position.and_then(|p| found.values.get(p)) {
                    None => {
                        row_without_value = true;
                        Status::NotFound
                    }
                    Some(FeatureValue::Null) => Status::Null,
                    Some(value) => {
                        write_value(out, value);
                        Status::Present
                    }
                },
            };
            if status != Status::Present {
                out.extend_from_slice(b"null");
            }
            statuses.push(status);
        }
        out.extend_from_slice(b"],\"statuses\":[");
        write_statuses(out, &statuses);
        out.push(b']');
        if answer.include_event_timestamps {
            out.extend_from_slice(b",\"event_timestamps\":");
            if row_without_value {
                write_times(out, read, Some(&statuses));
            } else {
                let times = view_times[feature.view].get_or_insert_with(|| {
                    let mut times = Vec::with_capacity(2 + answer.rows * 30);
                    write_times(&mut times, read, None);
                    times
                });
                out.extend_from_slice(times);
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// `[t1,t2,…]`: each row's event time, null where there is no row or, given
/// `statuses`, where the cell is not found.
fn write_times(out: &mut Vec<u8>, read: &ViewRead, statuses: Option<&[Status]>) {
    out.push(b'[');
    for (row, found) in read.rows.iter().enumerate() {
        if row > 0 {
            out.push(b',');
        }
        let not_found = statuses.is_some_and(|s| s[row] == Status::NotFound);
        match found {
            Some(found) if !not_found => write_time(out, found.event_time_micros),
            _ => out.extend_from_slice(b"null"),
        }
    }
    out.push(b']');
}

/// A value's status, as Feast spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Present = 0,
    Null = 1,
    NotFound = 2,
    OutsideMaxAge = 3,
}

impl Status {
    fn json(self) -> &'static [u8] {
        match self {
            Status::Present => b"\"PRESENT\"",
            Status::Null => b"\"NULL_VALUE\"",
            Status::NotFound => b"\"NOT_FOUND\"",
            Status::OutsideMaxAge => b"\"OUTSIDE_MAX_AGE\"",
        }
    }
}

/// The statuses of one column, comma-separated, each run of equal
/// statuses (usually the whole column) written in a few copies.
fn write_statuses(out: &mut Vec<u8>, statuses: &[Status]) {
    let mut rest = statuses;
    let mut first = true;
    while let Some(&status) = rest.first() {
        let run = rest.iter().take_while(|s| **s == status).count();
        if !first {
            out.push(b',');
        }
        first = false;
        write_run(out, status, run);
        rest = &rest[run..];
    }
}

/// Statuses written per copy in [`write_run`].
const RUN_CHUNK: usize = 64;

/// `status` `times` times, comma-separated, copied up to [`RUN_CHUNK`] at a time.
fn write_run(out: &mut Vec<u8>, status: Status, times: usize) {
    if times == 1 {
        out.extend_from_slice(status.json());
        return;
    }
    // Per status, `"S","S",…,"S",` for RUN_CHUNK items, built once.
    static CHUNKS: std::sync::LazyLock<[Vec<u8>; 4]> = std::sync::LazyLock::new(|| {
        [
            Status::Present,
            Status::Null,
            Status::NotFound,
            Status::OutsideMaxAge,
        ]
        .map(|status| {
            let mut chunk = Vec::with_capacity(RUN_CHUNK * (status.json().len() + 1));
            for _ in 0..RUN_CHUNK {
                chunk.extend_from_slice(status.json());
                chunk.push(b',');
            }
            chunk
        })
    });
    let chunk = &CHUNKS[status as usize];
    let width = status.json().len() + 1;
    let mut left = times;
    while left > 0 {
        let n = left.min(RUN_CHUNK);
        left -= n;
        // The last item of the whole run has no comma after it.
        out.extend_from_slice(&chunk[..n * width - usize::from(left == 0)]);
    }
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

fn write_id(out: &mut Vec<u8>, id: &EntityId<'_>) {
    match id {
        EntityId::Text(text) => write_str(out, text),
        EntityId::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap()
    }

    #[test]
    fn runs_are_comma_separated_at_every_length() {
        for status in [Status::Present, Status::OutsideMaxAge] {
            for times in [0, 1, 2, 63, 64, 65, 128, 200] {
                let mut out = Vec::new();
                write_run(&mut out, status, times);
                let item = text(status.json());
                assert_eq!(text(&out), vec![item; times].join(","), "{times} × {item}");
            }
        }
    }

    #[test]
    fn statuses_keep_their_order() {
        use Status::*;
        let statuses = [
            Present,
            Present,
            Null,
            NotFound,
            NotFound,
            OutsideMaxAge,
            Present,
        ];
        let mut out = Vec::new();
        write_statuses(&mut out, &statuses);
        let parsed: Vec<String> = serde_json::from_str(&format!("[{}]", text(&out))).unwrap();
        assert_eq!(
            parsed,
            [
                "PRESENT",
                "PRESENT",
                "NULL_VALUE",
                "NOT_FOUND",
                "NOT_FOUND",
                "OUTSIDE_MAX_AGE",
                "PRESENT"
            ]
        );
    }
}

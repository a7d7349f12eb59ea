//! [`SimResult`]: what one run (or several merged) measured, and its file
//! format. Histograms are stored in HdrHistogram's compressed V2 encoding,
//! base64 (the `HISTF…` strings other HdrHistogram tools read), so merging
//! result files adds the exact counts: percentiles of a merge are those of one
//! run over all the requests, not an average of percentiles.

use crate::record::{Recorder, Sample, SecondRow, new_histogram};
use crate::{SimError, SimSettings};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// The `format` field of every result file.
pub const RESULT_FORMAT: &str = "quiver-simulate-result/1";

/// Raw latencies kept in a result (merges thin them back to this many).
const MAX_SAMPLES: usize = 20_000;

/// What a simulation measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimResult {
    /// Always [`RESULT_FORMAT`].
    pub format: String,
    /// The settings of the run (of the first file, for a merge).
    pub settings: SimSettings,
    /// Load generators whose measurements this holds: 1, or the number merged.
    pub generators: u32,
    /// When the (earliest) run started, RFC 3339 UTC.
    pub started_at: String,
    /// Counts and throughput.
    pub totals: Totals,
    /// Latency from each request's intended send time (equal to service time
    /// in a closed loop).
    pub response_time: Latency,
    /// Latency from each request's actual send time.
    pub service_time: Latency,
    /// Per-second rows, by completion time.
    pub seconds: Vec<SecondRow>,
    /// A uniform sample of raw latencies: `[seconds since start, response µs]`.
    pub samples: Vec<Sample>,
    /// One message per error kind, to see why requests failed.
    pub error_examples: BTreeMap<String, String>,
}

/// Counts and throughput of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Recorded requests, failed ones included.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Failed requests by kind (`timeout`, `http_503`, …).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// From the start of the measurement to the last completed request.
    pub elapsed_secs: f64,
    /// `requests / elapsed_secs`.
    pub throughput_rps: f64,
    /// Entity rows asked for per second (`throughput × batch size`).
    pub ids_per_second: f64,
}

/// One latency measure: the exact histogram and its usual percentiles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    /// Nanoseconds, three significant digits.
    #[serde(with = "histogram_base64")]
    pub histogram: Histogram<u64>,
    /// Derived from the histogram; recomputed whenever a result is loaded.
    pub summary: Summary,
}

/// The percentiles people quote, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// 99.99th percentile.
    pub p9999_us: f64,
    /// Largest.
    pub max_us: f64,
}

impl Summary {
    /// `(label, microseconds)` in the order every report prints them: the one
    /// list the terminal table, the HTML report and `compare` share.
    pub fn rows(&self) -> [(&'static str, f64); 8] {
        [
            ("p50", self.p50_us),
            ("p90", self.p90_us),
            ("p99", self.p99_us),
            ("p99.9", self.p999_us),
            ("p99.99", self.p9999_us),
            ("max", self.max_us),
            ("mean", self.mean_us),
            ("min", self.min_us),
        ]
    }

    /// The summary of a nanosecond histogram.
    pub fn of(h: &Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Summary {
            count: h.len(),
            min_us: us(h.min()),
            mean_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            p9999_us: us(h.value_at_quantile(0.9999)),
            max_us: us(h.max()),
        }
    }
}

impl Latency {
    fn new(histogram: Histogram<u64>) -> Latency {
        let summary = Summary::of(&histogram);
        Latency { histogram, summary }
    }
}

impl SimResult {
    /// Gathers the workers' recorders of one run.
    pub fn from_recorders(
        settings: SimSettings,
        started_at: chrono::DateTime<chrono::Utc>,
        measure_start: Instant,
        recorders: Vec<Recorder>,
    ) -> SimResult {
        let mut response = new_histogram();
        let mut service = new_histogram();
        let mut seconds: Vec<SecondRow> = Vec::new();
        let mut errors_by_kind = BTreeMap::new();
        let mut error_examples = BTreeMap::new();
        let mut samples = Vec::new();
        let mut last_done: Option<Instant> = None;
        for r in recorders {
            // Auto-resizing histograms: adding cannot fail.
            let _ = response.add(&r.response);
            let _ = service.add(&r.service);
            merge_seconds(&mut seconds, &r.seconds);
            for (kind, n) in r.errors {
                *errors_by_kind.entry(kind).or_insert(0) += n;
            }
            for (kind, example) in r.error_examples {
                error_examples.entry(kind).or_insert(example);
            }
            samples.extend(r.samples);
            last_done = last_done.max(r.last_done);
        }
        let elapsed_secs = last_done.map_or(0.0, |done| {
            done.saturating_duration_since(measure_start).as_secs_f64()
        });
        let mut result = SimResult {
            format: RESULT_FORMAT.to_string(),
            totals: Totals {
                requests: response.len(),
                errors: errors_by_kind.values().sum(),
                errors_by_kind,
                elapsed_secs,
                throughput_rps: 0.0,
                ids_per_second: 0.0,
            },
            settings,
            generators: 1,
            started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            response_time: Latency::new(response),
            service_time: Latency::new(service),
            seconds,
            samples,
            error_examples,
        };
        result.refresh();
        result
    }

    /// Recomputes what derives from the histograms and counts.
    fn refresh(&mut self) {
        self.response_time.summary = Summary::of(&self.response_time.histogram);
        self.service_time.summary = Summary::of(&self.service_time.histogram);
        let t = &mut self.totals;
        t.throughput_rps = if t.elapsed_secs > 0.0 {
            t.requests as f64 / t.elapsed_secs
        } else {
            0.0
        };
        t.ids_per_second = t.throughput_rps * self.settings.batch_size as f64;
    }

    /// Combines results of generators that ran at the same time (or of runs
    /// to be read as one): histograms and per-second rows add up exactly,
    /// elapsed time is the longest, throughput is the combined rate.
    pub fn merge(results: Vec<SimResult>) -> Result<SimResult, SimError> {
        let mut results = results.into_iter();
        let mut merged = results
            .next()
            .ok_or_else(|| SimError::Histogram("there are no results to merge".to_string()))?;
        for other in results {
            merged
                .response_time
                .histogram
                .add(&other.response_time.histogram)
                .map_err(|e| SimError::Histogram(format!("{e:?}")))?;
            merged
                .service_time
                .histogram
                .add(&other.service_time.histogram)
                .map_err(|e| SimError::Histogram(format!("{e:?}")))?;
            merge_seconds(&mut merged.seconds, &other.seconds);
            for (kind, n) in other.totals.errors_by_kind {
                *merged.totals.errors_by_kind.entry(kind).or_insert(0) += n;
            }
            for (kind, example) in other.error_examples {
                merged.error_examples.entry(kind).or_insert(example);
            }
            merged.totals.requests += other.totals.requests;
            merged.totals.errors += other.totals.errors;
            merged.totals.elapsed_secs = merged.totals.elapsed_secs.max(other.totals.elapsed_secs);
            merged.generators += other.generators;
            if other.started_at < merged.started_at {
                merged.started_at = other.started_at;
            }
            merged.samples.extend(other.samples);
        }
        if merged.samples.len() > MAX_SAMPLES {
            let step = merged.samples.len().div_ceil(MAX_SAMPLES);
            merged.samples = merged.samples.into_iter().step_by(step).collect();
        }
        merged.refresh();
        Ok(merged)
    }

    /// Writes the result as JSON.
    pub fn save(&self, path: &Path) -> Result<(), SimError> {
        let text =
            serde_json::to_string_pretty(self).map_err(|e| SimError::Histogram(e.to_string()))?;
        std::fs::write(path, text).map_err(SimError::io(path))
    }

    /// Reads a result file.
    pub fn load(path: &Path) -> Result<SimResult, SimError> {
        let bad = |reason: String| SimError::BadResult {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(SimError::io(path))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(RESULT_FORMAT) => {}
            Some(other) => {
                return Err(bad(format!(
                    "format `{other}`, this quiver reads `{RESULT_FORMAT}`"
                )));
            }
            None => return Err(bad("it has no `format` field".to_string())),
        }
        let mut result: SimResult =
            serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        // A run writes one row per second, numbered from 0; merging places
        // rows by their number, so a hand-edited number must not reach it.
        if let Some((i, row)) = result
            .seconds
            .iter()
            .enumerate()
            .find(|(i, row)| row.second != *i as u64)
        {
            return Err(bad(format!(
                "per-second row {i} is numbered {}; rows are numbered 0, 1, 2, …",
                row.second
            )));
        }
        result.refresh();
        Ok(result)
    }

    /// Writes the per-second rows as CSV (latencies in microseconds).
    pub fn save_seconds_csv(&self, path: &Path) -> Result<(), SimError> {
        let mut writer = csv::Writer::from_path(path)
            .map_err(|e| SimError::io(path)(std::io::Error::other(e)))?;
        let io = |e: csv::Error| SimError::io(path)(std::io::Error::other(e));
        writer
            .write_record([
                "second",
                "requests",
                "errors",
                "response_mean_us",
                "response_min_us",
                "response_max_us",
                "service_mean_us",
                "service_min_us",
                "service_max_us",
            ])
            .map_err(io)?;
        for row in &self.seconds {
            let mean = |sum: u64| {
                if row.requests == 0 {
                    0.0
                } else {
                    sum as f64 / row.requests as f64 / 1000.0
                }
            };
            let us = |ns: u64| ns as f64 / 1000.0;
            writer
                .write_record([
                    row.second.to_string(),
                    row.requests.to_string(),
                    row.errors.to_string(),
                    format!("{:.3}", mean(row.response_sum_ns)),
                    format!("{:.3}", us(row.response_min_ns)),
                    format!("{:.3}", us(row.response_max_ns)),
                    format!("{:.3}", mean(row.service_sum_ns)),
                    format!("{:.3}", us(row.service_min_ns)),
                    format!("{:.3}", us(row.service_max_ns)),
                ])
                .map_err(io)?;
        }
        writer.flush().map_err(SimError::io(path))
    }
}

fn merge_seconds(into: &mut Vec<SecondRow>, rows: &[SecondRow]) {
    for row in rows {
        let index = row.second as usize;
        if into.len() <= index {
            let from = into.len() as u64;
            into.extend((from..=row.second).map(|second| SecondRow {
                second,
                ..SecondRow::default()
            }));
        }
        into[index].merge(row);
    }
}

/// Serialises a histogram as base64 of HdrHistogram's compressed V2 encoding.
pub fn encode_histogram(h: &Histogram<u64>) -> Result<String, SimError> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| SimError::Histogram(format!("{e:?}")))?;
    Ok(STANDARD.encode(bytes))
}

/// Parses what [`encode_histogram`] wrote.
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, SimError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| SimError::Histogram(format!("not base64: {e}")))?;
    let decoded: Histogram<u64> = Deserializer::new()
        .deserialize(&mut std::io::Cursor::new(bytes))
        .map_err(|e| SimError::Histogram(format!("not an HdrHistogram V2 encoding: {e:?}")))?;
    // Copy into an auto-resizing histogram so later merges never overflow.
    let mut histogram = new_histogram();
    histogram
        .add(&decoded)
        .map_err(|e| SimError::Histogram(format!("{e:?}")))?;
    Ok(histogram)
}

mod histogram_base64 {
    use hdrhistogram::Histogram;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_histogram(h).map_err(serde::ser::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let text = String::deserialize(d)?;
        super::decode_histogram(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_encoding_exactly() {
        let mut h = new_histogram();
        for v in [1u64, 999, 1_000, 37_500, 123_456_789, 5_000_000_000] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let back = decode_histogram(&encode_histogram(&h).unwrap()).unwrap();
        assert_eq!(back, h);
        assert!(encode_histogram(&h).unwrap().starts_with("HISTF"));
    }

    #[test]
    fn garbage_is_not_a_histogram() {
        assert!(decode_histogram("not base64!").is_err());
        assert!(decode_histogram("aGVsbG8=").is_err());
    }
}

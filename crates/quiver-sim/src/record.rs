//! Recording outcomes on the hot path: each worker owns a [`Recorder`] (two
//! HdrHistograms, per-second rows, error counts and a sample of raw latencies)
//! and nothing is shared until the run ends, except a once-a-second flush to
//! the live line.
//!
//! **How failures count.** A failed request is recorded in the latency
//! histograms at the time it took to fail, exactly like a success, and is also
//! counted under its [`RequestError::kind`]. A timeout is recorded at the time
//! waited (a lower bound of the true latency). So percentiles never silently
//! drop the slow or failed requests; the error columns say how many of the
//! recorded requests failed.

use hdrhistogram::Histogram;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why one request failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestError {
    /// No answer within the timeout.
    Timeout,
    /// The connection could not be (re)opened.
    Connect(String),
    /// An HTTP answer other than 2xx, and the start of its body (the
    /// server's explanation).
    Status(u16, String),
    /// A gRPC status other than OK.
    Grpc(tonic::Code, String),
    /// The online store returned an error.
    Store(String),
    /// The connection broke mid-request.
    Transport(String),
}

impl RequestError {
    /// The name errors are counted under: `timeout`, `connect`, `http_503`,
    /// `grpc_unavailable`, `store` or `transport`.
    pub fn kind(&self) -> String {
        match self {
            RequestError::Timeout => "timeout".to_string(),
            RequestError::Connect(_) => "connect".to_string(),
            RequestError::Status(code, _) => format!("http_{code}"),
            RequestError::Grpc(code, _) => {
                let name = format!("{code:?}");
                let mut snake = String::from("grpc_");
                for (i, c) in name.chars().enumerate() {
                    if c.is_ascii_uppercase() && i > 0 {
                        snake.push('_');
                    }
                    snake.push(c.to_ascii_lowercase());
                }
                snake
            }
            RequestError::Store(_) => "store".to_string(),
            RequestError::Transport(_) => "transport".to_string(),
        }
    }

    /// A human description, kept once per kind as an example.
    pub fn describe(&self) -> String {
        match self {
            RequestError::Timeout => "no answer within the timeout".to_string(),
            RequestError::Connect(e) | RequestError::Store(e) | RequestError::Transport(e) => {
                e.clone()
            }
            RequestError::Status(code, body) if body.is_empty() => format!("HTTP status {code}"),
            RequestError::Status(code, body) => format!("HTTP status {code}: {body}"),
            RequestError::Grpc(code, message) => format!("gRPC {code:?}: {message}"),
        }
    }
}

/// Requests that completed within one second of the measurement, by
/// completion time. Latencies in nanoseconds; means are `sum / requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SecondRow {
    /// Seconds since the measurement started.
    pub second: u64,
    /// Requests completed in this second, failed ones included.
    pub requests: u64,
    /// Of those, failed.
    pub errors: u64,
    /// Sum of response times.
    pub response_sum_ns: u64,
    /// Shortest response time (0 when no requests).
    pub response_min_ns: u64,
    /// Longest response time.
    pub response_max_ns: u64,
    /// Sum of service times.
    pub service_sum_ns: u64,
    /// Shortest service time.
    pub service_min_ns: u64,
    /// Longest service time.
    pub service_max_ns: u64,
}

impl SecondRow {
    fn add(&mut self, response_ns: u64, service_ns: u64, failed: bool) {
        if self.requests == 0 {
            self.response_min_ns = response_ns;
            self.service_min_ns = service_ns;
        }
        self.requests += 1;
        self.errors += u64::from(failed);
        self.response_sum_ns = self.response_sum_ns.saturating_add(response_ns);
        self.response_min_ns = self.response_min_ns.min(response_ns);
        self.response_max_ns = self.response_max_ns.max(response_ns);
        self.service_sum_ns = self.service_sum_ns.saturating_add(service_ns);
        self.service_min_ns = self.service_min_ns.min(service_ns);
        self.service_max_ns = self.service_max_ns.max(service_ns);
    }

    /// Combines another generator's row for the same second.
    pub fn merge(&mut self, other: &SecondRow) {
        if other.requests == 0 {
            return;
        }
        if self.requests == 0 {
            *self = SecondRow {
                second: self.second,
                ..*other
            };
            return;
        }
        self.requests += other.requests;
        self.errors += other.errors;
        self.response_sum_ns = self.response_sum_ns.saturating_add(other.response_sum_ns);
        self.response_min_ns = self.response_min_ns.min(other.response_min_ns);
        self.response_max_ns = self.response_max_ns.max(other.response_max_ns);
        self.service_sum_ns = self.service_sum_ns.saturating_add(other.service_sum_ns);
        self.service_min_ns = self.service_min_ns.min(other.service_min_ns);
        self.service_max_ns = self.service_max_ns.max(other.service_max_ns);
    }
}

/// One raw latency: seconds since the measurement started (at completion)
/// and the response time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample(pub f32, pub f32);

/// A new latency histogram: nanoseconds, three significant digits, growing
/// as needed so no value is ever clamped.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is a valid histogram precision")
}

/// Records `ns`, growing the histogram if needed (`saturating_record` would
/// clamp instead of growing, hiding exactly the outliers that matter).
pub fn record_ns(h: &mut Histogram<u64>, ns: u64) {
    if h.record(ns).is_err() {
        h.saturating_record(ns);
    }
}

/// Everything one worker measured.
pub struct Recorder {
    measure_start: Instant,
    /// Response times (from the intended send), ns.
    pub response: Histogram<u64>,
    /// Service times (from the actual send), ns.
    pub service: Histogram<u64>,
    /// Per-second rows, indexed by second.
    pub seconds: Vec<SecondRow>,
    /// Failed requests by kind.
    pub errors: BTreeMap<String, u64>,
    /// One message per error kind.
    pub error_examples: BTreeMap<String, String>,
    /// A uniform sample of raw latencies (reservoir sampling).
    pub samples: Vec<Sample>,
    sample_capacity: usize,
    seen: u64,
    rng: Pcg64Mcg,
    /// When the last recorded request completed.
    pub last_done: Option<Instant>,
    /// Whether warm-up requests went into the histograms (cleared at the
    /// first measured request).
    warmed: bool,
    live: Arc<LiveShared>,
    live_second: u64,
    live_pending: Histogram<u64>,
    live_requests: u64,
    live_errors: u64,
}

impl Recorder {
    /// A recorder whose seconds count from `measure_start`.
    pub fn new(
        measure_start: Instant,
        sample_capacity: usize,
        seed: u64,
        live: Arc<LiveShared>,
    ) -> Recorder {
        Recorder {
            measure_start,
            response: new_histogram(),
            service: new_histogram(),
            seconds: Vec::new(),
            errors: BTreeMap::new(),
            error_examples: BTreeMap::new(),
            samples: Vec::with_capacity(sample_capacity),
            sample_capacity,
            seen: 0,
            rng: Pcg64Mcg::seed_from_u64(seed),
            last_done: None,
            warmed: false,
            live,
            live_second: 0,
            live_pending: new_histogram(),
            live_requests: 0,
            live_errors: 0,
        }
    }

    /// Records one request: scheduled at `intended`, sent at `sent`, answered
    /// (or failed) at `done`. Requests scheduled before the measurement
    /// started are warm-up and not recorded.
    pub fn record(
        &mut self,
        intended: Instant,
        sent: Instant,
        done: Instant,
        outcome: &Result<(), RequestError>,
    ) {
        let response_ns = nanos(done.saturating_duration_since(intended));
        let service_ns = nanos(done.saturating_duration_since(sent));
        if intended < self.measure_start {
            // Warm-up requests are recorded and then forgotten, so the
            // histograms have grown and their memory is mapped before the
            // measurement: growing them, and the kernel zeroing fresh
            // (huge) pages on first touch, stalled every worker for up to
            // 100 ms at the start of the measurement.
            record_ns(&mut self.response, response_ns);
            record_ns(&mut self.service, service_ns);
            record_ns(&mut self.live_pending, response_ns);
            self.warmed = true;
            return;
        }
        self.forget_warm_up();
        record_ns(&mut self.response, response_ns);
        record_ns(&mut self.service, service_ns);
        let failed = outcome.is_err();
        if let Err(error) = outcome {
            let kind = error.kind();
            if !self.error_examples.contains_key(&kind) {
                self.error_examples.insert(kind.clone(), error.describe());
            }
            *self.errors.entry(kind).or_insert(0) += 1;
        }
        let since_start = done.saturating_duration_since(self.measure_start);
        let second = since_start.as_secs();
        let index = second as usize;
        if self.seconds.len() <= index {
            let from = self.seconds.len() as u64;
            self.seconds.extend((from..=second).map(|second| SecondRow {
                second,
                ..SecondRow::default()
            }));
        }
        self.seconds[index].add(response_ns, service_ns, failed);
        self.sample(since_start, response_ns);
        self.last_done = Some(self.last_done.map_or(done, |last| last.max(done)));

        if second != self.live_second {
            self.flush_live();
            self.live_second = second;
        }
        record_ns(&mut self.live_pending, response_ns);
        self.live_requests += 1;
        self.live_errors += u64::from(failed);
    }

    /// Reservoir sampling (Algorithm R): every recorded request has the same
    /// chance to be in the sample, however long the run.
    fn sample(&mut self, since_start: Duration, response_ns: u64) {
        self.seen += 1;
        let sample = Sample(since_start.as_secs_f32(), response_ns as f32 / 1000.0);
        if self.samples.len() < self.sample_capacity {
            self.samples.push(sample);
        } else {
            let slot = self.rng.random_range(0..self.seen);
            if let Some(kept) = self.samples.get_mut(slot as usize) {
                *kept = sample;
            }
        }
    }

    /// Ends recording: forgets warm-up requests if no measured request
    /// came after them, and hands the rest to the live line.
    pub fn finish(&mut self) {
        self.forget_warm_up();
        self.flush_live();
    }

    /// Empties the histograms of warm-up requests, keeping their memory.
    fn forget_warm_up(&mut self) {
        if self.warmed {
            self.response.reset();
            self.service.reset();
            self.live_pending.reset();
            self.warmed = false;
        }
    }

    /// Hands what was recorded since the last flush to the live line.
    fn flush_live(&mut self) {
        if self.live_requests == 0 {
            return;
        }
        self.live
            .add(&self.live_pending, self.live_requests, self.live_errors);
        self.live_pending.reset();
        self.live_requests = 0;
        self.live_errors = 0;
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// What workers have measured so far, for the live line: recorders add
/// to it once a second, and `live.rs` reads it.
#[derive(Default)]
pub struct LiveShared {
    histogram: Mutex<Option<Histogram<u64>>>,
    requests: AtomicU64,
    errors: AtomicU64,
    /// Set once the warm-up is over.
    pub measuring: AtomicBool,
}

impl LiveShared {
    /// Adds a worker's latest second.
    pub fn add(&self, histogram: &Histogram<u64>, requests: u64, errors: u64) {
        if let Ok(mut shared) = self.histogram.lock() {
            let shared = shared.get_or_insert_with(new_histogram);
            // Both histograms auto-resize, so adding cannot fail.
            let _ = shared.add(histogram);
        }
        self.requests.fetch_add(requests, Ordering::Relaxed);
        self.errors.fetch_add(errors, Ordering::Relaxed);
    }

    /// Requests, errors, p50 and p99 (ns) so far.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        let (p50, p99) = self
            .histogram
            .lock()
            .ok()
            .and_then(|h| {
                h.as_ref()
                    .map(|h| (h.value_at_quantile(0.5), h.value_at_quantile(0.99)))
            })
            .unwrap_or((0, 0));
        (
            self.requests.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
            p50,
            p99,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_requests_are_not_recorded_and_failures_are() {
        let start = Instant::now();
        let mut r = Recorder::new(start, 10, 1, Arc::new(LiveShared::default()));
        let before = start - Duration::from_millis(5);
        r.record(before, before, start + Duration::from_secs(9), &Ok(()));
        assert!(r.seconds.is_empty() && r.samples.is_empty());
        let t = start + Duration::from_millis(1);
        r.record(t, t, t + Duration::from_millis(2), &Ok(()));
        r.record(
            t,
            t + Duration::from_millis(1),
            t + Duration::from_millis(4),
            &Err(RequestError::Status(503, String::new())),
        );
        // The warm-up request (9 s) is gone from the histograms.
        assert_eq!(r.response.len(), 2);
        assert!(r.response.max() < 1_000_000_000);
        assert_eq!(r.errors.get("http_503"), Some(&1));
        assert_eq!(r.seconds[0].requests, 2);
        assert_eq!(r.seconds[0].errors, 1);
        // Response time counts from the intended time, service time from the send.
        assert!(r.response.max() >= 3_990_000);
        assert!(r.service.max() < 3_100_000);
    }

    #[test]
    fn a_worker_with_only_warm_up_requests_records_nothing() {
        let start = Instant::now();
        let mut r = Recorder::new(start, 10, 1, Arc::new(LiveShared::default()));
        let before = start - Duration::from_millis(5);
        r.record(before, before, start, &Ok(()));
        r.finish();
        assert_eq!(r.response.len(), 0);
        assert_eq!(r.service.len(), 0);
    }

    #[test]
    fn grpc_kinds_are_snake_case() {
        let e = RequestError::Grpc(tonic::Code::ResourceExhausted, String::new());
        assert_eq!(e.kind(), "grpc_resource_exhausted");
        assert_eq!(RequestError::Timeout.kind(), "timeout");
    }

    #[test]
    fn the_reservoir_keeps_its_capacity() {
        let start = Instant::now();
        let mut r = Recorder::new(start, 100, 1, Arc::new(LiveShared::default()));
        for _ in 0..10_000 {
            let now = Instant::now();
            r.record(now, now, now, &Ok(()));
        }
        assert_eq!(r.samples.len(), 100);
    }
}

//! The live line: request rate, errors and p50/p99 so far, redrawn twice a
//! second. Workers hand over their numbers once per second of the run
//! (see [`crate::record::Recorder`]), so the hot path never locks.

use crate::record::new_histogram;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What workers have measured so far, for the live line.
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

/// Draws the live line on stderr until dropped.
pub struct LiveLine {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl LiveLine {
    /// Starts redrawing from `shared`; `planned` describes the run's end.
    pub fn start(shared: std::sync::Arc<LiveShared>, planned: String) -> LiveLine {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        let line = bar.clone();
        let task = tokio::spawn(async move {
            let mut last = (Instant::now(), 0u64);
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if !shared.measuring.load(Ordering::Relaxed) {
                    line.set_message(format!("warming up… ({planned})"));
                    continue;
                }
                let (requests, errors, p50, p99) = shared.snapshot();
                let now = Instant::now();
                let rate = (requests - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                last = (now, requests);
                line.set_message(format!(
                    "{rate:>9.0} req/s  {requests} requests  {errors} errors  p50 {}  p99 {}  ({planned})",
                    crate::report::format_ns(p50),
                    crate::report::format_ns(p99),
                ));
            }
        });
        LiveLine { bar, task }
    }
}

impl Drop for LiveLine {
    fn drop(&mut self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

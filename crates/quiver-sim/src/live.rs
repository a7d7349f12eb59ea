//! The live line: request rate, errors and p50/p99 so far, redrawn twice a
//! second from [`LiveShared`], which workers' [`crate::record::Recorder`]s
//! feed once per second of the run, so the hot path never locks.

use crate::record::LiveShared;
use crate::units::format_ns;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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
                    format_ns(p50),
                    format_ns(p99),
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

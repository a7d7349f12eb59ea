//! Progress of a job as people see it: a spinner with the phase, rows so far
//! and elapsed time. Invisible when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// A handle the job reports its progress to.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A spinner on stderr (drawn only when stderr is a terminal).
    pub fn stderr() -> Progress {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.green} [{elapsed_precise}] {msg} {human_pos} rows",
            )
            .expect("the template is valid"),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { bar }
    }

    /// Reports nothing (tests, `--quiet`).
    pub fn hidden() -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
        }
    }

    /// Starts a phase; the row count restarts at zero.
    pub fn phase(&self, message: impl Into<String>) {
        self.bar.set_position(0);
        self.bar.set_message(message.into());
    }

    /// Adds `rows` to the phase's count.
    pub fn rows(&self, rows: usize) {
        self.bar.inc(rows as u64);
    }

    /// Turns the spinner into a bar of `total` rows (work whose size is known).
    pub fn total(&self, total: u64) {
        self.bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.green} [{elapsed_precise}] {msg} {wide_bar} {human_pos}/{human_len} rows",
            )
            .expect("the template is valid"),
        );
        self.bar.set_length(total);
    }

    /// Sets the phase's count (for work that reports totals, not increments).
    pub fn position(&self, rows: u64) {
        self.bar.set_position(rows);
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

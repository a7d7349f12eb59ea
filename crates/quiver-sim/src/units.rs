//! How the simulator's numbers read on a terminal and in reports: latencies
//! in the unit that reads best, durations in seconds or milliseconds. Shared
//! by the live line and `report`, so neither imports the other.

use std::time::Duration;

/// A latency in nanoseconds, in the unit that reads best.
pub fn format_ns(ns: u64) -> String {
    format_us(ns as f64 / 1000.0)
}

/// A latency in microseconds, in the unit that reads best.
pub fn format_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.3} ms", us / 1000.0)
    } else {
        format!("{:.3} s", us / 1_000_000.0)
    }
}

/// A duration as `30 s` or `500 ms`.
pub fn format_secs(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else {
        format!("{secs} s")
    }
}

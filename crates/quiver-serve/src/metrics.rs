//! Prometheus metrics: the recorder (installed once per process) and the
//! per-endpoint handles, registered at startup so the hot path only updates
//! atomics instead of looking metrics up by name.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets, in seconds: 25 µs to 1 s.
const LATENCY_BUCKETS: [f64; 15] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0,
];

/// Installs the Prometheus recorder if no recorder is installed yet, and
/// returns its handle; `None` when another recorder owns the process.
pub(crate) fn recorder() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe();
                    // Histograms keep a rolling window; upkeep trims it.
                    let upkeep = handle.clone();
                    std::thread::Builder::new()
                        .name("metrics-upkeep".to_string())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(Duration::from_secs(5));
                                upkeep.run_upkeep();
                            }
                        })
                        .ok()?;
                    Some(handle)
                }
                Err(_) => None,
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(
        "quiver_serve_requests_total",
        "Requests answered, by endpoint."
    );
    metrics::describe_counter!(
        "quiver_serve_errors_total",
        "Requests answered with an error, by endpoint and error code."
    );
    metrics::describe_histogram!(
        "quiver_serve_request_seconds",
        metrics::Unit::Seconds,
        "Time to answer a request, by endpoint."
    );
    metrics::describe_histogram!(
        "quiver_serve_store_read_seconds",
        metrics::Unit::Seconds,
        "Time to read one view's rows from the online store, by view."
    );
    metrics::describe_counter!(
        "quiver_serve_overloaded_total",
        "Requests refused because max_concurrent_requests were in flight."
    );
    metrics::describe_counter!(
        "quiver_serve_connections_shed_total",
        "Connections closed before sending a request, to make room at max_connections."
    );
    metrics::describe_counter!(
        "quiver_serve_accept_errors_total",
        "Failed accepts (out of file descriptors, most often), by listener; each is followed by a backoff."
    );
    metrics::describe_counter!(
        "quiver_serve_connections_refused_total",
        "New connections closed at once: max_connections were open, each had sent a request."
    );
}

/// The metrics of one endpoint.
pub(crate) struct EndpointMetrics {
    endpoint: &'static str,
    requests: metrics::Counter,
    seconds: metrics::Histogram,
}

impl EndpointMetrics {
    pub fn new(endpoint: &'static str) -> EndpointMetrics {
        EndpointMetrics {
            endpoint,
            requests: metrics::counter!("quiver_serve_requests_total", "endpoint" => endpoint),
            seconds: metrics::histogram!("quiver_serve_request_seconds", "endpoint" => endpoint),
        }
    }

    /// Counts one request that took `elapsed`, failed with `error_code` if any.
    pub fn record(&self, elapsed: Duration, error_code: Option<&'static str>) {
        self.requests.increment(1);
        self.seconds.record(elapsed.as_secs_f64());
        if let Some(code) = error_code {
            metrics::counter!(
                "quiver_serve_errors_total",
                "endpoint" => self.endpoint,
                "code" => code
            )
            .increment(1);
        }
    }
}

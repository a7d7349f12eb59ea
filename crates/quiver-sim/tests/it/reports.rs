//! Result files, merges and the report folder.

use crate::png_check;
use crate::support::{run, settings};
use quiver_sim::record::Recorder;
use quiver_sim::report::{compare_table, write_report};
use quiver_sim::{LoadModel, SimResult, StopCondition, TargetSpec};
use std::time::{Duration, Instant};

/// A result whose recorder saw exactly `latencies_us` (one request each, a
/// millisecond apart, the `n`-th failing with a 503 when `n % 7 == 0`).
fn result_of(latencies_us: &[u64]) -> SimResult {
    let start = Instant::now();
    let mut recorder = Recorder::new(start, 1000, 1, Default::default());
    for (n, &us) in latencies_us.iter().enumerate() {
        let sent = start + Duration::from_millis(n as u64);
        let outcome = if n % 7 == 0 {
            Err(quiver_sim::record::RequestError::Status(503, String::new()))
        } else {
            Ok(())
        };
        recorder.record(sent, sent, sent + Duration::from_micros(us), &outcome);
    }
    let s = settings(
        TargetSpec::Noop,
        LoadModel::Closed { workers: 1 },
        StopCondition::Requests(latencies_us.len() as u64),
    );
    SimResult::from_recorders(s, chrono::Utc::now(), start, vec![recorder])
}

#[test]
fn merged_files_equal_one_run_over_the_union() {
    // A skewed distribution: many fast values, a few very slow ones.
    let all: Vec<u64> = (0..5_000u64)
        .map(|i| {
            if i % 97 == 0 {
                50_000 + i * 13
            } else {
                80 + (i * 7919) % 900
            }
        })
        .collect();
    let (first, second) = all.split_at(1_700);
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    result_of(first).save(&a).unwrap();
    result_of(second).save(&b).unwrap();

    let merged = SimResult::merge(vec![
        SimResult::load(&a).unwrap(),
        SimResult::load(&b).unwrap(),
    ])
    .unwrap();
    let union = result_of(&all);
    assert_eq!(
        merged.response_time.histogram,
        union.response_time.histogram
    );
    assert_eq!(merged.service_time.histogram, union.service_time.histogram);
    assert_eq!(merged.response_time.summary, union.response_time.summary);
    for q in [0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
        assert_eq!(
            merged.response_time.histogram.value_at_quantile(q),
            union.response_time.histogram.value_at_quantile(q)
        );
    }
    assert_eq!(merged.totals.requests, 5_000);
    assert_eq!(merged.totals.errors, union.totals.errors);
    assert_eq!(merged.totals.errors_by_kind, union.totals.errors_by_kind);
    assert_eq!(merged.generators, 2);
    // Per-second rows add up too.
    let merged_requests: u64 = merged.seconds.iter().map(|r| r.requests).sum();
    assert_eq!(merged_requests, 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_folder_has_every_file_and_they_parse() {
    let mut s = settings(
        TargetSpec::Noop,
        LoadModel::Open {
            rate: 2_000.0,
            connections: 4,
        },
        StopCondition::Duration(Duration::from_millis(2_500)),
    );
    s.warmup = Duration::from_millis(200);
    let result = run(s).await;
    let dir = tempfile::tempdir().unwrap();
    let files = write_report(&result, dir.path()).unwrap();

    let loaded = SimResult::load(&files.result).unwrap();
    assert_eq!(loaded.totals.requests, result.totals.requests);
    assert_eq!(
        loaded.response_time.histogram,
        result.response_time.histogram
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.result).unwrap()).unwrap();
    assert!(
        json["response_time"]["histogram"]
            .as_str()
            .unwrap()
            .starts_with("HISTF")
    );
    assert!(
        json["response_time"]["summary"]["p999_us"]
            .as_f64()
            .is_some()
    );
    assert_eq!(json["settings"]["load"]["kind"], "open");
    // A row numbered out of place would make a merge allocate up to it.
    let mut edited = json.clone();
    edited["seconds"][1]["second"] = serde_json::json!(1_000_000_000_000u64);
    let path = dir.path().join("edited.json");
    std::fs::write(&path, edited.to_string()).unwrap();
    let error = SimResult::load(&path).unwrap_err().to_string();
    assert!(
        error.contains("per-second row 1 is numbered 1000000000000"),
        "{error}"
    );

    let mut csv = csv::Reader::from_path(&files.seconds_csv).unwrap();
    assert_eq!(&csv.headers().unwrap()[0], "second");
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), result.seconds.len());
    let csv_requests: u64 = rows.iter().map(|r| r[1].parse::<u64>().unwrap()).sum();
    assert_eq!(csv_requests, result.totals.requests);

    assert_eq!(files.charts.len(), 6);
    for chart in &files.charts {
        let bytes = std::fs::read(chart).unwrap();
        assert_eq!(
            png_check::check(&bytes),
            Ok((1100, 550)),
            "{}",
            chart.display()
        );
    }
    let mut corrupt = std::fs::read(&files.charts[0]).unwrap();
    let inside_the_data = corrupt.len() - 20;
    corrupt[inside_the_data] ^= 0xff;
    assert!(png_check::check(&corrupt).is_err(), "the checker checks");
    let html = std::fs::read_to_string(&files.html).unwrap();
    assert_eq!(html.matches("data:image/png;base64,").count(), 6);
    assert!(html.contains("p99.9") && html.ends_with("</html>\n"));
}

#[test]
fn compare_shows_ratios() {
    let a = result_of(&[100, 200, 300, 400]);
    let b = result_of(&[200, 400, 600, 800]);
    let table = compare_table(&a, &b, "a.json", "b.json").to_string();
    assert!(table.contains("response p50"), "{table}");
    assert!(table.contains("2.00×"), "{table}");
}

#[test]
fn a_file_that_is_not_a_result_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.json");
    std::fs::write(&path, r#"{"format": "something-else"}"#).unwrap();
    let error = SimResult::load(&path).unwrap_err().to_string();
    assert!(error.contains("something-else"), "{error}");
}

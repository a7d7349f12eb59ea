//! Reports of a [`SimResult`]: the terminal table, the report folder
//! ([`write_report`]: result JSON, per-second CSV, PNG charts and one
//! self-contained HTML page) and the side-by-side comparison of two results.

mod charts;
mod compare;
mod html;
mod png;

pub use compare::compare_table;

use crate::units::{format_secs, format_us};
use crate::{LoadModel, SimError, SimResult, StopCondition};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use std::path::{Path, PathBuf};

/// The files a report folder holds.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// `result.json`.
    pub result: PathBuf,
    /// `seconds.csv`.
    pub seconds_csv: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// The charts, PNG.
    pub charts: Vec<PathBuf>,
}

/// Writes `result.json`, `seconds.csv`, the charts and `report.html` into `dir`.
pub fn write_report(result: &SimResult, dir: &Path) -> Result<ReportFiles, SimError> {
    std::fs::create_dir_all(dir).map_err(SimError::io(dir))?;
    let result_path = dir.join("result.json");
    result.save(&result_path)?;
    let seconds_csv = dir.join("seconds.csv");
    result.save_seconds_csv(&seconds_csv)?;
    let mut charts = Vec::new();
    let mut images = Vec::new();
    for chart in charts::draw_all(result)? {
        let path = dir.join(&chart.file);
        std::fs::write(&path, &chart.png).map_err(SimError::io(&path))?;
        charts.push(path);
        images.push(chart);
    }
    let html = dir.join("report.html");
    std::fs::write(&html, html::page(result, &images)).map_err(SimError::io(&html))?;
    Ok(ReportFiles {
        result: result_path,
        seconds_csv,
        html,
        charts,
    })
}

/// The end-of-run table: percentiles of response and service time, then
/// throughput and errors.
pub fn summary_table(result: &SimResult) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.set_header(vec!["", "response time", "service time"]);
    let service = result.service_time.summary.rows();
    for ((name, response), (_, service)) in
        result.response_time.summary.rows().into_iter().zip(service)
    {
        table.add_row(vec![
            name.to_string(),
            format_us(response),
            format_us(service),
        ]);
    }
    for column in 1..3 {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

/// Throughput, counts and errors, one line each, for under the table.
pub fn totals_lines(result: &SimResult) -> Vec<String> {
    let t = &result.totals;
    let mut lines = vec![
        format!("target      {}", result.settings.target.describe()),
        format!("load        {}", describe_load(result)),
        format!(
            "throughput  {:.0} requests/s ({:.0} ids/s) over {:.2} s",
            t.throughput_rps, t.ids_per_second, t.elapsed_secs
        ),
        format!(
            "requests    {} ({} errors, {:.3}%)",
            t.requests,
            t.errors,
            if t.requests == 0 {
                0.0
            } else {
                100.0 * t.errors as f64 / t.requests as f64
            }
        ),
    ];
    for (kind, n) in &t.errors_by_kind {
        let example = result
            .error_examples
            .get(kind)
            .map(|e| format!(" — e.g. {e}"))
            .unwrap_or_default();
        lines.push(format!("  {kind:<10} {n}{example}"));
    }
    if result.generators > 1 {
        lines.push(format!("generators  {} (merged)", result.generators));
    }
    lines
}

/// "open loop, 20000 requests/s over 64 connections, 30 s, batch 1, uniform".
pub fn describe_load(result: &SimResult) -> String {
    let s = &result.settings;
    let model = match s.load {
        LoadModel::Closed { workers } => format!("closed loop, {workers} workers"),
        LoadModel::Open { rate, connections } => {
            format!("open loop, {rate:.0} requests/s over {connections} connections")
        }
    };
    let stop = match s.stop {
        StopCondition::Duration(d) => format_secs(d),
        StopCondition::Requests(n) => format!("{n} requests"),
    };
    let distribution = match s.distribution {
        crate::KeyDistribution::Uniform => "uniform ids".to_string(),
        crate::KeyDistribution::Zipf { exponent } => format!("zipf ids (s = {exponent})"),
    };
    format!(
        "{model}, {stop} after {} warm-up, batch {}, {distribution}",
        format_secs(s.warmup),
        s.batch_size
    )
}

//! The reference design's charts, drawn with plotters into an RGB buffer and
//! encoded as PNG: the latency distribution (all requests, and trimmed at
//! p99.9), average and minimum latency per second, maximum latency per
//! second, throughput per second and raw latencies over time.
//!
//! Text uses DejaVu Sans Mono, compiled into the binary (`assets/`), so charts
//! look the same on a machine without fonts.

use super::png;
use crate::{LoadModel, SimError, SimResult};
use hdrhistogram::Histogram;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::sync::Once;

const WIDTH: u32 = 1100;
const HEIGHT: u32 = 550;
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");
static REGISTER_FONT: Once = Once::new();

/// One drawn chart.
pub struct Chart {
    /// File name, such as `throughput.png`.
    pub file: String,
    /// Title shown above the image in the HTML report.
    pub title: String,
    /// The PNG bytes.
    pub png: Vec<u8>,
}

/// Every chart of a result.
pub fn draw_all(result: &SimResult) -> Result<Vec<Chart>, SimError> {
    REGISTER_FONT.call_once(|| {
        // The font is compiled in and known to parse; a failure would only
        // leave text out of the charts.
        let _ = register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
    let open_loop = matches!(result.settings.load, LoadModel::Open { .. });
    let response = &result.response_time.histogram;
    let service = &result.service_time.histogram;
    let p999 = response.value_at_quantile(0.999);
    Ok(vec![
        draw(
            "latency-distribution.png",
            "Latency distribution, all requests",
            |area| distribution(area, response, service, open_loop, response.max()),
        )?,
        draw(
            "latency-distribution-p999.png",
            "Latency distribution, trimmed at p99.9",
            |area| distribution(area, response, service, open_loop, p999),
        )?,
        draw(
            "latency-avg-min-per-second.png",
            "Average and minimum latency per second",
            |area| avg_min_per_second(area, result, open_loop),
        )?,
        draw(
            "latency-max-per-second.png",
            "Maximum latency per second",
            |area| max_per_second(area, result),
        )?,
        draw(
            "throughput-per-second.png",
            "Throughput per second",
            |area| throughput(area, result),
        )?,
        draw(
            "latency-over-time.png",
            "Raw latencies over time (uniform sample)",
            |area| over_time(area, result),
        )?,
    ])
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(
    file: &str,
    title: &str,
    body: impl FnOnce(&Area<'_>) -> DrawResult,
) -> Result<Chart, SimError> {
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    let failed = |reason: String| SimError::Chart {
        chart: file.to_string(),
        reason,
    };
    {
        let area = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        area.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
        let area = area
            .titled(title, (FONT, 24))
            .map_err(|e| failed(e.to_string()))?;
        body(&area).map_err(|e| failed(e.to_string()))?;
        area.present().map_err(|e| failed(e.to_string()))?;
    }
    Ok(Chart {
        file: file.to_string(),
        title: title.to_string(),
        png: png::encode_rgb(WIDTH, HEIGHT, &rgb),
    })
}

/// A latency unit that keeps axis numbers readable.
#[derive(Clone, Copy)]
struct Unit {
    per_ns: f64,
    name: &'static str,
}

impl Unit {
    fn for_max_ns(max_ns: f64) -> Unit {
        if max_ns < 2_000_000.0 {
            Unit {
                per_ns: 1e-3,
                name: "µs",
            }
        } else if max_ns < 5e9 {
            Unit {
                per_ns: 1e-6,
                name: "ms",
            }
        } else {
            Unit {
                per_ns: 1e-9,
                name: "s",
            }
        }
    }

    fn of(self, ns: f64) -> f64 {
        ns * self.per_ns
    }
}

/// Requests per latency bucket: 100 equal buckets from 0 to `limit_ns`.
fn buckets(h: &Histogram<u64>, limit_ns: u64) -> Vec<(f64, u64)> {
    const BUCKETS: u64 = 100;
    let width = (limit_ns / BUCKETS).max(1);
    let mut counts = vec![0u64; BUCKETS as usize + 1];
    for v in h.iter_recorded() {
        let value = h.highest_equivalent(v.value_iterated_to());
        if value > limit_ns {
            continue;
        }
        let at = ((value / width) as usize).min(BUCKETS as usize);
        counts[at] += v.count_at_value();
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| ((i as u64 * width + width / 2) as f64, c))
        .collect()
}

fn distribution(
    area: &Area<'_>,
    response: &Histogram<u64>,
    service: &Histogram<u64>,
    open_loop: bool,
    limit_ns: u64,
) -> DrawResult {
    let limit_ns = limit_ns.max(1);
    let unit = Unit::for_max_ns(limit_ns as f64);
    let response_buckets = buckets(response, limit_ns);
    let service_buckets = buckets(service, limit_ns);
    let y_max = response_buckets
        .iter()
        .chain(&service_buckets)
        .map(|&(_, c)| c)
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.05;
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..unit.of(limit_ns as f64) * 1.01, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc(format!("latency ({})", unit.name))
        .y_desc("requests")
        .label_style((FONT, 14))
        .draw()?;
    let series = |b: &[(f64, u64)]| {
        b.iter()
            .map(|&(x, c)| (unit.of(x), c as f64))
            .collect::<Vec<_>>()
    };
    chart
        .draw_series(LineSeries::new(
            series(&response_buckets),
            BLUE.stroke_width(2),
        ))?
        .label(if open_loop {
            "response time"
        } else {
            "latency"
        })
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    if open_loop {
        chart
            .draw_series(LineSeries::new(
                series(&service_buckets),
                RED.stroke_width(1),
            ))?
            .label("service time")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(1)));
    }
    legend(&mut chart)
}

fn legend<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
) -> DrawResult
where
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// `(second, value)` points of rows that have requests. A last second the run
/// did not fill (the stragglers answered after the deadline) is left out: its
/// few requests would draw a false drop in throughput and a false latency spike.
fn per_second(
    result: &SimResult,
    value: impl Fn(&crate::record::SecondRow) -> f64,
) -> Vec<(f64, f64)> {
    let full_seconds = result.totals.elapsed_secs.floor().max(1.0) as u64;
    result
        .seconds
        .iter()
        .filter(|r| r.requests > 0 && r.second < full_seconds)
        .map(|r| (r.second as f64, value(r)))
        .collect()
}

fn x_range(result: &SimResult) -> std::ops::Range<f64> {
    0f64..(result.seconds.len().max(1) as f64)
}

fn avg_min_per_second(area: &Area<'_>, result: &SimResult, open_loop: bool) -> DrawResult {
    let mean = |sum: u64, n: u64| sum as f64 / n as f64;
    let avg = per_second(result, |r| mean(r.response_sum_ns, r.requests));
    let min = per_second(result, |r| r.response_min_ns as f64);
    let service_avg = per_second(result, |r| mean(r.service_sum_ns, r.requests));
    let top = avg.iter().map(|&(_, v)| v).fold(1.0, f64::max);
    let unit = Unit::for_max_ns(top);
    let scaled = |points: Vec<(f64, f64)>| {
        points
            .into_iter()
            .map(|(x, y)| (x, unit.of(y)))
            .collect::<Vec<_>>()
    };
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(x_range(result), 0f64..unit.of(top) * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("second of the run")
        .y_desc(format!("latency ({})", unit.name))
        .label_style((FONT, 14))
        .draw()?;
    chart
        .draw_series(LineSeries::new(scaled(avg), BLUE.stroke_width(2)))?
        .label("average")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(scaled(min), GREEN.stroke_width(2)))?
        .label("minimum")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN.stroke_width(2)));
    if open_loop {
        chart
            .draw_series(LineSeries::new(scaled(service_avg), RED.stroke_width(1)))?
            .label("average service time")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(1)));
    }
    legend(&mut chart)
}

fn max_per_second(area: &Area<'_>, result: &SimResult) -> DrawResult {
    let max = per_second(result, |r| r.response_max_ns as f64);
    let top = max.iter().map(|&(_, v)| v).fold(1.0, f64::max);
    let unit = Unit::for_max_ns(top);
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(x_range(result), 0f64..unit.of(top) * 1.1)?;
    chart
        .configure_mesh()
        .x_desc("second of the run")
        .y_desc(format!("latency ({})", unit.name))
        .label_style((FONT, 14))
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            max.into_iter().map(|(x, y)| (x, unit.of(y))),
            RED.stroke_width(2),
        ))?
        .label("maximum")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    legend(&mut chart)
}

fn throughput(area: &Area<'_>, result: &SimResult) -> DrawResult {
    let ok = per_second(result, |r| (r.requests - r.errors) as f64);
    let errors = per_second(result, |r| r.errors as f64);
    let top = ok.iter().map(|&(_, v)| v).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(x_range(result), 0f64..top * 1.15)?;
    chart
        .configure_mesh()
        .x_desc("second of the run")
        .y_desc("requests/s")
        .label_style((FONT, 14))
        .draw()?;
    chart
        .draw_series(LineSeries::new(ok, BLUE.stroke_width(2)))?
        .label("succeeded")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(errors, RED.stroke_width(2)))?
        .label("failed")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    legend(&mut chart)
}

fn over_time(area: &Area<'_>, result: &SimResult) -> DrawResult {
    let top_us = result
        .samples
        .iter()
        .map(|s| f64::from(s.1))
        .fold(1.0, f64::max);
    let unit = Unit::for_max_ns(top_us * 1000.0);
    let x_max = result
        .samples
        .iter()
        .map(|s| f64::from(s.0))
        .fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .margin(20)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..x_max * 1.01, 0f64..unit.of(top_us * 1000.0) * 1.05)?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "seconds since the start ({} of {} requests shown)",
            result.samples.len(),
            result.totals.requests
        ))
        .y_desc(format!("response time ({})", unit.name))
        .label_style((FONT, 14))
        .draw()?;
    chart.draw_series(result.samples.iter().map(|s| {
        Circle::new(
            (f64::from(s.0), unit.of(f64::from(s.1) * 1000.0)),
            1,
            BLUE.mix(0.5).filled(),
        )
    }))?;
    Ok(())
}

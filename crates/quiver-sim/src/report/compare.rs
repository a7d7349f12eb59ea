//! Two results side by side with ratios, for before/after and peer comparisons.

use crate::SimResult;
use crate::units::format_us;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

/// A table of `a` and `b` with `b / a` for every measure.
pub fn compare_table(a: &SimResult, b: &SimResult, a_name: &str, b_name: &str) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.set_header(vec!["", a_name, b_name, "B / A"]);
    let ratio = |x: f64, y: f64| {
        if x == 0.0 {
            "–".to_string()
        } else {
            format!("{:.2}×", y / x)
        }
    };
    let (ta, tb) = (&a.totals, &b.totals);
    table.add_row(vec![
        "throughput (req/s)".to_string(),
        format!("{:.0}", ta.throughput_rps),
        format!("{:.0}", tb.throughput_rps),
        ratio(ta.throughput_rps, tb.throughput_rps),
    ]);
    table.add_row(vec![
        "ids/s".to_string(),
        format!("{:.0}", ta.ids_per_second),
        format!("{:.0}", tb.ids_per_second),
        ratio(ta.ids_per_second, tb.ids_per_second),
    ]);
    table.add_row(vec![
        "requests".to_string(),
        ta.requests.to_string(),
        tb.requests.to_string(),
        ratio(ta.requests as f64, tb.requests as f64),
    ]);
    table.add_row(vec![
        "errors".to_string(),
        ta.errors.to_string(),
        tb.errors.to_string(),
        ratio(ta.errors as f64, tb.errors as f64),
    ]);
    for (label, sa, sb) in [
        (
            "response",
            &a.response_time.summary,
            &b.response_time.summary,
        ),
        ("service", &a.service_time.summary, &b.service_time.summary),
    ] {
        for ((name, x), (_, y)) in sa.rows().into_iter().zip(sb.rows()) {
            table.add_row(vec![
                format!("{label} {name}"),
                format_us(x),
                format_us(y),
                ratio(x, y),
            ]);
        }
    }
    for column in 1..4 {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
}

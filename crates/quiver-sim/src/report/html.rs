//! The self-contained HTML report: settings, the summary table, errors and
//! every chart inlined as a base64 PNG, so the one file can be mailed or
//! attached to an issue.

use super::charts::Chart;
use super::describe_load;
use crate::SimResult;
use crate::units::format_us;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fmt::Write;

/// The report page.
pub fn page(result: &SimResult, charts: &[Chart]) -> String {
    let mut html = String::new();
    let title = format!("quiver simulate — {}", result.settings.target.describe());
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}\
         th:first-child,td:first-child{{text-align:left}}img{{max-width:100%;border:1px solid #eee}}</style>\n\
         </head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let t = &result.totals;
    let _ = writeln!(
        html,
        "<p>{}<br>started {} · {} generator(s) · features: {}</p>",
        escape(&describe_load(result)),
        escape(&result.started_at),
        result.generators,
        escape(&match &result.settings.features {
            crate::FeatureSelection::Features(f) => format!("{} listed", f.len()),
            crate::FeatureSelection::Service(s) => format!("service {s}"),
        })
    );
    let _ = writeln!(
        html,
        "<p><b>{:.0} requests/s</b> ({:.0} ids/s) over {:.2} s · {} requests · {} errors</p>",
        t.throughput_rps, t.ids_per_second, t.elapsed_secs, t.requests, t.errors
    );
    html.push_str("<table><tr><th></th><th>response time</th><th>service time</th></tr>\n");
    let service = result.service_time.summary.rows();
    for ((name, a), (_, b)) in result.response_time.summary.rows().into_iter().zip(service) {
        let _ = writeln!(
            html,
            "<tr><td>{name}</td><td>{}</td><td>{}</td></tr>",
            escape(&format_us(a)),
            escape(&format_us(b))
        );
    }
    html.push_str("</table>\n");
    if !t.errors_by_kind.is_empty() {
        html.push_str(
            "<h2>Errors</h2><table><tr><th>kind</th><th>count</th><th>example</th></tr>\n",
        );
        for (kind, n) in &t.errors_by_kind {
            let example = result.error_examples.get(kind).cloned().unwrap_or_default();
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{n}</td><td>{}</td></tr>",
                escape(kind),
                escape(&example)
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str(
        "<p>Failed requests are included in the percentiles at the time they took to fail \
         (timeouts at the timeout). Response time counts from when a request was due \
         (open loop) and equals service time in a closed loop.</p>\n",
    );
    for chart in charts {
        let _ = write!(
            html,
            "<h2>{}</h2>\n<img alt=\"{}\" src=\"data:image/png;base64,{}\">\n",
            escape(&chart.title),
            escape(&chart.title),
            STANDARD.encode(&chart.png)
        );
    }
    html.push_str("</body></html>\n");
    html
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

//! Shared helpers of the commands: loading the registry, and turning values
//! and errors into text.

use quiver_core::{FeatureRepo, Registry};
use quiver_online::FeatureValue;
use std::path::Path;

/// The repository as last applied; warns when quiver.toml changed since.
pub fn load_registry(repo_dir: &Path) -> anyhow::Result<FeatureRepo> {
    let registry = Registry::load(repo_dir)?;
    if let Ok(current) = FeatureRepo::load(repo_dir)
        && current != registry.repo
    {
        eprintln!(
            "warning: {} changed since it was applied ({}); run `quiver apply` to use the changes",
            current.config_file().display(),
            registry.applied_at
        );
    }
    Ok(registry.repo)
}

/// The error and its causes, each cause shown once (our error messages
/// already include the cause they wrap).
pub fn error_chain(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// A progress bar on stderr for `len` steps (drawn only on a terminal).
pub fn bar(len: u64, message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40.cyan/blue}] {human_pos}/{human_len} ({eta} left)",
        )
        .expect("the template is valid")
        .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// 3512345 → "3,512,345".
pub fn thousands(n: usize) -> String {
    indicatif::HumanCount(n as u64).to_string()
}

/// An event time in microseconds, as RFC 3339 UTC.
pub fn time_text(micros: i64) -> String {
    quiver_online::value_json::time_text(micros)
}

/// A feature value as JSON, by the rule the server follows (docs/SERVING.md,
/// "Values"): dates and times as text, NaN and infinities as strings.
pub fn value_json(value: &FeatureValue) -> serde_json::Value {
    let mut out = Vec::with_capacity(32);
    quiver_online::value_json::write_value(&mut out, value);
    serde_json::from_slice(&out).expect("the value writer writes valid JSON")
}

/// A feature value as text for a table.
pub fn value_text(value: &FeatureValue) -> String {
    match value {
        FeatureValue::Null => "null".to_string(),
        FeatureValue::Bool(b) => b.to_string(),
        FeatureValue::Int64(i) => i.to_string(),
        FeatureValue::Float64(f) => format!("{f:.4}"),
        FeatureValue::String(s) => s.clone(),
        FeatureValue::Date(d) => quiver_online::value_json::date_text(i64::from(*d)),
        FeatureValue::Timestamp(t) => time_text(*t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(3_512_345), "3,512,345");
    }

    #[test]
    fn values_render_for_people_and_json() {
        assert_eq!(value_text(&FeatureValue::Date(0)), "1970-01-01");
        assert_eq!(time_text(86_400_000_000), "1970-01-02T00:00:00Z");
        assert_eq!(
            value_json(&FeatureValue::Float64(f64::NAN)),
            serde_json::json!("NaN")
        );
        assert_eq!(
            value_json(&FeatureValue::Float64(0.1)),
            serde_json::json!(0.1)
        );
        assert_eq!(value_json(&FeatureValue::Int64(48)), serde_json::json!(48));
    }
}

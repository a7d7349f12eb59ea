//! Shared helpers of the commands: loading the registry, and turning values
//! into text.

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
/// Doubles go in as they are (never through JSON text and back: serde_json's
/// default parse may be one unit in the last place off).
pub fn value_json(value: &FeatureValue) -> serde_json::Value {
    use quiver_online::value_json::{date_text, non_finite_name};
    use serde_json::Value;
    match value {
        FeatureValue::Null => Value::Null,
        FeatureValue::Bool(b) => Value::Bool(*b),
        FeatureValue::Int64(i) => Value::from(*i),
        FeatureValue::Float64(f) => match non_finite_name(*f) {
            Some(name) => Value::String(name.to_string()),
            None => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        },
        FeatureValue::String(s) => Value::String(s.clone()),
        FeatureValue::Date(d) => Value::String(date_text(i64::from(*d))),
        FeatureValue::Timestamp(t) => Value::String(time_text(*t)),
    }
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
        // Exactly the double, printed the shortest way: a trip through JSON
        // text and serde_json's default parse would end one ULP off.
        for f in [0.1, 953.901_059_000_000_7, 0.225_828_171_977_808_58] {
            let json = value_json(&FeatureValue::Float64(f));
            assert_eq!(json.as_f64().unwrap().to_bits(), f.to_bits(), "{f}");
            assert_eq!(json.to_string(), format!("{f}"));
        }
        assert_eq!(
            value_json(&FeatureValue::Float64(f64::NEG_INFINITY)),
            serde_json::json!("-Infinity")
        );
        assert_eq!(value_json(&FeatureValue::Int64(48)), serde_json::json!(48));
    }
}

//! [`SimSettings`]: what a simulation does — target, workload and load model —
//! as plain data, so a result file records exactly what produced it.

use crate::SimError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Everything that defines one simulation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSettings {
    /// What receives the requests.
    pub target: TargetSpec,
    /// The features each request asks for.
    pub features: FeatureSelection,
    /// The entity key column named in requests (`id`).
    pub entity_key: String,
    /// Ids per request.
    pub batch_size: usize,
    /// How ids are drawn from the key space.
    pub distribution: KeyDistribution,
    /// Closed or open loop.
    pub load: LoadModel,
    /// Time spent sending requests that are not recorded, before the measurement.
    #[serde(with = "duration_text")]
    pub warmup: Duration,
    /// When the measurement ends.
    pub stop: StopCondition,
    /// A request not answered within this time counts as a `timeout` error.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// Seed of the id draws: the same seed asks for the same ids.
    pub seed: u64,
    /// Headers and TLS trust for the HTTP and gRPC targets.
    #[serde(default)]
    pub access: Access,
}

/// How the generator gets into a server that wants credentials or TLS
/// (`https://` URLs): extra request headers (`x-api-key`, `authorization`;
/// gRPC metadata for the gRPC target) and the certificates to trust.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Access {
    /// Sent with every request. Result files record the names only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<RequestHeader>,
    /// A PEM file of CA certificates to trust for `https://`, instead of the
    /// system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<std::path::PathBuf>,
}

/// One `name: value` header. Its value never reaches a result file: it is
/// written as `name: <hidden>`, since it usually holds a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// Lower-case header name.
    pub name: String,
    /// The value, as given.
    pub value: String,
}

const HIDDEN: &str = "<hidden>";

impl std::str::FromStr for RequestHeader {
    type Err = String;

    /// Parses `name: value` (as curl's and wrk's `-H`).
    fn from_str(text: &str) -> Result<RequestHeader, String> {
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| format!("`{text}` is not `name: value`"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(format!("`{name}` is not a header name"));
        }
        if value.bytes().any(|b| b.is_ascii_control()) {
            return Err(format!("the value of `{name}` has a control character"));
        }
        Ok(RequestHeader { name, value })
    }
}

impl Serialize for RequestHeader {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}: {HIDDEN}", self.name))
    }
}

impl<'de> Deserialize<'de> for RequestHeader {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RequestHeader, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What receives the requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetSpec {
    /// The repository's online store, called directly (no server).
    Store {
        /// The repository folder.
        repo: String,
    },
    /// `quiver serve`'s HTTP/JSON endpoint `POST /get-online-features`.
    Http {
        /// Base URL, such as `http://127.0.0.1:6566`.
        url: String,
    },
    /// `quiver serve`'s gRPC `ServingService`.
    Grpc {
        /// Endpoint URL, such as `http://127.0.0.1:6570`.
        url: String,
        /// Which of its feature RPCs is called (results written before the
        /// choice existed called the Feast-shaped one).
        #[serde(default)]
        rpc: GrpcRpc,
        /// HTTP/2 connections the workers share, their calls multiplexed
        /// on them as a gRPC client's channel multiplexes its callers';
        /// `None`: a connection of its own per worker.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connections: Option<usize>,
    },
    /// Nothing: every request succeeds at once, in process. Measures the
    /// generator's own ceiling.
    Noop,
}

impl TargetSpec {
    /// Short text for tables and charts.
    pub fn describe(&self) -> String {
        match self {
            TargetSpec::Store { repo } => format!("store ({repo})"),
            TargetSpec::Http { url } => format!("http ({url})"),
            TargetSpec::Grpc {
                url,
                rpc,
                connections: None,
            } => format!("grpc {} ({url})", rpc.name()),
            TargetSpec::Grpc {
                url,
                rpc,
                connections: Some(n),
            } => format!("grpc {} ({url}, {n} shared connections)", rpc.name()),
            TargetSpec::Noop => "noop (in process)".to_string(),
        }
    }
}

/// The gRPC call a simulation makes: the same request, two answer shapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrpcRpc {
    /// `GetOnlineFeatures`: Feast's shape, a `Value` message per cell.
    #[default]
    Feast,
    /// `GetOnlineFeaturesColumnar`: one typed array per column.
    Columnar,
}

impl GrpcRpc {
    /// The word used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            GrpcRpc::Feast => "feast",
            GrpcRpc::Columnar => "columnar",
        }
    }
}

/// The features each request asks for: quiver-core's, which resolves them.
pub use quiver_core::FeatureSelection;

/// How ids are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeyDistribution {
    /// Every id equally likely.
    Uniform,
    /// The k-th most popular id drawn with probability ∝ 1/k^exponent.
    Zipf {
        /// The skew; 1.0 is the classic Zipf law, 0 is uniform.
        exponent: f64,
    },
}

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadModel {
    /// `workers` loops that each send a request, wait for the answer and repeat.
    /// Throughput is whatever the target allows; latency is service time.
    Closed {
        /// Concurrent requests.
        workers: usize,
    },
    /// Requests sent on a fixed schedule of `rate` per second, whatever the
    /// target does. Response time is measured from each request's scheduled
    /// time (coordinated-omission correction), service time from its actual send.
    Open {
        /// Requests per second.
        rate: f64,
        /// Connections, and so the most requests in flight at once.
        connections: usize,
    },
}

impl LoadModel {
    /// Concurrent connections or workers.
    pub fn concurrency(&self) -> usize {
        match *self {
            LoadModel::Closed { workers } => workers,
            LoadModel::Open { connections, .. } => connections,
        }
    }
}

/// When the measurement ends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopCondition {
    /// After this long (after the warm-up).
    #[serde(with = "duration_text")]
    Duration(Duration),
    /// After this many measured requests.
    Requests(u64),
}

impl SimSettings {
    /// Checks ranges and combinations that cannot work.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |setting, problem: &str| {
            Err(SimError::Setting {
                setting,
                problem: problem.to_string(),
            })
        };
        if self.batch_size == 0 {
            return bad("--batch-size", "must be at least 1");
        }
        if self.load.concurrency() == 0 {
            return bad("--workers", "must be at least 1");
        }
        if let LoadModel::Open { rate, .. } = self.load
            && !(rate.is_finite() && rate > 0.0 && rate <= 10_000_000.0)
        {
            return bad("--rate", "must be between 0 and 10,000,000 requests/s");
        }
        if let KeyDistribution::Zipf { exponent } = self.distribution
            && !(exponent.is_finite() && exponent >= 0.0)
        {
            return bad("--zipf-exponent", "must be a number of at least 0");
        }
        match self.stop {
            StopCondition::Duration(d) if d.is_zero() => {
                return bad("--duration", "must be longer than 0");
            }
            StopCondition::Requests(0) => return bad("--requests", "must be at least 1"),
            _ => {}
        }
        if self.timeout.is_zero() {
            return bad("--timeout", "must be longer than 0");
        }
        if let TargetSpec::Grpc {
            connections: Some(shared),
            ..
        } = self.target
            && !(1..=self.load.concurrency()).contains(&shared)
        {
            return bad(
                "--connections",
                &format!(
                    "must be between 1 and the {} workers that share them",
                    self.load.concurrency()
                ),
            );
        }
        if let FeatureSelection::Features(features) = &self.features
            && features.is_empty()
        {
            return bad("--features", "name at least one view:feature");
        }
        Ok(())
    }
}

/// Parses a duration flag in the one grammar of [`quiver_core::duration`]
/// (`500ms`, `30s`, `2m`, `1h 30m`, `1.5s`). A bare number of seconds
/// (`1.5`), which earlier versions read, is still read; then the second
/// value says what to write instead, for the caller to print.
pub fn parse_duration(text: &str) -> Result<(Duration, Option<String>), String> {
    match quiver_core::duration::parse(text) {
        Ok(duration) => Ok((duration, None)),
        Err(error) => {
            let secs: f64 = text.trim().parse().map_err(|_| error.to_string())?;
            let duration = Duration::try_from_secs_f64(secs)
                .map_err(|_| format!("`{text}` is not a non-negative duration"))?;
            let instead = quiver_core::duration::format(duration);
            Ok((
                duration,
                Some(format!(
                    "a duration without a unit (`{}`) is deprecated; write `{instead}`",
                    text.trim()
                )),
            ))
        }
    }
}

/// Durations in result files: text in the one grammar (`"5s"`). Files
/// written before it hold fractional seconds (`5.0`), which are still read.
mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        quiver_core::duration::text::serialize(d, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum TextOrSeconds {
            Text(String),
            Seconds(f64),
        }
        match TextOrSeconds::deserialize(d)? {
            TextOrSeconds::Text(text) => {
                quiver_core::duration::parse(&text).map_err(serde::de::Error::custom)
            }
            TextOrSeconds::Seconds(secs) => {
                Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_with_units() {
        assert_eq!(
            parse_duration("500ms"),
            Ok((Duration::from_millis(500), None))
        );
        assert_eq!(parse_duration("30s"), Ok((Duration::from_secs(30), None)));
        assert_eq!(parse_duration("2m"), Ok((Duration::from_secs(120), None)));
        assert_eq!(
            parse_duration("1.5s"),
            Ok((Duration::from_millis(1500), None))
        );
        assert_eq!(
            parse_duration("1m 30s"),
            Ok((Duration::from_secs(90), None))
        );
        assert!(
            parse_duration("fast")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn bare_seconds_still_parse_with_a_deprecation() {
        let (duration, warning) = parse_duration("1.5").unwrap();
        assert_eq!(duration, Duration::from_millis(1500));
        assert_eq!(
            warning.as_deref(),
            Some("a duration without a unit (`1.5`) is deprecated; write `1s 500ms`")
        );
    }

    #[test]
    fn result_files_hold_duration_text_and_old_ones_still_read() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Recorded {
            #[serde(with = "duration_text")]
            warmup: Duration,
            stop: StopCondition,
        }
        let recorded = Recorded {
            warmup: Duration::from_millis(2_500),
            stop: StopCondition::Duration(Duration::from_secs(30)),
        };
        let json = serde_json::to_string(&recorded).unwrap();
        assert_eq!(json, r#"{"warmup":"2s 500ms","stop":{"duration":"30s"}}"#);
        assert_eq!(serde_json::from_str::<Recorded>(&json).unwrap(), recorded);
        let old: Recorded =
            serde_json::from_str(r#"{"warmup":2.5,"stop":{"duration":30.0}}"#).unwrap();
        assert_eq!(old, recorded);
    }

    #[test]
    fn headers_parse_like_curls_and_hide_their_values() {
        let header: RequestHeader = "X-Api-Key:  s3cret ".parse().unwrap();
        assert_eq!(header.name, "x-api-key");
        assert_eq!(header.value, "s3cret");
        let bearer: RequestHeader = "authorization: Bearer a:b".parse().unwrap();
        assert_eq!(bearer.value, "Bearer a:b");
        for (bad, why) in [
            ("no colon", "is not `name: value`"),
            (": v", "is not a header name"),
            ("sp ace: v", "is not a header name"),
            ("x: a\tb", "control character"),
        ] {
            let error = bad.parse::<RequestHeader>().unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
        let json = serde_json::to_string(&vec![header]).unwrap();
        assert_eq!(json, r#"["x-api-key: <hidden>"]"#);
        let back: Vec<RequestHeader> = serde_json::from_str(&json).unwrap();
        assert_eq!(back[0].value, "<hidden>");
    }
}

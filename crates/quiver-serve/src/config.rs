//! [`ServeConfig`]: the server's settings, from defaults, a TOML file,
//! `QUIVER_*` environment variables and command-line flags, in that order of
//! precedence (later wins). Parsed by figment.
//!
//! Durations are text in the one grammar of `quiver_core::duration`
//! (`header_timeout = "10s"`). The keys they replaced (`header_timeout_secs =
//! 10.0`, a number of seconds) are still read, through [`Renamed`], and each
//! one given is reported once as deprecated, naming the new key.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Everything `quiver serve` can be told. Unknown keys are an error, so a
/// misspelt setting is reported rather than ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// Where the HTTP/JSON server listens (`QUIVER_HTTP_ADDR`).
    pub http_addr: SocketAddr,
    /// Where the gRPC server listens (`QUIVER_GRPC_ADDR`).
    pub grpc_addr: SocketAddr,
    /// Most entity ids one request may ask for.
    pub max_ids_per_request: usize,
    /// Largest request body (HTTP) or message (gRPC), in bytes; larger is 413.
    pub max_body_bytes: usize,
    /// Requests answered at once; more get a fast 503 with `Retry-After`.
    pub max_concurrent_requests: usize,
    /// Time a new connection has to send its first request head (TLS
    /// handshake, protocol detection and headers together, on both ports);
    /// on HTTP/1, also the time for each later request's headers
    /// (`header_timeout = "10s"`; formerly `header_timeout_secs`).
    #[serde(with = "quiver_core::duration::text")]
    pub header_timeout: Duration,
    /// Time a client has to send its request body (formerly `body_timeout_secs`).
    #[serde(with = "quiver_core::duration::text")]
    pub body_timeout: Duration,
    /// Time in-flight requests get to finish on shutdown (formerly
    /// `shutdown_grace_secs`).
    #[serde(with = "quiver_core::duration::text")]
    pub shutdown_grace: Duration,
    /// Open connections each listener (HTTP, gRPC) holds at most. At the
    /// cap, a new connection closes the oldest one that has not sent a
    /// request yet, or is closed itself if every connection has.
    pub max_connections: usize,
    /// Streams (requests) one HTTP/2 connection may have open at once, on
    /// both ports.
    pub max_concurrent_streams: u32,
    /// Bytes of request bodies still arriving that the server holds at once,
    /// all requests together. A request is admitted (counted against
    /// `max_concurrent_requests`) only once its body is in; a body that did
    /// not arrive with its headers reserves its length from this budget
    /// first, and waits (within `body_timeout`) while it is spent.
    pub max_buffered_body_bytes: usize,
    /// HTTP threads, each running its own single-threaded runtime; a new
    /// connection goes to the thread with the fewest open ones and stays
    /// there. 0 serves HTTP on the shared Tokio runtime with gRPC. See
    /// docs/BENCHMARKS.md for the comparison.
    pub http_threads: usize,
    /// API keys accepted in the `x-api-key` header (`QUIVER_API_KEYS`,
    /// comma-separated). With no keys and no tokens, auth is off.
    #[serde(deserialize_with = "list_or_commas")]
    pub api_keys: Vec<String>,
    /// Bearer tokens accepted in `authorization: Bearer …` (`QUIVER_BEARER_TOKENS`).
    #[serde(deserialize_with = "list_or_commas")]
    pub bearer_tokens: Vec<String>,
    /// PEM certificate chain; with `tls_key`, both servers speak TLS only.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// `text` or `json` log lines on stderr.
    pub log_format: LogFormat,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            // Feast's feature server listens on 6566.
            http_addr: SocketAddr::from(([127, 0, 0, 1], 6566)),
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 6570)),
            max_ids_per_request: 1000,
            max_body_bytes: 1024 * 1024,
            max_concurrent_requests: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            max_connections: 4096,
            // hyper's default on the HTTP port.
            max_concurrent_streams: 200,
            max_buffered_body_bytes: 64 * 1024 * 1024,
            http_threads: 0,
            api_keys: Vec::new(),
            bearer_tokens: Vec::new(),
            tls_cert: None,
            tls_key: None,
            log_format: LogFormat::Text,
        }
    }
}

/// Settings given on the command line; `None` leaves the value to the
/// file, the environment or the default.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConfigOverrides {
    /// `--http-addr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<SocketAddr>,
    /// `--grpc-addr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_addr: Option<SocketAddr>,
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// The `QUIVER_*` variables read as settings. Other `QUIVER_*` variables
/// (`QUIVER_REPO`, `QUIVER_LOG`) belong to the CLI and are not settings.
const ENV_KEYS: [&str; 20] = [
    "http_addr",
    "grpc_addr",
    "max_ids_per_request",
    "max_body_bytes",
    "max_concurrent_requests",
    "header_timeout",
    "body_timeout",
    "shutdown_grace",
    "header_timeout_secs",
    "body_timeout_secs",
    "shutdown_grace_secs",
    "max_connections",
    "max_concurrent_streams",
    "max_buffered_body_bytes",
    "http_threads",
    "api_keys",
    "bearer_tokens",
    "tls_cert",
    "tls_key",
    "log_format",
];

/// The largest `max_concurrent_requests`. Each request in flight holds its
/// body and answer, so a million is far beyond what one process can serve;
/// above Tokio's semaphore limit (`usize::MAX >> 3`) the server would panic
/// at start.
const MAX_CONCURRENT_REQUESTS: usize = 1_000_000;

impl ServeConfig {
    /// Defaults, then `file` (if any), then `QUIVER_*` variables, then
    /// `overrides`. Deprecated keys are logged as warnings; a caller that
    /// sets up logging only after loading uses [`ServeConfig::load_noting_deprecated`].
    pub fn load(
        file: Option<&Path>,
        overrides: &ConfigOverrides,
    ) -> Result<ServeConfig, Box<figment::Error>> {
        let (config, deprecated) = ServeConfig::load_noting_deprecated(file, overrides)?;
        for warning in deprecated {
            tracing::warn!("{warning}");
        }
        Ok(config)
    }

    /// [`ServeConfig::load`], returning one sentence per deprecated key
    /// given (which key, where, and what to write instead) rather than
    /// logging them.
    pub fn load_noting_deprecated(
        file: Option<&Path>,
        overrides: &ConfigOverrides,
    ) -> Result<(ServeConfig, Vec<String>), Box<figment::Error>> {
        let deprecated = Arc::new(Mutex::new(Vec::new()));
        let mut figment = Figment::from(Serialized::defaults(ServeConfig::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(Box::new(figment::Error::from(format!(
                    "settings file {} does not exist",
                    file.display()
                ))));
            }
            figment = figment.merge(Renamed {
                inner: Toml::file_exact(file),
                layer: Layer::File(file.to_path_buf()),
                deprecated: deprecated.clone(),
            });
        }
        figment = figment
            .merge(Renamed {
                inner: Env::prefixed("QUIVER_").only(&ENV_KEYS),
                layer: Layer::Env,
                deprecated: deprecated.clone(),
            })
            .merge(Serialized::defaults(overrides));
        let config: ServeConfig = figment.extract().map_err(Box::new)?;
        config
            .check()
            .map_err(|e| Box::new(figment::Error::from(e)))?;
        let deprecated = std::mem::take(&mut *deprecated.lock().expect("not poisoned"));
        Ok((config, deprecated))
    }

    /// Whether requests must carry a key or token.
    pub fn auth_enabled(&self) -> bool {
        !self.api_keys.is_empty() || !self.bearer_tokens.is_empty()
    }

    /// Every setting within its bounds (a config built in code, not loaded,
    /// is checked by `Server::bind` with this too).
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.max_ids_per_request == 0 {
            return Err("max_ids_per_request must be at least 1".to_string());
        }
        if !(1..=MAX_CONCURRENT_REQUESTS).contains(&self.max_concurrent_requests) {
            return Err(format!(
                "max_concurrent_requests must be between 1 and {MAX_CONCURRENT_REQUESTS}, not {}",
                self.max_concurrent_requests
            ));
        }
        if self.http_threads > 1024 {
            return Err(format!(
                "http_threads must be at most 1024 (one per core is the point), not {}",
                self.http_threads
            ));
        }
        for (name, duration) in [
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
            ("shutdown_grace", self.shutdown_grace),
        ] {
            if duration.is_zero() || duration >= Duration::from_secs(86_400) {
                return Err(format!(
                    "{name} must be longer than 0 and shorter than a day, not {}",
                    quiver_core::duration::format(duration)
                ));
            }
        }
        self.check_connection_limits()?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("TLS needs both tls_cert and tls_key".to_string());
        }
        if self
            .api_keys
            .iter()
            .chain(&self.bearer_tokens)
            .any(String::is_empty)
        {
            return Err("api_keys and bearer_tokens must not contain empty strings".to_string());
        }
        Ok(())
    }
}

impl ServeConfig {
    fn check_connection_limits(&self) -> Result<(), String> {
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(format!(
                "max_connections must be between 1 and 1000000 (per listener), not {}",
                self.max_connections
            ));
        }
        if !(1..=100_000).contains(&self.max_concurrent_streams) {
            return Err(format!(
                "max_concurrent_streams must be between 1 and 100000 (per HTTP/2 connection), not {}",
                self.max_concurrent_streams
            ));
        }
        // Counted in KiB by a semaphore of u32 permits: at most 4 TiB.
        let max_budget = 1usize << 40;
        if self.max_buffered_body_bytes < self.max_body_bytes
            || self.max_buffered_body_bytes > max_budget
        {
            return Err(format!(
                "max_buffered_body_bytes must be at least max_body_bytes ({}), so that a largest \
                 body can arrive, and at most 1 TiB; not {}",
                self.max_body_bytes, self.max_buffered_body_bytes
            ));
        }
        Ok(())
    }
}

/// The settings whose key changed with the one duration grammar, as (old
/// key, new key). The old key holds a number of seconds.
const RENAMED: [(&str, &str); 3] = [
    ("header_timeout_secs", "header_timeout"),
    ("body_timeout_secs", "body_timeout"),
    ("shutdown_grace_secs", "shutdown_grace"),
];

/// Where a layer of settings comes from, to name it in a deprecation.
enum Layer {
    File(PathBuf),
    Env,
}

/// A provider of settings that reads each old key of [`RENAMED`] as its new
/// key (the seconds turned into duration text) and notes the use. Both keys
/// in one layer is an error: which to believe would be a guess.
struct Renamed<P> {
    inner: P,
    layer: Layer,
    deprecated: Arc<Mutex<Vec<String>>>,
}

impl<P: Provider> Provider for Renamed<P> {
    fn metadata(&self) -> Metadata {
        self.inner.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut data = self.inner.data()?;
        for dict in data.values_mut() {
            for (old, new) in RENAMED {
                let Some(value) = dict.remove(old) else {
                    continue;
                };
                let (old_name, new_name) = match &self.layer {
                    Layer::File(_) => (old.to_string(), new.to_string()),
                    Layer::Env => (
                        format!("QUIVER_{}", old.to_uppercase()),
                        format!("QUIVER_{}", new.to_uppercase()),
                    ),
                };
                if dict.contains_key(new) {
                    return Err(figment::Error::from(format!(
                        "{old_name} and {new_name} are both set; keep only {new_name}"
                    )));
                }
                let duration = value
                    .to_num_lossy()
                    .and_then(|n| {
                        // figment keeps integers as integers (`QUIVER_…=30`).
                        n.to_f64()
                            .or_else(|| n.to_u128().map(|u| u as f64))
                            .or_else(|| n.to_i128().map(|i| i as f64))
                    })
                    .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                    .ok_or_else(|| {
                        figment::Error::from(format!(
                            "{old_name} must be a number of seconds (better: {new_name} as a duration such as \"10s\")"
                        ))
                    })?;
                let text = quiver_core::duration::format(duration);
                let instead = match &self.layer {
                    Layer::File(path) => format!(
                        "`{old_name}` in {} is deprecated; write `{new_name} = \"{text}\"` instead",
                        path.display()
                    ),
                    Layer::Env => {
                        format!("{old_name} is deprecated; set {new_name}={text} instead")
                    }
                };
                let mut deprecated = self.deprecated.lock().expect("not poisoned");
                if !deprecated.contains(&instead) {
                    deprecated.push(instead);
                }
                dict.insert(new.to_string(), Value::from(text));
            }
        }
        Ok(data)
    }
}

/// A TOML list, or one string of comma-separated values (how environment
/// variables carry lists: `QUIVER_API_KEYS=k1,k2`).
fn list_or_commas<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    Ok(match ListOrText::deserialize(deserializer)? {
        ListOrText::List(list) => list,
        ListOrText::Text(text) => {
            let values: Vec<String> = text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            // `QUIVER_API_KEYS=` is an unresolved secret far more often than
            // a wish to serve without auth: refuse it rather than turn auth off.
            if values.is_empty() {
                return Err(serde::de::Error::custom(format!(
                    "`{text}` holds no value (an empty or unresolved secret?); to serve \
                     without authentication, leave the variable unset"
                )));
            }
            values
        }
    })
}

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment::Jail's closures must return figment::Error, which is large"
)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "serve.toml",
                "http_addr = \"127.0.0.1:7000\"\ngrpc_addr = \"127.0.0.1:7001\"\nmax_ids_per_request = 5\napi_keys = [\"a\", \"b\"]\n",
            )?;
            jail.set_env("QUIVER_GRPC_ADDR", "127.0.0.1:7002");
            jail.set_env("QUIVER_BEARER_TOKENS", "t1, t2");
            jail.set_env("QUIVER_REPO", "not a setting");
            let overrides = ConfigOverrides {
                http_addr: Some("127.0.0.1:7003".parse().unwrap()),
                ..Default::default()
            };
            let config = ServeConfig::load(Some(Path::new("serve.toml")), &overrides).unwrap();
            assert_eq!(config.http_addr.port(), 7003, "a flag beats the file");
            assert_eq!(
                config.grpc_addr.port(),
                7002,
                "the environment beats the file"
            );
            assert_eq!(config.max_ids_per_request, 5);
            assert_eq!(config.api_keys, ["a", "b"]);
            assert_eq!(config.bearer_tokens, ["t1", "t2"]);
            assert_eq!(config.max_body_bytes, 1024 * 1024, "defaults fill the rest");
            Ok(())
        });
    }

    #[test]
    fn bad_settings_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "max_id_per_request = 5\n")?;
            let err = ServeConfig::load(Some(Path::new("typo.toml")), &Default::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("max_id_per_request"), "{err}");
            jail.create_file("zero.toml", "max_ids_per_request = 0\n")?;
            let err = ServeConfig::load(Some(Path::new("zero.toml")), &Default::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("max_ids_per_request"), "{err}");
            let err = ServeConfig::load(Some(Path::new("missing.toml")), &Default::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("missing.toml"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn connection_limits_are_checked() {
        figment::Jail::expect_with(|jail| {
            for (text, key) in [
                ("max_connections = 0\n", "max_connections"),
                ("max_connections = 10000000\n", "max_connections"),
                ("max_concurrent_streams = 0\n", "max_concurrent_streams"),
                (
                    "max_buffered_body_bytes = 1000\n",
                    "max_buffered_body_bytes",
                ),
                ("max_buffered_body_bytes = 0\n", "max_buffered_body_bytes"),
            ] {
                jail.create_file("serve.toml", text)?;
                let err = ServeConfig::load(Some(Path::new("serve.toml")), &Default::default())
                    .unwrap_err()
                    .to_string();
                assert!(err.contains(key), "{text}: {err}");
            }
            jail.create_file("serve.toml", "")?;
            jail.set_env("QUIVER_MAX_CONNECTIONS", "100");
            jail.set_env("QUIVER_MAX_CONCURRENT_STREAMS", "8");
            jail.set_env("QUIVER_MAX_BUFFERED_BODY_BYTES", "2097152");
            let config = ServeConfig::load(None, &Default::default()).unwrap();
            assert_eq!(config.max_connections, 100);
            assert_eq!(config.max_concurrent_streams, 8);
            assert_eq!(config.max_buffered_body_bytes, 2 * 1024 * 1024);
            Ok(())
        });
    }

    #[test]
    fn empty_credentials_refuse_to_start_instead_of_turning_auth_off() {
        figment::Jail::expect_with(|jail| {
            for (variable, value) in [
                ("QUIVER_API_KEYS", ""),
                ("QUIVER_API_KEYS", " , ,"),
                ("QUIVER_BEARER_TOKENS", ","),
            ] {
                jail.clear_env();
                jail.set_env(variable, value);
                let err = ServeConfig::load(None, &Default::default())
                    .unwrap_err()
                    .to_string();
                assert!(
                    err.contains("holds no value"),
                    "{variable}={value:?}: {err}"
                );
            }
            jail.clear_env();
            jail.set_env("QUIVER_API_KEYS", "k1, ,k2");
            let config = ServeConfig::load(None, &Default::default()).unwrap();
            assert_eq!(config.api_keys, ["k1", "k2"]);
            assert!(config.auth_enabled());
            Ok(())
        });
    }

    #[test]
    fn huge_numbers_are_config_errors() {
        figment::Jail::expect_with(|jail| {
            for (text, expected) in [
                (
                    "max_concurrent_requests = 9223372036854775807\n",
                    "max_concurrent_requests must be between 1 and 1000000",
                ),
                (
                    "max_concurrent_requests = 1000001\n",
                    "max_concurrent_requests must be between 1 and 1000000",
                ),
                ("max_concurrent_requests = -1\n", "max_concurrent_requests"),
                // Beyond TOML's integers: the parser refuses it.
                (
                    "max_concurrent_requests = 99999999999999999999\n",
                    "serve.toml",
                ),
                ("max_ids_per_request = 1e300\n", "max_ids_per_request"),
            ] {
                jail.create_file("serve.toml", text)?;
                let err = ServeConfig::load(Some(Path::new("serve.toml")), &Default::default())
                    .unwrap_err()
                    .to_string();
                assert!(err.contains(expected), "{text}: {err}");
            }
            jail.create_file("serve.toml", "")?;
            jail.set_env("QUIVER_MAX_CONCURRENT_REQUESTS", "18446744073709551615");
            let err = ServeConfig::load(Some(Path::new("serve.toml")), &Default::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("max_concurrent_requests"), "{err}");
            jail.set_env("QUIVER_MAX_CONCURRENT_REQUESTS", "1000000");
            let config =
                ServeConfig::load(Some(Path::new("serve.toml")), &Default::default()).unwrap();
            assert_eq!(config.max_concurrent_requests, MAX_CONCURRENT_REQUESTS);
            Ok(())
        });
    }

    #[test]
    fn durations_are_text_and_old_seconds_keys_still_work_with_a_warning() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "serve.toml",
                "header_timeout = \"2s 500ms\"\nbody_timeout_secs = 1.5\n",
            )?;
            jail.set_env("QUIVER_SHUTDOWN_GRACE_SECS", "30");
            let (config, deprecated) = ServeConfig::load_noting_deprecated(
                Some(Path::new("serve.toml")),
                &Default::default(),
            )
            .unwrap();
            assert_eq!(config.header_timeout, Duration::from_millis(2_500));
            assert_eq!(config.body_timeout, Duration::from_millis(1_500));
            assert_eq!(config.shutdown_grace, Duration::from_secs(30));
            assert_eq!(
                deprecated,
                [
                    "`body_timeout_secs` in serve.toml is deprecated; write `body_timeout = \"1s 500ms\"` instead",
                    "QUIVER_SHUTDOWN_GRACE_SECS is deprecated; set QUIVER_SHUTDOWN_GRACE=30s instead",
                ]
            );

            // The environment still beats the file across old and new keys.
            jail.clear_env();
            jail.set_env("QUIVER_BODY_TIMEOUT", "4s");
            let (config, deprecated) = ServeConfig::load_noting_deprecated(
                Some(Path::new("serve.toml")),
                &Default::default(),
            )
            .unwrap();
            assert_eq!(config.body_timeout, Duration::from_secs(4));
            assert_eq!(deprecated.len(), 1, "{deprecated:?}");

            jail.clear_env();
            jail.create_file("serve.toml", "")?;
            let (config, deprecated) = ServeConfig::load_noting_deprecated(
                Some(Path::new("serve.toml")),
                &Default::default(),
            )
            .unwrap();
            assert_eq!(
                config.header_timeout,
                Duration::from_secs(10),
                "the default"
            );
            assert!(deprecated.is_empty());
            Ok(())
        });
    }

    #[test]
    fn bad_durations_are_named() {
        figment::Jail::expect_with(|jail| {
            for (text, expected) in [
                ("header_timeout = 10\n", "header_timeout"),
                ("header_timeout = \"soon\"\n", "`soon` is not a duration"),
                (
                    "header_timeout = \"0s\"\n",
                    "header_timeout must be longer than 0",
                ),
                (
                    "body_timeout = \"2d\"\n",
                    "body_timeout must be longer than 0 and shorter than a day",
                ),
                (
                    "body_timeout = \"2s\"\nbody_timeout_secs = 3\n",
                    "body_timeout_secs and body_timeout are both set",
                ),
                (
                    "shutdown_grace_secs = -1\n",
                    "shutdown_grace_secs must be a number of seconds",
                ),
                (
                    "shutdown_grace_secs = \"soon\"\n",
                    "shutdown_grace_secs must be a number of seconds",
                ),
            ] {
                jail.create_file("serve.toml", text)?;
                let err = ServeConfig::load(Some(Path::new("serve.toml")), &Default::default())
                    .unwrap_err()
                    .to_string();
                assert!(err.contains(expected), "{text}: {err}");
            }
            Ok(())
        });
    }
}

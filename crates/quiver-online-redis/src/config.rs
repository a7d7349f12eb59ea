//! [`RedisStoreConfig`]: the `[online_store]` settings of a Redis store, and
//! how they become a connectable [`redis::Client`] (URL, credentials, TLS).

use crate::error::Error;
use redis::{ConnectionAddr, IntoConnectionInfo, TlsCertificates};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How Quiver reaches one Redis server: the `[online_store]` table of
/// `quiver.toml` without its `type = "redis"` key.
///
/// Durations are written the way `ttl` is elsewhere in `quiver.toml`: a number
/// and a unit, such as `"500ms"`, `"2s"` or `"1m"`. Relative file paths are
/// relative to the directory the process runs in (the repository root for
/// `quiver`). Only `url` usually needs setting:
///
/// ```toml
/// [online_store]
/// type = "redis"
/// url = "rediss://redis.internal:6380/0"
/// username = "quiver"
/// password_env = "QUIVER_REDIS_PASSWORD"
/// tls_ca_file = "certs/redis-ca.pem"
/// connect_timeout = "1s"
/// request_timeout = "500ms"
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStoreConfig {
    /// `redis://host:port/db` for plain TCP or `rediss://host:port/db` for
    /// TLS. The database number is optional (0). Default
    /// `redis://127.0.0.1:6379`.
    #[serde(default = "default_url")]
    pub url: String,
    /// The ACL user to authenticate as (Redis 6 and later). Without it, a
    /// password authenticates the `default` user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password, written into the file. Prefer `password_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The name of an environment variable holding the password, so that the
    /// secret stays out of `quiver.toml`. At most one of `password`,
    /// `password_env` and a password in `url` may be given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// PEM file of the certificate authorities that sign the server's
    /// certificate (`rediss://` only). Without it, the system's trusted roots
    /// are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// PEM file of a client certificate chain, for servers that require one
    /// (`tls-auth-clients yes`). Needs `tls_client_key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_cert_file: Option<PathBuf>,
    /// PEM file of the private key of `tls_client_cert_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_key_file: Option<PathBuf>,
    /// How long one attempt to open a connection (TCP, TLS and AUTH) may
    /// take. Default `"1s"`.
    #[serde(
        default = "default_connect_timeout",
        with = "quiver_core::duration::text"
    )]
    pub connect_timeout: Duration,
    /// How long one round trip (a batch read, or one chunk of a write) may
    /// wait for its answer. Default `"2s"`. A read against a stopped server
    /// fails with `OnlineError::Unavailable` after at most about
    /// `connect_timeout + request_timeout`.
    #[serde(
        default = "default_request_timeout",
        with = "quiver_core::duration::text"
    )]
    pub request_timeout: Duration,
    /// What every key of this store starts with, so several projects can
    /// share one Redis database. Default: the project name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// Rows sent per round trip when writing. Default 1,000: large enough that
    /// the round trip is a small part of the time, small enough to bound the
    /// memory of one request (about 250 KiB for rows of 22 floats).
    #[serde(default = "default_write_chunk_rows")]
    pub write_chunk_rows: usize,
}

impl Default for RedisStoreConfig {
    fn default() -> Self {
        RedisStoreConfig {
            url: default_url(),
            username: None,
            password: None,
            password_env: None,
            tls_ca_file: None,
            tls_client_cert_file: None,
            tls_client_key_file: None,
            connect_timeout: default_connect_timeout(),
            request_timeout: default_request_timeout(),
            key_prefix: None,
            write_chunk_rows: default_write_chunk_rows(),
        }
    }
}

impl std::fmt::Debug for RedisStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password and a password inside the URL never reach a log.
        let redacted = |set: bool| if set { "<redacted>" } else { "<none>" };
        f.debug_struct("RedisStoreConfig")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &redacted(self.password.is_some()))
            .field("password_env", &self.password_env)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_client_cert_file", &self.tls_client_cert_file)
            .field("tls_client_key_file", &self.tls_client_key_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("key_prefix", &self.key_prefix)
            .field("write_chunk_rows", &self.write_chunk_rows)
            .finish()
    }
}

fn default_url() -> String {
    "redis://127.0.0.1:6379".to_string()
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(1)
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_write_chunk_rows() -> usize {
    1_000
}

/// `redis://user:secret@host` without the secret.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// A checked configuration: the client to connect with and the address
/// errors name.
pub(crate) struct Connection {
    pub client: redis::Client,
    /// `127.0.0.1:6379`, or `redis.internal:6380 (TLS)`.
    pub address: String,
}

impl RedisStoreConfig {
    /// Checks the settings, reads the secrets and certificates they name, and
    /// builds the client. Connects to nothing.
    pub(crate) fn connection(&self) -> Result<Connection, Error> {
        let config = |key: &str, problem: String| Error::Config {
            key: key.to_string(),
            problem,
        };
        let tls = match self.url.split_once("://").map(|(scheme, _)| scheme) {
            Some("redis") => false,
            Some("rediss") => true,
            _ => {
                return Err(config(
                    "url",
                    format!(
                        "`{}` is not a Redis URL; write redis://host:port or rediss://host:port (TLS)",
                        redact_url(&self.url)
                    ),
                ));
            }
        };
        let info = self.url.as_str().into_connection_info().map_err(|e| {
            config(
                "url",
                format!("`{}` is not a valid Redis URL: {e}", redact_url(&self.url)),
            )
        })?;
        for (key, timeout) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if timeout.is_zero() {
                return Err(config(key, "must be longer than 0".into()));
            }
            // Longer is no timeout at all, and sums of such would overflow.
            if timeout > MAX_TIMEOUT {
                return Err(config(
                    key,
                    format!(
                        "must be at most 1h, not {}",
                        quiver_core::duration::format(timeout)
                    ),
                ));
            }
        }
        if self.write_chunk_rows == 0 {
            return Err(config("write_chunk_rows", "must be at least 1".into()));
        }

        let mut redis_settings = info.redis_settings().clone();
        let password = match (&self.password, &self.password_env) {
            (Some(_), Some(_)) => {
                return Err(config(
                    "password_env",
                    "give either `password` or `password_env`, not both".into(),
                ));
            }
            (Some(password), None) => Some(password.clone()),
            (None, Some(name)) => Some(std::env::var(name).map_err(|_| {
                config(
                    "password_env",
                    format!("the environment variable `{name}` is not set (or not UTF-8)"),
                )
            })?),
            (None, None) => None,
        };
        if let Some(password) = password {
            if redis_settings.password().is_some() {
                return Err(config(
                    "password",
                    "the url already carries a password; give it in one place".into(),
                ));
            }
            redis_settings = redis_settings.set_password(password);
        }
        if let Some(username) = &self.username {
            if redis_settings.username().is_some() {
                return Err(config(
                    "username",
                    "the url already carries a user name; give it in one place".into(),
                ));
            }
            redis_settings = redis_settings.set_username(username);
        }
        // Nagle's algorithm would hold small pipelined requests back for a
        // delayed ACK: tens of milliseconds on a sub-millisecond read.
        let tcp_settings = info.tcp_settings().clone().set_nodelay(true);
        let info = info
            .set_redis_settings(redis_settings)
            .set_tcp_settings(tcp_settings);

        let address = match info.addr() {
            ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
            ConnectionAddr::TcpTls { host, port, .. } => format!("{host}:{port} (TLS)"),
            other => format!("{other:?}"),
        };

        let tls_files = [
            ("tls_ca_file", &self.tls_ca_file),
            ("tls_client_cert_file", &self.tls_client_cert_file),
            ("tls_client_key_file", &self.tls_client_key_file),
        ];
        if !tls {
            if let Some((key, _)) = tls_files.iter().find(|(_, file)| file.is_some()) {
                return Err(config(key, "TLS settings need a rediss:// url".to_string()));
            }
            let client = redis::Client::open(info).map_err(|e| config("url", e.to_string()))?;
            return Ok(Connection { client, address });
        }

        // redis-rs builds its rustls config with the process-wide default
        // provider. A binary that links both of rustls's providers (the full
        // `quiver` does, through reqwest) has no default until one is
        // installed, and rustls would panic at the first connection. Quiver's
        // other TLS code names ring explicitly, so installing ring changes
        // nothing for it; if something installed a provider first, keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client_tls = match (&self.tls_client_cert_file, &self.tls_client_key_file) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                client_cert: read_pem("tls_client_cert_file", cert)?,
                client_key: read_pem("tls_client_key_file", key)?,
            }),
            (Some(_), None) => {
                return Err(config(
                    "tls_client_key_file",
                    "`tls_client_cert_file` needs its private key here".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(config(
                    "tls_client_cert_file",
                    "`tls_client_key_file` needs its certificate here".into(),
                ));
            }
        };
        let root_cert = match &self.tls_ca_file {
            Some(file) => Some(read_pem("tls_ca_file", file)?),
            None => None,
        };
        let client = redis::Client::build_with_tls(
            info,
            TlsCertificates {
                client_tls,
                root_cert,
            },
        )
        .map_err(|e| config("tls_ca_file", format!("the TLS files are not usable: {e}")))?;
        Ok(Connection { client, address })
    }
}

fn read_pem(key: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Config {
        key: key.to_string(),
        problem: format!("cannot read {}: {e}", path.display()),
    })
}

/// The longest `connect_timeout` or `request_timeout`.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<RedisStoreConfig, String> {
        toml::from_str(toml).map_err(|e| e.to_string())
    }

    fn problem(config: &RedisStoreConfig) -> (String, String) {
        match config.connection() {
            Err(Error::Config { key, problem }) => (key, problem),
            Err(other) => panic!("expected a config error, got {other}"),
            Ok(_) => panic!("expected a config error"),
        }
    }

    #[test]
    fn defaults_need_no_settings() {
        let config = parse("").unwrap();
        assert_eq!(config, RedisStoreConfig::default());
        assert_eq!(config.connect_timeout, Duration::from_secs(1));
        let connection = config.connection().unwrap();
        assert_eq!(connection.address, "127.0.0.1:6379");
    }

    #[test]
    fn durations_are_humantime_text() {
        let config = parse("connect_timeout = \"250ms\"\nrequest_timeout = \"3s\"").unwrap();
        assert_eq!(config.connect_timeout, Duration::from_millis(250));
        assert_eq!(config.request_timeout, Duration::from_secs(3));
        let error = parse("request_timeout = \"soon\"").unwrap_err();
        assert!(error.contains("`soon` is not a duration"), "{error}");
        let error = parse("request_timeout = 500").unwrap_err();
        assert!(
            error.contains("request_timeout") && error.contains("no unit"),
            "{error}"
        );
        let round_trip: RedisStoreConfig =
            toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
        assert_eq!(round_trip, config);
    }

    #[test]
    fn timeouts_are_bounded() {
        let config = parse("request_timeout = \"500000000000y\"").unwrap();
        let (key, reason) = problem(&config);
        assert_eq!(key, "request_timeout");
        assert!(reason.starts_with("must be at most 1h, not "), "{reason}");
        let config = parse("connect_timeout = \"0s\"").unwrap();
        assert_eq!(problem(&config).0, "connect_timeout");
        assert!(
            parse("connect_timeout = \"1h\"")
                .unwrap()
                .connection()
                .is_ok()
        );
    }

    #[test]
    fn unknown_settings_are_refused() {
        let error = parse("url = \"redis://h:1\"\npasword = \"x\"").unwrap_err();
        assert!(error.contains("unknown field `pasword`"), "{error}");
    }

    #[test]
    fn only_redis_urls_are_accepted() {
        let config = RedisStoreConfig {
            url: "http://user:hunter2@host".into(),
            ..Default::default()
        };
        let (key, problem) = problem(&config);
        assert_eq!(key, "url");
        assert!(problem.contains("rediss://"), "{problem}");
        assert!(!problem.contains("hunter2"), "{problem}");
    }

    #[test]
    fn tls_settings_need_a_tls_url() {
        let config = RedisStoreConfig {
            tls_ca_file: Some("ca.pem".into()),
            ..Default::default()
        };
        assert_eq!(problem(&config).0, "tls_ca_file");
        let config = RedisStoreConfig {
            url: "rediss://localhost:6380".into(),
            tls_client_cert_file: Some("client.pem".into()),
            ..Default::default()
        };
        assert_eq!(problem(&config).0, "tls_client_key_file");
        let config = RedisStoreConfig {
            url: "rediss://localhost:6380".into(),
            tls_ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let (key, problem) = problem(&config);
        assert_eq!(key, "tls_ca_file");
        assert!(problem.contains("/nonexistent/ca.pem"), "{problem}");
    }

    #[test]
    fn the_password_is_given_once_and_never_printed() {
        let config = RedisStoreConfig {
            password: Some("hunter2".into()),
            password_env: Some("X".into()),
            ..Default::default()
        };
        assert_eq!(problem(&config).0, "password_env");
        let config = RedisStoreConfig {
            url: "redis://:inurl@127.0.0.1:6379".into(),
            password: Some("hunter2".into()),
            ..Default::default()
        };
        assert_eq!(problem(&config).0, "password");
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("inurl"),
            "{printed}"
        );
        let config = RedisStoreConfig {
            password_env: Some("QUIVER_TEST_SURELY_UNSET_VARIABLE".into()),
            ..Default::default()
        };
        let (key, problem) = problem(&config);
        assert_eq!(key, "password_env");
        assert!(problem.contains("QUIVER_TEST_SURELY_UNSET_VARIABLE"));
    }

    #[test]
    fn the_address_names_host_port_and_tls() {
        let config = RedisStoreConfig {
            url: "rediss://cache.example:6380/2".into(),
            ..Default::default()
        };
        assert_eq!(
            config.connection().unwrap().address,
            "cache.example:6380 (TLS)"
        );
    }
}

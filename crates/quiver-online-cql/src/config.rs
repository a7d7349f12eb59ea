//! [`CqlStoreConfig`]: the `[online_store]` table of `quiver.toml` when its
//! `type` is `"cassandra"`, with that `type` key taken out by the caller.
//!
//! Every setting but `contact_points` has a default suited to a single
//! development node; the crate docs show a production cluster and Amazon
//! Keyspaces. Durations are written as a whole number and a unit: `500ms`,
//! `5s`, `2m`, `1h`.

use crate::error::CqlError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to reach and use a Cassandra, ScyllaDB or Amazon Keyspaces cluster.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CqlStoreConfig {
    /// `host:port` of one or more nodes to start from; the driver discovers
    /// the rest of the cluster from them.
    pub contact_points: Vec<String>,
    /// The keyspace holding the store's tables. Default: the project name.
    #[serde(default)]
    pub keyspace: Option<String>,
    /// The datacenter whose nodes serve requests (`datacenter1`, or the AWS
    /// region for Keyspaces). Requests never leave it; `None` treats every
    /// node as local, which suits a single-datacenter cluster.
    #[serde(default)]
    pub local_datacenter: Option<String>,
    /// Consistency of the server's reads. Default `LOCAL_ONE`.
    #[serde(default = "default_read_consistency")]
    pub read_consistency: Consistency,
    /// Consistency of the job's writes, and of the reads the job makes to
    /// count what it skips. Default `LOCAL_QUORUM`.
    #[serde(default = "default_write_consistency")]
    pub write_consistency: Consistency,
    /// Longest wait for one request before it counts as failed (and a server
    /// answers 503). Default `5s`, above Cassandra's own read and write
    /// timeouts so that those surface as the server's answer.
    #[serde(
        default = "default_request_timeout",
        deserialize_with = "quiver_core::duration::text::deserialize"
    )]
    pub request_timeout: Duration,
    /// Longest wait to open a connection to a node. Default `5s`.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "quiver_core::duration::text::deserialize"
    )]
    pub connect_timeout: Duration,
    /// Replication of the keyspace, used only when the store creates it, as
    /// CQL writes it: `{ class = "NetworkTopologyStrategy", datacenter1 = 3 }`.
    /// Default `{ class = "SimpleStrategy", replication_factor = 1 }`: one
    /// copy, right for a single development node and wrong for anything else.
    #[serde(default)]
    pub replication: Replication,
    /// Whether `quiver apply` (and a first write) may create the keyspace.
    /// Default `true`; set `false` where the role may not (Amazon Keyspaces,
    /// most production clusters) and create it beforehand.
    #[serde(default = "default_true")]
    pub create_keyspace: bool,
    /// TLS to the nodes; absent means plain TCP.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// User for Cassandra's `PasswordAuthenticator` (or a Keyspaces
    /// service-specific credential).
    #[serde(default)]
    pub username: Option<String>,
    /// The password itself. Prefer `password_env`, which keeps it out of the
    /// repository.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Name of the environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// Most rows a job writes at once. Default 64.
    #[serde(default = "default_write_concurrency")]
    pub write_concurrency: usize,
    /// How often a write request is retried after a timeout or an overload
    /// (`WriteTimeout`, `ReadTimeout`, `Unavailable`, `Overloaded`; Amazon
    /// Keyspaces reports throttling as these) before the job fails. Default 5.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// The first wait before a retry; each further retry waits up to twice as
    /// long, with random jitter. Default `100ms`.
    #[serde(
        default = "default_retry_backoff",
        deserialize_with = "quiver_core::duration::text::deserialize"
    )]
    pub retry_backoff: Duration,
    /// How often a process rereads the definitions of the views it serves,
    /// in the background: after a job redefines a view, another process
    /// serves the previous definition (its rows and its layout, never mixed)
    /// for at most twice this long. `0s` reads the definition on every
    /// request, a second round trip each. Default `1s`.
    #[serde(
        default = "default_layout_refresh",
        deserialize_with = "quiver_core::duration::text::deserialize"
    )]
    pub layout_refresh: Duration,
}

/// TLS settings of the connections to the nodes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the certificate authorities that signed the nodes'
    /// certificates (for Amazon Keyspaces, the Amazon root certificates).
    pub ca_file: PathBuf,
    /// PEM certificate chain presented to nodes that require client
    /// certificates; needs `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Whether a node's certificate must name the address the driver
    /// connected to. The driver connects to nodes by IP address, so this
    /// needs certificates with IP subject alternative names. Default `true`;
    /// `false` still checks the chain against `ca_file`.
    #[serde(default = "default_true")]
    pub verify_hostname: bool,
}

/// A consistency level, as CQL names it (`LOCAL_QUORUM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Consistency {
    /// One replica anywhere.
    One,
    /// Two replicas.
    Two,
    /// Three replicas.
    Three,
    /// A majority of all replicas.
    Quorum,
    /// Every replica: any node down fails the request.
    All,
    /// One replica in the local datacenter.
    LocalOne,
    /// A majority of the local datacenter's replicas.
    LocalQuorum,
    /// A majority in every datacenter (writes only).
    EachQuorum,
}

impl Consistency {
    pub(crate) fn to_driver(self) -> scylla::frame::types::Consistency {
        use scylla::frame::types::Consistency as C;
        match self {
            Consistency::One => C::One,
            Consistency::Two => C::Two,
            Consistency::Three => C::Three,
            Consistency::Quorum => C::Quorum,
            Consistency::All => C::All,
            Consistency::LocalOne => C::LocalOne,
            Consistency::LocalQuorum => C::LocalQuorum,
            Consistency::EachQuorum => C::EachQuorum,
        }
    }

    /// The level a read on behalf of a write uses: the same, except that
    /// `EACH_QUORUM` is for writes only.
    pub(crate) fn for_reading(self) -> Consistency {
        match self {
            Consistency::EachQuorum => Consistency::LocalQuorum,
            other => other,
        }
    }
}

/// The `replication` map of `CREATE KEYSPACE`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Replication(pub BTreeMap<String, ReplicationValue>);

/// One value of a [`Replication`] map: a strategy name or a replica count.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ReplicationValue {
    /// A replica count (`datacenter1 = 3`).
    Count(u32),
    /// Text (`class = "NetworkTopologyStrategy"`).
    Text(String),
}

impl Default for Replication {
    fn default() -> Self {
        Replication(BTreeMap::from([
            (
                "class".to_string(),
                ReplicationValue::Text("SimpleStrategy".to_string()),
            ),
            ("replication_factor".to_string(), ReplicationValue::Count(1)),
        ]))
    }
}

impl Replication {
    /// The map as a CQL literal, `class` first:
    /// `{'class': 'SimpleStrategy', 'replication_factor': '1'}`.
    pub fn to_cql(&self) -> String {
        let entry = |key: &str, value: &ReplicationValue| {
            let value = match value {
                ReplicationValue::Count(n) => n.to_string(),
                ReplicationValue::Text(t) => t.clone(),
            };
            format!("{}: {}", cql_string(key), cql_string(&value))
        };
        let class = self.0.get("class").map(|v| entry("class", v));
        let rest = self
            .0
            .iter()
            .filter(|(k, _)| *k != "class")
            .map(|(k, v)| entry(k, v));
        let entries: Vec<String> = class.into_iter().chain(rest).collect();
        format!("{{{}}}", entries.join(", "))
    }
}

/// A CQL string literal: single quotes, inner quotes doubled.
fn cql_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A password, kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The password.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The credentials to log in with, resolved from the configuration.
pub(crate) struct Credentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl CqlStoreConfig {
    /// The settings of `quiver.toml`'s `[online_store]` table, its `type`
    /// key taken out. An unknown, missing or mistyped key is a
    /// [`CqlError::Config`] naming it.
    pub fn from_toml(settings: toml::Table) -> Result<CqlStoreConfig, CqlError> {
        CqlStoreConfig::deserialize(toml::Value::Table(settings)).map_err(|error| {
            let problem = error.message().trim().to_string();
            // serde names the key in backticks for unknown and missing fields.
            let key = ["unknown field `", "missing field `"]
                .iter()
                .find_map(|prefix| problem.strip_prefix(prefix)?.split('`').next())
                .unwrap_or("online_store")
                .to_string();
            CqlError::Config { key, problem }
        })
    }

    /// The defaults, for a cluster reached through `contact_points`.
    pub fn new<S: Into<String>>(contact_points: impl IntoIterator<Item = S>) -> CqlStoreConfig {
        CqlStoreConfig {
            contact_points: contact_points.into_iter().map(Into::into).collect(),
            keyspace: None,
            local_datacenter: None,
            read_consistency: default_read_consistency(),
            write_consistency: default_write_consistency(),
            request_timeout: default_request_timeout(),
            connect_timeout: default_connect_timeout(),
            replication: Replication::default(),
            create_keyspace: true,
            tls: None,
            username: None,
            password: None,
            password_env: None,
            write_concurrency: default_write_concurrency(),
            max_retries: default_max_retries(),
            retry_backoff: default_retry_backoff(),
            layout_refresh: default_layout_refresh(),
        }
    }

    /// The configuration with relative TLS file paths taken as relative to
    /// `base` (the repository folder) rather than to the working directory.
    pub fn with_base_dir(mut self, base: &Path) -> CqlStoreConfig {
        if let Some(tls) = &mut self.tls {
            for path in [
                Some(&mut tls.ca_file),
                tls.cert_file.as_mut(),
                tls.key_file.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
        }
        self
    }

    /// The keyspace to use: the configured one, or the project's name.
    pub(crate) fn keyspace_or<'a>(&'a self, project: &'a str) -> &'a str {
        self.keyspace.as_deref().unwrap_or(project)
    }

    /// Checks the settings that serde cannot, naming the setting at fault.
    pub(crate) fn validate(&self, keyspace: &str) -> Result<(), CqlError> {
        let problem = |key: &str, problem: String| {
            Err(CqlError::Config {
                key: key.to_string(),
                problem,
            })
        };
        if self.contact_points.is_empty() || self.contact_points.iter().any(|c| c.is_empty()) {
            return problem(
                "contact_points",
                "give one or more nodes as \"host:port\", such as [\"127.0.0.1:9042\"]".into(),
            );
        }
        if !is_cql_name(keyspace) {
            return problem(
                "keyspace",
                format!(
                    "`{keyspace}` is not a keyspace name: use 1 to 48 letters, digits and `_`{}",
                    if self.keyspace.is_none() {
                        " (it defaults to the project name; set `keyspace` to choose another)"
                    } else {
                        ""
                    }
                ),
            );
        }
        for (key, value) in [
            ("request_timeout", self.request_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value.is_zero() {
                return problem(key, "must be longer than 0s".into());
            }
        }
        if self.write_concurrency == 0 {
            return problem("write_concurrency", "must be at least 1".into());
        }
        match self.replication.0.get("class") {
            Some(ReplicationValue::Text(class)) if !class.is_empty() => {}
            _ => {
                return problem(
                    "replication",
                    "needs a `class`, such as { class = \"NetworkTopologyStrategy\", datacenter1 = 3 }"
                        .into(),
                );
            }
        }
        if let Some(tls) = &self.tls
            && tls.cert_file.is_some() != tls.key_file.is_some()
        {
            return problem(
                "tls",
                "give both `cert_file` and `key_file` for a client certificate, or neither".into(),
            );
        }
        if self.password.is_some() && self.password_env.is_some() {
            return problem(
                "password",
                "give either `password` or `password_env`, not both".into(),
            );
        }
        if self.username.is_none() && (self.password.is_some() || self.password_env.is_some()) {
            return problem("username", "a password needs a `username`".into());
        }
        Ok(())
    }

    /// The username and password, reading `password_env` now.
    pub(crate) fn credentials(&self) -> Result<Option<Credentials>, CqlError> {
        let Some(username) = &self.username else {
            return Ok(None);
        };
        let password = match (&self.password, &self.password_env) {
            (Some(secret), _) => secret.expose().to_string(),
            (None, Some(var)) => std::env::var(var).map_err(|e| CqlError::Config {
                key: "password_env".to_string(),
                problem: format!("environment variable `{var}` cannot be read: {e}"),
            })?,
            (None, None) => {
                return Err(CqlError::Config {
                    key: "password_env".to_string(),
                    problem: format!(
                        "user `{username}` needs a password: set `password_env` to the \
                         environment variable holding it"
                    ),
                });
            }
        };
        Ok(Some(Credentials {
            username: username.clone(),
            password,
        }))
    }
}

/// Whether `name` is a valid keyspace or table name: 1 to 48 of `[A-Za-z0-9_]`.
pub(crate) fn is_cql_name(name: &str) -> bool {
    (1..=48).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn default_read_consistency() -> Consistency {
    Consistency::LocalOne
}
fn default_write_consistency() -> Consistency {
    Consistency::LocalQuorum
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_true() -> bool {
    true
}
fn default_write_concurrency() -> usize {
    64
}
fn default_max_retries() -> u32 {
    5
}
fn default_retry_backoff() -> Duration {
    Duration::from_millis(100)
}
fn default_layout_refresh() -> Duration {
    Duration::from_secs(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CqlStoreConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn a_minimal_table_takes_the_defaults() {
        let config = parse(r#"contact_points = ["127.0.0.1:9042"]"#).unwrap();
        assert_eq!(config, CqlStoreConfig::new(["127.0.0.1:9042"]));
        assert_eq!(config.keyspace_or("energy"), "energy");
        assert_eq!(config.read_consistency, Consistency::LocalOne);
        assert_eq!(config.write_consistency, Consistency::LocalQuorum);
        assert_eq!(
            config.replication.to_cql(),
            "{'class': 'SimpleStrategy', 'replication_factor': '1'}"
        );
        config.validate("energy").unwrap();
    }

    #[test]
    fn a_keyspaces_table_parses() {
        let config = parse(
            r#"
            contact_points = ["cassandra.eu-west-1.amazonaws.com:9142"]
            keyspace = "quiver"
            local_datacenter = "eu-west-1"
            read_consistency = "LOCAL_ONE"
            write_consistency = "LOCAL_QUORUM"
            request_timeout = "1500ms"
            create_keyspace = false
            username = "quiver-at-123456789012"
            password_env = "KEYSPACES_PASSWORD"
            replication = { class = "NetworkTopologyStrategy", eu-west-1 = 3 }
            tls = { ca_file = "certs/keyspaces-bundle.pem", verify_hostname = false }
            "#,
        )
        .unwrap();
        assert_eq!(config.request_timeout, Duration::from_millis(1500));
        assert_eq!(
            config.replication.to_cql(),
            "{'class': 'NetworkTopologyStrategy', 'eu-west-1': '3'}"
        );
        let config = config.with_base_dir(Path::new("/repo"));
        assert_eq!(
            config.tls.as_ref().unwrap().ca_file,
            Path::new("/repo/certs/keyspaces-bundle.pem")
        );
        config.validate("quiver").unwrap();
    }

    #[test]
    fn a_table_from_quiver_toml_is_checked_naming_the_key() {
        let table = |text: &str| text.parse::<toml::Table>().unwrap();
        let config = CqlStoreConfig::from_toml(table("contact_points = [\"h:1\"]")).unwrap();
        assert_eq!(config, CqlStoreConfig::new(["h:1"]));
        for (text, key) in [
            ("contact_points = [\"h:1\"]\nhosts = 1", "hosts"),
            ("keyspace = \"k\"", "contact_points"),
        ] {
            match CqlStoreConfig::from_toml(table(text)) {
                Err(CqlError::Config { key: got, problem }) => {
                    assert_eq!(got, key, "{problem}")
                }
                other => panic!("expected a Config error for {key}, got {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_name() {
        let err = parse("contact_points = [\"a:1\"]\nhosts = 1").unwrap_err();
        assert!(err.to_string().contains("unknown field `hosts`"), "{err}");
        let err = parse("contact_points = [\"a:1\"]\nrequest_timeout = \"5\"").unwrap_err();
        assert!(err.to_string().contains("not a duration"), "{err}");
        let err = parse("contact_points = [\"a:1\"]\nread_consistency = \"SERIAL\"").unwrap_err();
        assert!(err.to_string().contains("LOCAL_QUORUM"), "{err}");
    }

    #[test]
    fn validation_names_the_setting() {
        let key_of = |config: &CqlStoreConfig, keyspace: &str| match config.validate(keyspace) {
            Err(CqlError::Config { key, .. }) => key,
            other => panic!("expected a config error, got {other:?}"),
        };
        let config = CqlStoreConfig::new(Vec::<String>::new());
        assert_eq!(key_of(&config, "ks"), "contact_points");
        let config = CqlStoreConfig::new(["a:1"]);
        assert_eq!(key_of(&config, "my-project"), "keyspace");
        let mut both = config.clone();
        both.username = Some("u".into());
        both.password = Some(Secret::new("p"));
        both.password_env = Some("P".into());
        assert_eq!(key_of(&both, "ks"), "password");
        let mut no_class = config.clone();
        no_class.replication.0.remove("class");
        assert_eq!(key_of(&no_class, "ks"), "replication");
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let mut config = CqlStoreConfig::new(["a:1"]);
        config.password = Some(Secret::new("hunter2"));
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn durations_need_a_unit() {
        let config = parse("contact_points = [\"a:1\"]\nrequest_timeout = \"250ms\"").unwrap();
        assert_eq!(config.request_timeout, Duration::from_millis(250));
        for bad in ["\"5\"", "5", "\"s\""] {
            let error = parse(&format!(
                "contact_points = [\"a:1\"]\nrequest_timeout = {bad}"
            ))
            .unwrap_err()
            .to_string();
            assert!(error.contains("request_timeout"), "{bad}: {error}");
        }
    }
}

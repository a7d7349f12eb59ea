//! Where a repository keeps its offline and online data.

use serde::{Deserialize, Serialize};

/// The offline store: Delta Lake tables, one per feature view, under `location`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineStoreConfig {
    /// A folder (relative to the repository) or URI holding one table per view.
    #[serde(default = "default_offline_location")]
    pub location: String,
    /// Object-store settings for an `s3://` location, as delta-rs names them
    /// (`aws_region`, `aws_endpoint_url`, `aws_allow_http`, …). The usual
    /// `AWS_*` environment variables apply too; secrets belong there, never
    /// in this file (see `OfflineStoreConfig::inline_secret`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub storage_options: std::collections::BTreeMap<String, String>,
}

impl OfflineStoreConfig {
    /// The first storage option that holds a secret, which `quiver apply`
    /// refuses to find in a file that is committed with the repository.
    pub fn inline_secret(&self) -> Option<&str> {
        const SECRETS: [&str; 3] = [
            "aws_secret_access_key",
            "aws_session_token",
            "secret_access_key",
        ];
        self.storage_options
            .keys()
            .find(|key| SECRETS.contains(&key.to_ascii_lowercase().as_str()))
            .map(String::as_str)
    }
}

impl Default for OfflineStoreConfig {
    fn default() -> Self {
        Self {
            location: default_offline_location(),
            storage_options: Default::default(),
        }
    }
}

fn default_offline_location() -> String {
    "data/offline".to_string()
}

/// The online store backend: the `[online_store]` table of `quiver.toml`,
/// chosen by its `type` key (default `embedded`).
///
/// Only the embedded store is known here. Every other backend lives in its
/// own crate with its own settings struct, so this variant keeps its table
/// as written and `quiver-backends` — the one `match` from `type` to a
/// store — checks it with that crate's struct (unknown keys included) when
/// the repository is applied. Adding a backend never touches this crate.
#[derive(Debug, Clone, PartialEq)]
pub enum OnlineStoreConfig {
    /// The embedded store: an LMDB environment on local disk, no server.
    Embedded {
        /// Folder (relative to the repository) holding the LMDB files.
        path: String,
        /// Largest size the store may grow to, in MiB (address space, not disk).
        map_size_mib: usize,
        /// Slots of LMDB's reader table: how many read transactions every
        /// process using the store may have open at once (each thread
        /// holds one only while it reads). The default covers a server at
        /// its most HTTP threads plus the jobs and `quiver get`s beside it.
        max_readers: u32,
    },
    /// A backend in a crate of its own (`redis`, `cassandra`).
    Backend {
        /// The `type` key.
        kind: String,
        /// Every other key of the table, for the backend to check.
        settings: toml::Table,
    },
}

impl OnlineStoreConfig {
    /// The `type` key: `embedded`, `redis`, `cassandra`, ….
    pub fn kind(&self) -> &str {
        match self {
            OnlineStoreConfig::Embedded { .. } => "embedded",
            OnlineStoreConfig::Backend { kind, .. } => kind,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddedSettings {
    #[serde(default = "default_online_path")]
    path: String,
    #[serde(default = "default_map_size_mib")]
    map_size_mib: usize,
    #[serde(default = "default_max_readers")]
    max_readers: u32,
}

impl<'de> Deserialize<'de> for OnlineStoreConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut settings = toml::Table::deserialize(deserializer)?;
        let kind = match settings.remove("type") {
            None => "embedded".to_string(),
            Some(toml::Value::String(kind)) => kind,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`type` must be a string such as \"embedded\", not {other}"
                )));
            }
        };
        if kind != "embedded" {
            return Ok(OnlineStoreConfig::Backend { kind, settings });
        }
        let embedded = EmbeddedSettings::deserialize(toml::Value::Table(settings))
            .map_err(D::Error::custom)?;
        if !(1..=MAX_MAP_SIZE_MIB).contains(&embedded.map_size_mib) {
            return Err(D::Error::custom(format!(
                "`map_size_mib` must be between 1 and {MAX_MAP_SIZE_MIB} (128 TiB, the address \
                 space of a 64-bit process), not {}",
                embedded.map_size_mib
            )));
        }
        if embedded.max_readers == 0 {
            return Err(D::Error::custom(
                "`max_readers` must be at least 1 (the default is 4096)",
            ));
        }
        Ok(OnlineStoreConfig::Embedded {
            path: embedded.path,
            map_size_mib: embedded.map_size_mib,
            max_readers: embedded.max_readers,
        })
    }
}

impl Serialize for OnlineStoreConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = match self {
            OnlineStoreConfig::Embedded {
                path,
                map_size_mib,
                max_readers,
            } => {
                let mut table = toml::Table::new();
                table.insert("path".to_string(), toml::Value::String(path.clone()));
                table.insert(
                    "map_size_mib".to_string(),
                    toml::Value::Integer(i64::try_from(*map_size_mib).unwrap_or(i64::MAX)),
                );
                table.insert(
                    "max_readers".to_string(),
                    toml::Value::Integer(i64::from(*max_readers)),
                );
                table
            }
            OnlineStoreConfig::Backend { settings, .. } => settings.clone(),
        };
        table.insert(
            "type".to_string(),
            toml::Value::String(self.kind().to_string()),
        );
        table.serialize(serializer)
    }
}

impl Default for OnlineStoreConfig {
    fn default() -> Self {
        OnlineStoreConfig::Embedded {
            path: default_online_path(),
            map_size_mib: default_map_size_mib(),
            max_readers: default_max_readers(),
        }
    }
}

fn default_online_path() -> String {
    "data/online".to_string()
}

/// The largest `map_size_mib`: LMDB maps the whole size into the process's
/// address space, which is 128 TiB on x86-64 and AArch64 Linux; larger
/// sizes could only fail (or, in bytes, overflow).
const MAX_MAP_SIZE_MIB: usize = 128 << 20;

fn default_map_size_mib() -> usize {
    4096
}

/// A server's most HTTP threads (1,024) plus its runtime's, with room for
/// the jobs and `quiver get`s beside it: 64 bytes a slot, 256 KiB in all.
fn default_max_readers() -> u32 {
    4096
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<OnlineStoreConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn no_type_is_the_embedded_store_with_its_defaults() {
        assert_eq!(parse("").unwrap(), OnlineStoreConfig::default());
        assert_eq!(
            parse("type = \"embedded\"\npath = \"x\"").unwrap(),
            OnlineStoreConfig::Embedded {
                path: "x".to_string(),
                map_size_mib: 4096,
                max_readers: 4096
            }
        );
    }

    #[test]
    fn a_map_size_beyond_the_address_space_is_refused() {
        for size in ["0", "134217729", "9223372036854775807"] {
            let error = parse(&format!("map_size_mib = {size}")).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("`map_size_mib` must be between 1 and 134217728"),
                "{error}"
            );
        }
        let error = parse("map_size_mib = -1").unwrap_err();
        assert!(error.to_string().contains("map_size_mib"), "{error}");
        assert_eq!(
            parse("map_size_mib = 134217728").unwrap(),
            OnlineStoreConfig::Embedded {
                path: "data/online".to_string(),
                map_size_mib: MAX_MAP_SIZE_MIB,
                max_readers: default_max_readers(),
            }
        );
    }

    #[test]
    fn an_unknown_embedded_key_is_refused_by_name() {
        let error = parse("type = \"embedded\"\nmap_size = 1").unwrap_err();
        assert!(error.to_string().contains("map_size"), "{error}");
    }

    #[test]
    fn another_type_keeps_its_table_for_its_backend() {
        let config = parse("type = \"redis\"\nurl = \"redis://127.0.0.1:6379\"").unwrap();
        let OnlineStoreConfig::Backend { kind, settings } = &config else {
            panic!("{config:?}");
        };
        assert_eq!(kind, "redis");
        assert_eq!(settings["url"].as_str(), Some("redis://127.0.0.1:6379"));
        assert!(!settings.contains_key("type"));
        // The registry stores it as JSON and reads it back unchanged.
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains("\"type\":\"redis\""), "{json}");
        assert_eq!(
            serde_json::from_str::<OnlineStoreConfig>(&json).unwrap(),
            config
        );
        let embedded = OnlineStoreConfig::default();
        let json = serde_json::to_string(&embedded).unwrap();
        assert_eq!(
            serde_json::from_str::<OnlineStoreConfig>(&json).unwrap(),
            embedded
        );
    }

    #[test]
    fn a_type_that_is_not_a_string_is_refused() {
        let error = parse("type = 3").unwrap_err();
        assert!(
            error.to_string().contains("`type` must be a string"),
            "{error}"
        );
    }
}

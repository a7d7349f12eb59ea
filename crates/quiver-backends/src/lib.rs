//! The backend factory: turns a repository's `[online_store]` table into an
//! [`OnlineStore`], in one `match` ([`open_online_store`]).
//!
//! It sits above every backend crate (`quiver-online` for the embedded store,
//! one crate per server-backed store) so that none of them depends on
//! another, and each server-backed backend is compiled only when its cargo
//! feature is on. Adding a backend is its crate, one arm here, one feature
//! and one docs page. A `type` this build does not know is refused with the
//! list of the ones it does, when the repository is applied.
//!
//! A server-backed store that cannot be reached when it is opened is not an
//! error here: [`open_online_store`] hands back a store that answers
//! [`OnlineError::Unavailable`] and opens itself on a later call once its
//! server answers (the private `reconnect` module), so `quiver serve` started before its
//! Redis or Cassandra reports not-ready and becomes ready by itself.
//!
//! # Example
//!
//! A repository without an `[online_store]` table gets the embedded store,
//! in its `data/online` folder:
//!
//! ```
//! use quiver_core::{FeatureRepo, scaffold};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! scaffold::init_energy_repo(dir.path())?;
//! let repo = FeatureRepo::load(dir.path())?;
//! assert_eq!(repo.online_store.kind(), "embedded");
//!
//! let store = quiver_backends::open_online_store(&repo).await?;
//! store.check().await?;
//! assert!(dir.path().join("data/online/data.mdb").is_file());
//! // Nothing written yet: the view has no layout in the store.
//! assert_eq!(store.layout(scaffold::ENERGY_VIEW).await?, None);
//! assert!(quiver_backends::known_backends().contains(&"embedded"));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod reconnect;

use quiver_core::{FeatureRepo, OnlineStoreConfig, SourceLocation};
use quiver_online::{EmbeddedStore, EmbeddedStoreConfig, OnlineError, OnlineStore, ViewLayout};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The `type`s of `[online_store]` this build can open.
pub fn known_backends() -> Vec<&'static str> {
    let mut known = vec!["embedded"];
    if cfg!(feature = "cassandra") {
        known.push("cassandra");
    }
    if cfg!(feature = "redis") {
        known.push("redis");
    }
    known
}

/// Opens the online store `repo` is configured with.
pub async fn open_online_store(repo: &FeatureRepo) -> Result<Arc<dyn OnlineStore>, OnlineError> {
    let OnlineStoreConfig::Backend { kind, settings } = &repo.online_store else {
        return open_embedded(repo);
    };
    #[cfg(not(any(feature = "cassandra", feature = "redis")))]
    let _ = settings;
    match kind.as_str() {
        #[cfg(feature = "cassandra")]
        "cassandra" => {
            let config = quiver_online_cql::CqlStoreConfig::from_toml(settings.clone())?
                .with_base_dir(&repo.root);
            let (project, ttls) = (repo.project.clone(), view_ttls(repo));
            reconnect::open(move || {
                let (config, project, ttls) = (config.clone(), project.clone(), ttls.clone());
                Box::pin(async move {
                    let store = quiver_online_cql::CqlStore::open(&config, &project, ttls).await?;
                    Ok(Arc::new(store) as Arc<dyn OnlineStore>)
                })
            })
            .await
        }
        #[cfg(feature = "redis")]
        "redis" => {
            let mut config: quiver_online_redis::RedisStoreConfig = backend_settings(settings)?;
            // Files are named relative to the repository, as everywhere in quiver.toml.
            for path in [
                config.tls_ca_file.as_mut(),
                config.tls_client_cert_file.as_mut(),
                config.tls_client_key_file.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                if path.is_relative() {
                    *path = repo.root.join(&*path);
                }
            }
            // Lazy: connects on first use, so a Redis that is down now is
            // `Unavailable` per call and used as soon as it is back.
            let store =
                quiver_online_redis::RedisStore::open(&config, &repo.project, view_ttls(repo))?;
            Ok(Arc::new(store))
        }
        _ => Err(OnlineError::Config {
            key: "type".to_string(),
            problem: format!(
                "unknown online store type \"{kind}\"; this build knows: {}",
                known_backends().join(", ")
            ),
        }),
    }
}

/// A backend's settings struct from the rest of its `[online_store]` table;
/// a missing, unknown or mistyped key is a `Config` error naming it.
#[cfg(feature = "redis")]
fn backend_settings<T: serde::de::DeserializeOwned>(
    settings: &toml::Table,
) -> Result<T, OnlineError> {
    T::deserialize(toml::Value::Table(settings.clone())).map_err(|error| {
        let problem = error.message().trim().to_string();
        // serde names the key in backticks for unknown and missing fields.
        let key = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|prefix| problem.strip_prefix(prefix)?.split('`').next())
            .unwrap_or("online_store")
            .to_string();
        OnlineError::Config { key, problem }
    })
}

fn open_embedded(repo: &FeatureRepo) -> Result<Arc<dyn OnlineStore>, OnlineError> {
    let OnlineStoreConfig::Embedded {
        path,
        map_size_mib,
        max_readers,
    } = &repo.online_store
    else {
        unreachable!("called for the embedded store only");
    };
    let path = match repo.resolve(path) {
        SourceLocation::Local(path) => path,
        SourceLocation::Uri(_) => {
            return Err(OnlineError::Config {
                key: "path".to_string(),
                problem: format!("the embedded store needs a local folder, not the URI {path}"),
            });
        }
    };
    let config = EmbeddedStoreConfig {
        path,
        map_size_mib: *map_size_mib,
        max_readers: *max_readers,
    };
    Ok(Arc::new(EmbeddedStore::open(&config)?))
}

/// Opens the online store of `repo` and prepares it for every view the
/// repository defines: what `quiver apply` does after checking the
/// definitions (a Cassandra store creates or alters its tables; an
/// incompatible change is refused before anything changes).
pub async fn prepare_online_store(repo: &FeatureRepo) -> Result<(), OnlineError> {
    refuse_written_secrets(&repo.online_store)?;
    let store = open_online_store(repo).await?;
    store.prepare(&layouts(repo)).await?;
    // A store that creates nothing in `prepare` (Redis) has not been
    // reached yet: `quiver apply` must not call a dead store ready.
    store.check().await
}

/// Refuses a password written into `[online_store]` (a `password` key, or
/// one inside a `url`): `quiver apply` copies the table into
/// `data/registry.json`, which is not a place for secrets. The backends take
/// `password_env`, the name of an environment variable, instead.
fn refuse_written_secrets(config: &OnlineStoreConfig) -> Result<(), OnlineError> {
    let OnlineStoreConfig::Backend { settings, .. } = config else {
        return Ok(());
    };
    let why = "quiver apply copies [online_store] into data/registry.json; put the \
               secret in an environment variable and name it in `password_env`";
    if settings.contains_key("password") {
        return Err(OnlineError::Config {
            key: "password".to_string(),
            problem: format!("a password written in quiver.toml is refused: {why}"),
        });
    }
    if let Some(url) = settings.get("url").and_then(|url| url.as_str())
        && let Some((_, rest)) = url.split_once("://")
        && let Some((user_info, _)) = rest.split_once('@')
        && user_info.contains(':')
    {
        return Err(OnlineError::Config {
            key: "url".to_string(),
            problem: format!("a password inside the URL is refused: {why}"),
        });
    }
    Ok(())
}

/// The layout of every view of `repo`, as its rows will be written.
pub fn layouts(repo: &FeatureRepo) -> Vec<ViewLayout> {
    repo.feature_views
        .values()
        .filter_map(|view| {
            let entity = repo.entities.get(&view.entity)?;
            Some(ViewLayout::of(view, entity))
        })
        .collect()
}

/// How long each view's rows live in a store that can expire them (the
/// views' `ttl`); views without one are absent.
pub fn view_ttls(repo: &FeatureRepo) -> HashMap<String, Duration> {
    repo.feature_views
        .values()
        .filter_map(|view| Some((view.name.clone(), Duration::from_secs(view.ttl_seconds?))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_test::TestRepo;

    fn repo_with_online_store(table: &str) -> (TestRepo, FeatureRepo) {
        let repo = TestRepo::energy(quiver_test::repo::ENERGY_HEADER);
        repo.set_online_store(table);
        let definitions = FeatureRepo::load(repo.path()).unwrap();
        (repo, definitions)
    }

    #[tokio::test]
    async fn the_default_is_the_embedded_store_in_the_repository() {
        let (repo, definitions) = repo_with_online_store("");
        let store = open_online_store(&definitions).await.unwrap();
        assert!(store.layout("energy_features").await.unwrap().is_none());
        prepare_online_store(&definitions).await.unwrap();
        assert!(repo.path().join("data/online/data.mdb").is_file());
        store.check().await.unwrap();
    }

    #[tokio::test]
    async fn an_unknown_type_names_the_known_ones() {
        let (_repo, definitions) = repo_with_online_store("type = \"dynamodb\"");
        let error = open_online_store(&definitions)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("\"dynamodb\""), "{error}");
        assert!(error.contains("this build knows: embedded"), "{error}");
    }

    #[tokio::test]
    async fn a_written_password_is_refused_before_the_registry_could_hold_it() {
        for (table, key) in [
            (
                "type = \"cassandra\"\ncontact_points = [\"h:9042\"]\npassword = \"s3cret\"",
                "password",
            ),
            (
                "type = \"redis\"\nurl = \"redis://:s3cret@127.0.0.1:6379\"",
                "url",
            ),
            (
                "type = \"redis\"\nurl = \"redis://user:s3cret@127.0.0.1:6379\"",
                "url",
            ),
        ] {
            let (_repo, definitions) = repo_with_online_store(table);
            match prepare_online_store(&definitions).await {
                Err(OnlineError::Config { key: got, problem }) => {
                    assert_eq!(got, key);
                    assert!(problem.contains("password_env") && !problem.contains("s3cret"));
                }
                other => panic!("{table}: {other:?}"),
            }
        }
    }

    #[test]
    fn layouts_and_ttls_come_from_the_views() {
        let (_repo, definitions) = repo_with_online_store("");
        let layouts = layouts(&definitions);
        assert_eq!(layouts.len(), 1);
        assert_eq!(layouts[0].view, "energy_features");
        assert_eq!(layouts[0].entity_key, "id");
        assert!(view_ttls(&definitions).is_empty());
    }
}

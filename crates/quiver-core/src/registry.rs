//! The registry: the definitions as last applied by `quiver apply`.
//!
//! Jobs and servers read the registry, not `quiver.toml`, so editing the TOML
//! changes nothing until the edit has been validated and applied — as in Feast.

use crate::{DefinitionError, FeatureRepo};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the registry lives, relative to the repository root.
pub const REGISTRY_FILE: &str = "data/registry.json";

/// A validated repository, as applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// Version of Quiver that applied it.
    pub quiver_version: String,
    /// When it was applied (RFC 3339, UTC).
    pub applied_at: String,
    /// The definitions.
    pub repo: FeatureRepo,
}

impl Registry {
    /// A registry recording `repo` as applied now.
    pub fn new(repo: FeatureRepo) -> Registry {
        Registry {
            quiver_version: env!("CARGO_PKG_VERSION").to_string(),
            applied_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            repo,
        }
    }

    /// The registry file of the repository at `root`.
    pub fn path(root: &Path) -> PathBuf {
        root.join(REGISTRY_FILE)
    }

    /// Writes the registry atomically (write a temporary file, then rename),
    /// so a reader never sees half a registry.
    pub fn save(&self) -> Result<PathBuf, DefinitionError> {
        let path = Registry::path(&self.repo.root);
        let write_err = |source| DefinitionError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_err)?;
        }
        let json = serde_json::to_vec_pretty(self).expect("definitions always serialise");
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(write_err)?;
        std::fs::rename(&tmp, &path).map_err(write_err)?;
        Ok(path)
    }

    /// Reads the registry of the repository at `root`.
    pub fn load(root: &Path) -> Result<Registry, DefinitionError> {
        let root = std::path::absolute(root).map_err(|source| DefinitionError::Read {
            path: root.to_path_buf(),
            source,
        })?;
        let path = Registry::path(&root);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DefinitionError::NotApplied { path });
            }
            Err(source) => return Err(DefinitionError::Read { path, source }),
        };
        let mut registry: Registry =
            serde_json::from_slice(&bytes).map_err(|e| DefinitionError::BadRegistry {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        // A hand-edited registry must not make later lookups panic.
        if let Err(reason) = check_structure(&registry.repo) {
            return Err(DefinitionError::BadRegistry { path, reason });
        }
        // The repository may have been moved or cloned elsewhere since it was applied.
        if registry.repo.root != root {
            registry.repo = rebase(registry.repo, &root);
        }
        Ok(registry)
    }
}

/// The rules of `quiver.toml` that the code reading a registry relies on
/// (names that resolve, a schema for every CSV source, views and services
/// that are not empty), checked again on a registry read from disk: `quiver
/// apply` wrote it valid, but a hand edit may not have kept it so.
fn check_structure(repo: &FeatureRepo) -> Result<(), String> {
    for source in repo.sources.values() {
        if source.format == crate::SourceFormat::Csv && source.schema.is_none() {
            return Err(format!("CSV source `{}` declares no schema", source.name));
        }
    }
    for view in repo.feature_views.values() {
        if !repo.sources.contains_key(&view.source) || !repo.entities.contains_key(&view.entity) {
            return Err(format!(
                "feature view `{}` names a source or entity it does not define",
                view.name
            ));
        }
        if view.features.is_empty() || view.features.len() > crate::MAX_FEATURES_PER_VIEW {
            return Err(format!(
                "feature view `{}` declares {} features (1 to {} are allowed)",
                view.name,
                view.features.len(),
                crate::MAX_FEATURES_PER_VIEW
            ));
        }
    }
    for service in repo.feature_services.values() {
        if service.features.is_empty() {
            return Err(format!(
                "feature service `{}` lists no features",
                service.name
            ));
        }
        for reference in &service.features {
            let known = repo
                .feature_views
                .get(&reference.view)
                .is_some_and(|view| view.feature(&reference.feature).is_some());
            if !known {
                return Err(format!(
                    "feature service `{}` names `{}:{}`, which no view declares",
                    service.name, reference.view, reference.feature
                ));
            }
        }
    }
    Ok(())
}

/// Moves every absolute path under the old root to the same place under `root`.
fn rebase(mut repo: FeatureRepo, root: &Path) -> FeatureRepo {
    let old = repo.root.clone();
    let move_path = |p: &PathBuf| match p.strip_prefix(&old) {
        Ok(rel) => root.join(rel),
        Err(_) => p.clone(),
    };
    for source in repo.sources.values_mut() {
        if let crate::SourceLocation::Local(p) = &source.location {
            source.location = crate::SourceLocation::Local(move_path(p));
        }
    }
    for view in repo.feature_views.values_mut() {
        view.sql_file = view.sql_file.as_ref().map(move_path);
    }
    repo.root = root.to_path_buf();
    repo
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The energy template applied in a temporary folder; the registry's
    /// JSON, edited by `edit`, then loaded again.
    fn load_edited(edit: impl Fn(&mut serde_json::Value)) -> Result<Registry, DefinitionError> {
        let dir = tempfile::tempdir().unwrap();
        crate::scaffold::init_energy_repo(dir.path()).unwrap();
        let repo = FeatureRepo::load(dir.path()).unwrap();
        let path = Registry::new(repo).save().unwrap();
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut json["repo"]);
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        Registry::load(dir.path())
    }

    fn refusal(edit: impl Fn(&mut serde_json::Value)) -> String {
        match load_edited(edit) {
            Err(error @ DefinitionError::BadRegistry { .. }) => error.to_string(),
            other => panic!("a broken registry was not refused: {other:?}"),
        }
    }

    #[test]
    fn an_applied_registry_loads() {
        let registry = load_edited(|_| {}).unwrap();
        assert!(!registry.repo.feature_services.is_empty());
    }

    #[test]
    fn hand_edits_that_break_the_rules_are_refused_by_name() {
        let error = refusal(|repo| {
            repo["feature_services"]["energy_model_v1"]["features"] = serde_json::json!([]);
        });
        assert!(
            error.contains("feature service `energy_model_v1` lists no features"),
            "{error}"
        );
        let error = refusal(|repo| {
            repo["feature_services"]["energy_model_v1"]["features"][0]["feature"] = "nope".into();
        });
        assert!(error.contains("`energy_features:nope`"), "{error}");
        let error = refusal(|repo| {
            repo["sources"]["energy_daily"]["schema"] = serde_json::Value::Null;
        });
        assert!(
            error.contains("CSV source `energy_daily` declares no schema"),
            "{error}"
        );
        let error = refusal(|repo| {
            repo["feature_views"]["energy_features"]["features"] = serde_json::json!([]);
        });
        assert!(error.contains("declares 0 features"), "{error}");
    }
}

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
        for view in registry.repo.feature_views.values() {
            if !registry.repo.sources.contains_key(&view.source)
                || !registry.repo.entities.contains_key(&view.entity)
            {
                return Err(DefinitionError::BadRegistry {
                    path,
                    reason: format!(
                        "feature view `{}` names a source or entity it does not define",
                        view.name
                    ),
                });
            }
        }
        // The repository may have been moved or cloned elsewhere since it was applied.
        if registry.repo.root != root {
            registry.repo = rebase(registry.repo, &root);
        }
        Ok(registry)
    }
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

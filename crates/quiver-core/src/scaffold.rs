//! `quiver init`: writes a new repository from the energy demo template.

use crate::DefinitionError;
use std::path::{Path, PathBuf};

/// The template's files: path relative to the repository, and contents.
const ENERGY_TEMPLATE: &[(&str, &str)] = &[
    (
        "quiver.toml",
        include_str!("../templates/energy/quiver.toml"),
    ),
    (
        "features/energy_features.sql",
        include_str!("../templates/energy/features/energy_features.sql"),
    ),
];

/// Writes the energy demo repository into `dir` and returns the files written.
///
/// Refuses to overwrite an existing `quiver.toml`, so running it twice, or in
/// the wrong folder, loses nothing.
pub fn init_energy_repo(dir: &Path) -> Result<Vec<PathBuf>, DefinitionError> {
    let config = dir.join(crate::CONFIG_FILE);
    if config.exists() {
        return Err(DefinitionError::AlreadyExists { path: config });
    }
    let mut written = Vec::new();
    for (relative, contents) in ENERGY_TEMPLATE {
        let path = dir.join(relative);
        let write_err = |source| DefinitionError::Write {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_err)?;
        }
        std::fs::write(&path, contents).map_err(write_err)?;
        written.push(path);
    }
    Ok(written)
}

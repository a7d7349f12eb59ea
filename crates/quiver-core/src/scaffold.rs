//! `quiver init`: writes a new repository from the energy demo template.
//!
//! The energy demo has one owner per piece: this template (the definitions,
//! and the names below that other code needs), `quiver_datagen::energy`
//! (the data and its CSV header), `quiver demo` (the walk-through that
//! puts them together) and `quiver_test::TestRepo` (the same repository
//! for tests). A test in quiver-test checks that the columns this template
//! declares are the columns the generator writes.

use crate::DefinitionError;
use std::path::{Path, PathBuf};

/// The template's feature view.
pub const ENERGY_VIEW: &str = "energy_features";

/// Where the template's source reads its CSV, relative to the repository
/// (`location` of `[sources.energy_daily]`).
pub const ENERGY_SOURCE_FILE: &str = "data/energy.csv";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_pieces_are_the_templates() {
        let config: toml::Table = toml::from_str(ENERGY_TEMPLATE[0].1).unwrap();
        let view = &config["feature_views"][ENERGY_VIEW];
        let source = &config["sources"][view["source"].as_str().unwrap()];
        assert_eq!(source["location"].as_str(), Some(ENERGY_SOURCE_FILE));
        let dir = tempfile::tempdir().unwrap();
        init_energy_repo(dir.path()).unwrap();
        let repo = crate::FeatureRepo::load(dir.path()).unwrap();
        assert!(repo.feature_view(ENERGY_VIEW).is_ok());
        assert!(init_energy_repo(dir.path()).is_err(), "never overwrites");
    }
}

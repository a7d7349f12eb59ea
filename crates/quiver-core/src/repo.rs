//! A feature repository: a folder with `quiver.toml`, the SQL it names, and
//! (by default) the data the stores write under `data/`.

use crate::feature_view::parse_ttl;
use crate::{
    BatchSource, DefinitionError, Entity, Feature, FeatureReference, FeatureService, FeatureView,
    OfflineStoreConfig, OnlineStoreConfig, SourceFormat, SourceLocation, ValueType,
};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The definitions file at the root of every repository.
pub const CONFIG_FILE: &str = "quiver.toml";

/// Every definition of one repository, loaded and checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRepo {
    /// The repository folder (absolute).
    pub root: PathBuf,
    /// Project name.
    pub project: String,
    /// Entities by name.
    pub entities: IndexMap<String, Entity>,
    /// Batch sources by name.
    pub sources: IndexMap<String, BatchSource>,
    /// Feature views by name.
    pub feature_views: IndexMap<String, FeatureView>,
    /// Feature services by name.
    pub feature_services: IndexMap<String, FeatureService>,
    /// Where feature history goes.
    pub offline_store: OfflineStoreConfig,
    /// Where the latest features go.
    pub online_store: OnlineStoreConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepo {
    project: RawProject,
    #[serde(default)]
    entities: IndexMap<String, RawEntity>,
    #[serde(default)]
    sources: IndexMap<String, RawSource>,
    #[serde(default)]
    feature_views: IndexMap<String, RawView>,
    #[serde(default)]
    feature_services: IndexMap<String, RawService>,
    #[serde(default)]
    offline_store: OfflineStoreConfig,
    #[serde(default)]
    online_store: OnlineStoreConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProject {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntity {
    join_key: String,
    #[serde(default = "string_type")]
    value_type: ValueType,
    #[serde(default)]
    description: String,
}

fn string_type() -> ValueType {
    ValueType::String
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    format: SourceFormat,
    location: String,
    timestamp_field: Option<String>,
    schema: Option<IndexMap<String, ValueType>>,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawView {
    source: String,
    entity: String,
    event_time: String,
    ttl: Option<String>,
    sql: Option<String>,
    sql_file: Option<String>,
    features: IndexMap<String, ValueType>,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    features: Vec<String>,
    #[serde(default)]
    description: String,
}

impl FeatureRepo {
    /// Loads and checks `DIR/quiver.toml`.
    pub fn load(dir: &Path) -> Result<FeatureRepo, DefinitionError> {
        let root = std::path::absolute(dir).map_err(|source| DefinitionError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let file = root.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&file).map_err(|source| DefinitionError::Read {
            path: file.clone(),
            source,
        })?;
        let raw: RawRepo = toml::from_str(&text).map_err(|source| DefinitionError::Syntax {
            path: file.clone(),
            source: Box::new(source),
        })?;
        Checker { root, file }.check(raw)
    }

    /// Path of the TOML file the definitions came from.
    pub fn config_file(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// The entity of `view` (checked to exist when the repository loaded).
    pub fn entity_of(&self, view: &FeatureView) -> &Entity {
        &self.entities[&view.entity]
    }

    /// The source of `view` (checked to exist when the repository loaded).
    pub fn source_of(&self, view: &FeatureView) -> &BatchSource {
        &self.sources[&view.source]
    }

    /// Resolves a location written in `quiver.toml` (a path relative to the
    /// repository, or a URI) against the repository root.
    pub fn resolve(&self, location: &str) -> SourceLocation {
        SourceLocation::resolve(location, &self.root)
    }
}

/// Turns raw TOML into checked definitions, remembering the file for errors.
struct Checker {
    root: PathBuf,
    file: PathBuf,
}

impl Checker {
    fn check(&self, raw: RawRepo) -> Result<FeatureRepo, DefinitionError> {
        self.identifier("project.name", &raw.project.name)?;
        let entities = self.entities(raw.entities)?;
        let sources = self.sources(raw.sources)?;
        let feature_views = self.views(raw.feature_views, &entities, &sources)?;
        let feature_services = self.services(raw.feature_services, &feature_views)?;
        if let Some(key) = raw.offline_store.inline_secret() {
            return Err(self.invalid(
                format!("offline_store.storage_options.{key}"),
                "a secret does not belong in quiver.toml, which is committed with the \
                 repository; set AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the \
                 environment instead",
            ));
        }
        // Sources and views are both tables to SQL, so they share one namespace.
        for name in feature_views.keys() {
            if sources.contains_key(name) {
                return Err(DefinitionError::DuplicateName {
                    file: self.file.clone(),
                    name: name.clone(),
                    first: format!("source `{name}`"),
                    second: format!("feature view `{name}`"),
                });
            }
        }
        Ok(FeatureRepo {
            root: self.root.clone(),
            project: raw.project.name,
            entities,
            sources,
            feature_views,
            feature_services,
            offline_store: raw.offline_store,
            online_store: raw.online_store,
        })
    }

    fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> DefinitionError {
        DefinitionError::Invalid {
            file: self.file.clone(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    fn identifier(&self, key: &str, name: &str) -> Result<(), DefinitionError> {
        let mut chars = name.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(())
        } else {
            Err(self.invalid(
                key,
                format!(
                    "`{name}` is not a valid name: use letters, digits and `_`, starting with a letter or `_`"
                ),
            ))
        }
    }

    fn entities(
        &self,
        raw: IndexMap<String, RawEntity>,
    ) -> Result<IndexMap<String, Entity>, DefinitionError> {
        let mut out = IndexMap::new();
        for (name, e) in raw {
            let key = format!("entities.{name}");
            self.identifier(&key, &name)?;
            self.identifier(&format!("{key}.join_key"), &e.join_key)?;
            if !matches!(e.value_type, ValueType::String | ValueType::Int64) {
                return Err(self.invalid(
                    format!("{key}.value_type"),
                    format!(
                        "a join key must be `string` or `int64`, not `{}`",
                        e.value_type
                    ),
                ));
            }
            out.insert(
                name.clone(),
                Entity {
                    name,
                    join_key: e.join_key,
                    value_type: e.value_type,
                    description: e.description,
                },
            );
        }
        Ok(out)
    }

    fn sources(
        &self,
        raw: IndexMap<String, RawSource>,
    ) -> Result<IndexMap<String, BatchSource>, DefinitionError> {
        let mut out = IndexMap::new();
        for (name, s) in raw {
            let key = format!("sources.{name}");
            self.identifier(&key, &name)?;
            if s.format == SourceFormat::Csv && s.schema.is_none() {
                return Err(self.invalid(
                    format!("{key}.schema"),
                    "a CSV source needs a declared schema (column = \"type\"), so that a bad value is reported with its line instead of changing an inferred type",
                ));
            }
            if let Some(schema) = &s.schema {
                for column in schema.keys() {
                    self.identifier(&format!("{key}.schema.{column}"), column)?;
                }
                if let Some(ts) = &s.timestamp_field {
                    match schema.get(ts) {
                        None => {
                            return Err(self.invalid(
                                format!("{key}.timestamp_field"),
                                format!("`{ts}` is not a column of the declared schema"),
                            ));
                        }
                        Some(t) if !t.is_temporal() => {
                            return Err(self.invalid(
                                format!("{key}.timestamp_field"),
                                format!("`{ts}` has type `{t}`; an event time must be `date` or `timestamp`"),
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
            if s.location.trim().is_empty() {
                return Err(self.invalid(format!("{key}.location"), "is empty"));
            }
            out.insert(
                name.clone(),
                BatchSource {
                    name,
                    format: s.format,
                    location: SourceLocation::resolve(&s.location, &self.root),
                    timestamp_field: s.timestamp_field,
                    schema: s.schema,
                    description: s.description,
                },
            );
        }
        Ok(out)
    }

    fn views(
        &self,
        raw: IndexMap<String, RawView>,
        entities: &IndexMap<String, Entity>,
        sources: &IndexMap<String, BatchSource>,
    ) -> Result<IndexMap<String, FeatureView>, DefinitionError> {
        let mut out = IndexMap::new();
        for (name, v) in raw {
            let key = format!("feature_views.{name}");
            self.identifier(&key, &name)?;
            if !sources.contains_key(&v.source) {
                return Err(self.unknown(
                    format!("{key}.source"),
                    "source",
                    &v.source,
                    sources.keys(),
                ));
            }
            let Some(entity) = entities.get(&v.entity) else {
                return Err(self.unknown(
                    format!("{key}.entity"),
                    "entity",
                    &v.entity,
                    entities.keys(),
                ));
            };
            self.identifier(&format!("{key}.event_time"), &v.event_time)?;
            let ttl_seconds = match &v.ttl {
                None => None,
                Some(text) => Some(
                    parse_ttl(text)
                        .map_err(|problem| self.invalid(format!("{key}.ttl"), problem))?,
                ),
            };
            let (sql, sql_file) = match (v.sql, v.sql_file) {
                (Some(sql), None) => (sql, None),
                (None, Some(file)) => {
                    let path = self.root.join(&file);
                    let sql =
                        std::fs::read_to_string(&path).map_err(|source| DefinitionError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    (sql, Some(path))
                }
                (Some(_), Some(_)) => {
                    return Err(self.invalid(&key, "give either `sql` or `sql_file`, not both"));
                }
                (None, None) => {
                    return Err(self.invalid(
                        &key,
                        "needs its transformation: `sql = \"SELECT …\"` or `sql_file = \"features/view.sql\"`",
                    ));
                }
            };
            if sql.trim().is_empty() {
                return Err(self.invalid(format!("{key}.sql"), "the SQL is empty"));
            }
            if v.features.is_empty() {
                return Err(self.invalid(
                    format!("{key}.features"),
                    "declare at least one feature (name = \"type\")",
                ));
            }
            if v.features.len() > crate::MAX_FEATURES_PER_VIEW {
                return Err(self.invalid(
                    format!("{key}.features"),
                    format!(
                        "declares {} features; a view holds at most {} (split it into several views)",
                        v.features.len(),
                        crate::MAX_FEATURES_PER_VIEW
                    ),
                ));
            }
            let mut features = Vec::with_capacity(v.features.len());
            for (feature, value_type) in v.features {
                let fkey = format!("{key}.features.{feature}");
                self.identifier(&fkey, &feature)?;
                if feature == entity.join_key || feature == v.event_time {
                    return Err(self.invalid(
                        fkey,
                        format!(
                            "`{feature}` is the view's {}; it is output by the SQL but is not a feature",
                            if feature == entity.join_key {
                                "entity key"
                            } else {
                                "event time"
                            }
                        ),
                    ));
                }
                features.push(Feature {
                    name: feature,
                    value_type,
                });
            }
            out.insert(
                name.clone(),
                FeatureView {
                    name,
                    source: v.source,
                    entity: v.entity,
                    event_time: v.event_time,
                    ttl_seconds,
                    sql,
                    sql_file,
                    features,
                    description: v.description,
                },
            );
        }
        Ok(out)
    }

    fn services(
        &self,
        raw: IndexMap<String, RawService>,
        views: &IndexMap<String, FeatureView>,
    ) -> Result<IndexMap<String, FeatureService>, DefinitionError> {
        let mut out = IndexMap::new();
        for (name, s) in raw {
            let key = format!("feature_services.{name}");
            self.identifier(&key, &name)?;
            let mut features = Vec::new();
            for text in &s.features {
                // `view` alone means every feature of the view.
                let (view_name, feature) = match FeatureReference::parse(text) {
                    Some(r) => (r.view, Some(r.feature)),
                    None if !text.contains(':') => (text.clone(), None),
                    None => {
                        return Err(self.invalid(
                            format!("{key}.features"),
                            format!("`{text}` is not `view:feature` or `view`"),
                        ));
                    }
                };
                let Some(view) = views.get(&view_name) else {
                    return Err(self.unknown(
                        format!("{key}.features"),
                        "feature view",
                        &view_name,
                        views.keys(),
                    ));
                };
                match feature {
                    Some(feature) if view.feature(&feature).is_none() => {
                        return Err(self.unknown(
                            format!("{key}.features"),
                            "feature",
                            &format!("{view_name}:{feature}"),
                            view.features.iter().map(|f| &f.name),
                        ));
                    }
                    Some(feature) => features.push(FeatureReference {
                        view: view_name,
                        feature,
                    }),
                    None => features.extend(view.features.iter().map(|f| FeatureReference {
                        view: view_name.clone(),
                        feature: f.name.clone(),
                    })),
                }
            }
            if features.is_empty() {
                return Err(self.invalid(format!("{key}.features"), "lists no features"));
            }
            out.insert(
                name.clone(),
                FeatureService {
                    name,
                    features,
                    description: s.description,
                },
            );
        }
        Ok(out)
    }

    fn unknown<'a>(
        &self,
        key: String,
        kind: &'static str,
        name: &str,
        known: impl Iterator<Item = &'a String>,
    ) -> DefinitionError {
        DefinitionError::UnknownName {
            file: self.file.clone(),
            key,
            kind,
            name: name.to_string(),
            known: known.cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_with_more_features_than_a_row_holds_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        crate::scaffold::init_energy_repo(dir.path()).unwrap();
        let config = dir.path().join(CONFIG_FILE);
        let text = std::fs::read_to_string(&config).unwrap();
        let last = "energy_stddev_1yr = \"float64\"\n";
        assert!(text.contains(last));
        // The template's 22 and these make one more than the limit.
        let extra: String = (22..=crate::MAX_FEATURES_PER_VIEW)
            .map(|i| format!("f{i} = \"float64\"\n"))
            .collect();
        std::fs::write(&config, text.replace(last, &format!("{last}{extra}"))).unwrap();
        let error = FeatureRepo::load(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("feature_views.energy_features.features")
                && error.contains("declares 65536 features; a view holds at most 65535"),
            "{error}"
        );
    }
}

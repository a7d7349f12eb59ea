//! Resolving what a request names — `view:feature` references, a feature
//! view, a feature service — against a repository. The CLI, the server and
//! the simulator all resolve through [`FeatureRepo::resolve_feature`] and
//! [`FeatureRepo::feature_service`] (the training-set join checks its
//! features with [`FeatureView::resolve_feature`]), so a name is accepted or
//! refused by one rule and reported by one [`ReferenceError`].
//!
//! Definitions that name things inside `quiver.toml` (a service listing a
//! view) are checked when the repository loads and reported as
//! [`crate::DefinitionError`]s, which point at the TOML key instead.

use crate::error::list;
use crate::{Feature, FeatureReference, FeatureRepo, FeatureService, FeatureView};
use serde::{Deserialize, Serialize};

/// A name in a request that the repository does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// A string that is not `view:feature`.
    #[error("`{reference}` is not a feature reference; write `view:feature`")]
    NotAReference {
        /// What was given.
        reference: String,
    },
    /// A feature view the repository does not define.
    #[error(
        "unknown feature view `{view}`; the repository defines: {}",
        list(known)
    )]
    UnknownView {
        /// The name asked for.
        view: String,
        /// The views there are.
        known: Vec<String>,
    },
    /// A feature its view does not declare.
    #[error(
        "feature view `{view}` has no feature `{feature}`; its features: {}",
        list(known)
    )]
    UnknownFeature {
        /// The view.
        view: String,
        /// The name asked for.
        feature: String,
        /// The view's features, in declared order.
        known: Vec<String>,
    },
    /// A feature service the repository does not define.
    #[error(
        "unknown feature service `{service}`; the repository defines: {}",
        list(known)
    )]
    UnknownService {
        /// The name asked for.
        service: String,
        /// The services there are.
        known: Vec<String>,
    },
    /// A selection that names no feature at all.
    #[error("no features named; name at least one `view:feature` or a feature service")]
    NoFeatures,
}

/// The features a request asks for: references, or a feature service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSelection {
    /// `view:feature` references.
    Features(Vec<String>),
    /// A feature service's name.
    Service(String),
}

impl FeatureView {
    /// The declared feature called `name`, or the error naming the ones
    /// there are.
    pub fn resolve_feature(&self, name: &str) -> Result<&Feature, ReferenceError> {
        self.feature(name)
            .ok_or_else(|| ReferenceError::UnknownFeature {
                view: self.name.clone(),
                feature: name.to_string(),
                known: self.features.iter().map(|f| f.name.clone()).collect(),
            })
    }
}

impl FeatureRepo {
    /// The feature view called `name`.
    pub fn feature_view(&self, name: &str) -> Result<&FeatureView, ReferenceError> {
        self.feature_views
            .get(name)
            .ok_or_else(|| ReferenceError::UnknownView {
                view: name.to_string(),
                known: self.feature_views.keys().cloned().collect(),
            })
    }

    /// The feature service called `name`.
    pub fn feature_service(&self, name: &str) -> Result<&FeatureService, ReferenceError> {
        self.feature_services
            .get(name)
            .ok_or_else(|| ReferenceError::UnknownService {
                service: name.to_string(),
                known: self.feature_services.keys().cloned().collect(),
            })
    }

    /// The feature `reference` (`view:feature`) names, with its view: the one
    /// rule every request's references are checked by.
    pub fn resolve_feature(
        &self,
        reference: &str,
    ) -> Result<(&FeatureView, FeatureReference), ReferenceError> {
        let parsed =
            FeatureReference::parse(reference).ok_or_else(|| ReferenceError::NotAReference {
                reference: reference.to_string(),
            })?;
        let view = self.feature_view(&parsed.view)?;
        view.resolve_feature(&parsed.feature)?;
        Ok((view, parsed))
    }

    /// The features `selection` names, checked, in its order.
    pub fn resolve_features(
        &self,
        selection: &FeatureSelection,
    ) -> Result<Vec<FeatureReference>, ReferenceError> {
        let references = match selection {
            FeatureSelection::Features(references) => references
                .iter()
                .map(|text| self.resolve_feature(text).map(|(_, reference)| reference))
                .collect::<Result<Vec<_>, _>>()?,
            FeatureSelection::Service(name) => self.feature_service(name)?.features.clone(),
        };
        if references.is_empty() {
            return Err(ReferenceError::NoFeatures);
        }
        Ok(references)
    }

    /// The features `selection` names, grouped by view in the order views are
    /// first named, each feature once.
    pub fn select_features(
        &self,
        selection: &FeatureSelection,
    ) -> Result<Vec<(&FeatureView, Vec<String>)>, ReferenceError> {
        let mut selected: Vec<(&FeatureView, Vec<String>)> = Vec::new();
        for reference in self.resolve_features(selection)? {
            let view = &self.feature_views[&reference.view];
            match selected.iter_mut().find(|(v, _)| v.name == view.name) {
                Some((_, features)) if !features.contains(&reference.feature) => {
                    features.push(reference.feature)
                }
                Some(_) => {}
                None => selected.push((view, vec![reference.feature])),
            }
        }
        Ok(selected)
    }

    /// Every feature of every view, as `view:feature` references.
    pub fn all_features(&self) -> Vec<String> {
        self.feature_views
            .values()
            .flat_map(|view| {
                view.features
                    .iter()
                    .map(move |f| format!("{}:{}", view.name, f.name))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> FeatureRepo {
        let dir = tempfile::tempdir().unwrap();
        crate::scaffold::init_energy_repo(dir.path()).unwrap();
        let repo = FeatureRepo::load(dir.path()).unwrap();
        // The repository is loaded; the folder is no longer needed.
        drop(dir);
        repo
    }

    #[test]
    fn references_resolve_or_say_what_exists() {
        let repo = repo();
        let view = repo.feature_views.keys().next().unwrap().clone();
        let feature = repo.feature_views[&view].features[0].name.clone();
        let (found, reference) = repo.resolve_feature(&format!("{view}:{feature}")).unwrap();
        assert_eq!(
            (found.name.as_str(), reference.feature.as_str()),
            (view.as_str(), feature.as_str())
        );

        let error = repo.resolve_feature("nope").unwrap_err();
        assert_eq!(
            error,
            ReferenceError::NotAReference {
                reference: "nope".into()
            }
        );
        let error = repo.resolve_feature("nope:x").unwrap_err();
        assert!(
            matches!(&error, ReferenceError::UnknownView { view, known } if view == "nope" && known.contains(&view_name(&repo))),
            "{error}"
        );
        let error = repo.resolve_feature(&format!("{view}:nope")).unwrap_err();
        let ReferenceError::UnknownFeature {
            view: v,
            feature: f,
            known,
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!((v.as_str(), f.as_str()), (view.as_str(), "nope"));
        assert!(known.contains(&feature));
        assert!(
            error
                .to_string()
                .contains(&format!("has no feature `nope`; its features: `{feature}`")),
            "{error}"
        );
    }

    fn view_name(repo: &FeatureRepo) -> String {
        repo.feature_views.keys().next().unwrap().clone()
    }

    #[test]
    fn selections_group_by_view_and_services_resolve_by_name() {
        let repo = repo();
        let view = view_name(&repo);
        let features: Vec<String> = repo.feature_views[&view]
            .features
            .iter()
            .map(|f| f.name.clone())
            .collect();
        let selection = FeatureSelection::Features(vec![
            format!("{view}:{}", features[1]),
            format!("{view}:{}", features[0]),
            format!("{view}:{}", features[1]),
        ]);
        let selected = repo.select_features(&selection).unwrap();
        assert_eq!(selected.len(), 1);
        assert_eq!(
            selected[0].1,
            vec![features[1].clone(), features[0].clone()]
        );

        let service = repo.feature_services.values().next().unwrap();
        let resolved = repo
            .resolve_features(&FeatureSelection::Service(service.name.clone()))
            .unwrap();
        assert_eq!(resolved, service.features);
        let error = repo
            .resolve_features(&FeatureSelection::Service("nope".into()))
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("unknown feature service `nope`; the repository defines: "),
            "{error}"
        );
        assert_eq!(
            repo.resolve_features(&FeatureSelection::Features(vec![])),
            Err(ReferenceError::NoFeatures)
        );
    }
}

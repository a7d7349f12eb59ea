//! A feature service is the set of features one model reads, possibly from
//! several feature views.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The features one model uses, named once so clients ask for them by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureService {
    /// Name clients use (`feature_service = "energy_model_v1"`).
    pub name: String,
    /// The features, in the order the model expects them.
    pub features: Vec<FeatureReference>,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
}

/// One feature of one view, written `view:feature` as in Feast.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FeatureReference {
    /// The feature view.
    pub view: String,
    /// The feature within it.
    pub feature: String,
}

impl FeatureReference {
    /// Parses `view:feature`; `None` when there is no colon or a side is empty.
    pub fn parse(text: &str) -> Option<FeatureReference> {
        let (view, feature) = text.split_once(':')?;
        (!view.is_empty() && !feature.is_empty() && !feature.contains(':')).then(|| {
            FeatureReference {
                view: view.to_string(),
                feature: feature.to_string(),
            }
        })
    }
}

impl fmt::Display for FeatureReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.view, self.feature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_view_colon_feature() {
        let r = FeatureReference::parse("energy_features:energy_sum_3months").unwrap();
        assert_eq!(r.view, "energy_features");
        assert_eq!(r.feature, "energy_sum_3months");
        assert_eq!(r.to_string(), "energy_features:energy_sum_3months");
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in ["energy_features", ":x", "v:", "a:b:c", ""] {
            assert!(FeatureReference::parse(bad).is_none(), "{bad}");
        }
    }
}

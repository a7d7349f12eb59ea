//! Quiver's vocabulary, and the feature repository that declares it.
//!
//! Read [`FeatureRepo`] first: it loads `quiver.toml` (plus any SQL files it
//! names) into checked [`Entity`], [`BatchSource`], [`FeatureView`] and
//! [`FeatureService`] values. Everything later in the pipeline — the job, the
//! stores, the server — takes these types, never raw TOML.
//!
//! Checks that need no data and no SQL engine (names, references, types,
//! paths) happen here, so their errors can point at the TOML key. Checks that
//! need DataFusion (does the SQL parse, does it yield the declared columns)
//! live in `quiver-job`, which reports them with the same [`DefinitionError`].
//!
//! # Example
//!
//! Load the repository `quiver init` writes, and resolve a feature the way a
//! request names it (`view:feature`):
//!
//! ```
//! use quiver_core::{FeatureRepo, ValueType, scaffold};
//!
//! let dir = tempfile::tempdir()?;
//! scaffold::init_energy_repo(dir.path())?;
//! let repo = FeatureRepo::load(dir.path())?;
//!
//! let (view, reference) = repo.resolve_feature("energy_features:energy_sum_3months")?;
//! assert_eq!(view.entity, "household");
//! assert_eq!(reference.feature, "energy_sum_3months");
//! assert_eq!(
//!     view.feature("energy_count_1yr").map(|f| f.value_type),
//!     Some(ValueType::Int64)
//! );
//! // An unknown name is an error that lists the names there are.
//! let unknown = repo.resolve_feature("energy_features:nope").unwrap_err();
//! assert!(unknown.to_string().contains("energy_sum_3months"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod duration;
mod entity;
mod error;
mod feature_service;
mod feature_view;
mod reference;
mod registry;
mod repo;
pub mod scaffold;
mod source;
mod store_config;
mod value_type;

pub use entity::Entity;
pub use error::{DefinitionError, Foreign, error_chain};
pub use feature_service::{FeatureReference, FeatureService};
pub use feature_view::{Feature, FeatureView, MAX_FEATURES_PER_VIEW, Ttl};
pub use reference::{FeatureSelection, ReferenceError};
pub use registry::{REGISTRY_FILE, Registry};
pub use repo::{CONFIG_FILE, FeatureRepo};
pub use source::{BatchSource, SourceFormat, SourceLocation};
pub use store_config::{OfflineStoreConfig, OnlineStoreConfig};
pub use value_type::ValueType;

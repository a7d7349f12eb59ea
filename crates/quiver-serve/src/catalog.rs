//! [`Catalog`]: the repository's definitions, resolved once at startup into
//! what the hot path needs — per view its join key, TTL and read-latency
//! metric; per feature service (and per distinct feature list seen) a
//! [`Plan`] saying which views to read and where each column comes from.

use crate::ServeError;
use quiver_core::{FeatureRepo, Ttl, ValueType};
use quiver_online::ViewLayout;
use quiver_online::value_json::write_str;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

/// Distinct ad-hoc feature lists whose plans are kept; beyond it plans are
/// built per request (still correct, a little slower).
const PLAN_CACHE_CAPACITY: usize = 1024;

/// The definitions the server answers from.
pub(crate) struct Catalog {
    /// The definitions, which resolve every name a request gives
    /// (`FeatureRepo::resolve_feature`): the rule and its errors are
    /// quiver-core's, shared with the CLI and the simulator.
    repo: FeatureRepo,
    views: HashMap<String, Arc<ViewEntry>>,
    /// The join keys of the views' entities: `entities` may hold no other.
    join_keys: HashSet<String>,
    /// Features of all views together: no request can name more, each once.
    feature_count: usize,
    services: HashMap<String, Arc<Plan>>,
    /// Plans of feature lists seen, by the list. Hashed with foldhash: the
    /// key is a whole list of names (hundreds of bytes), and a hash per
    /// request shows in the profile at SipHash's speed; the cache's
    /// capacity bounds what colliding keys could cost.
    plans: RwLock<HashMap<Vec<u8>, Arc<Plan>, foldhash::fast::RandomState>>,
}

/// One feature view, as the server needs it.
pub(crate) struct ViewEntry {
    /// The view's name.
    pub name: String,
    /// Its entity's join key (`id`).
    pub join_key: String,
    /// The type of that key: ids must match it.
    pub key_type: ValueType,
    /// The view's ttl: rows older than it are outside max age.
    pub ttl: Ttl,
    /// The declared features, in declared order.
    pub features: Vec<String>,
    /// Store read latency of this view.
    pub read_seconds: metrics::Histogram,
}

/// How to answer one selection of features: the entity key columns, the
/// views to read, and for each output feature column its view and name.
pub(crate) struct Plan {
    /// Join keys, in order of first use: the leading response columns.
    pub key_columns: Vec<KeyColumn>,
    /// The views to read, each once.
    pub views: Vec<PlannedView>,
    /// The feature columns, in request order.
    pub columns: Vec<FeatureColumn>,
    /// A short feature name shared by several views, if any (an error
    /// unless full feature names are asked for).
    pub ambiguous: Option<(String, String)>,
    /// The JSON answer's `feature_names` (key columns, then feature
    /// columns), rendered once: short names, and full names.
    names_json: [Vec<u8>; 2],
}

impl Plan {
    /// `["id","feature",…]`, with full (`view__feature`) or short feature names.
    pub fn names_json(&self, full_feature_names: bool) -> &[u8] {
        &self.names_json[usize::from(full_feature_names)]
    }

    fn render_names(&mut self) {
        self.names_json = [false, true].map(|full| {
            let mut out = Vec::with_capacity(16 * (self.key_columns.len() + self.columns.len()));
            out.push(b'[');
            let keys = self.key_columns.iter().map(|k| k.name.as_str());
            let features = self.columns.iter().map(|c| c.name(full));
            for (i, name) in keys.chain(features).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(&mut out, name);
            }
            out.push(b']');
            out
        });
    }
}

/// An entity key column of a response.
pub(crate) struct KeyColumn {
    /// The join key.
    pub name: String,
    /// The key's type.
    pub key_type: ValueType,
}

/// One view of a plan.
pub(crate) struct PlannedView {
    /// The view.
    pub view: Arc<ViewEntry>,
    /// Index into [`Plan::key_columns`] of the ids to read it with.
    pub key_column: usize,
    /// The view's requested features, in the order of [`FeatureColumn::slot`].
    pub features: Vec<String>,
    /// Row positions of `features` in the last layout seen: recomputed only
    /// when the store's layout changes (a view redefined and rerun).
    positions: RwLock<Option<LayoutPositions>>,
}

/// A layout and where a view's requested features sit in its rows.
type LayoutPositions = (Arc<ViewLayout>, Arc<[Option<usize>]>);

/// One feature column of a response.
pub(crate) struct FeatureColumn {
    /// Index into [`Plan::views`].
    pub view: usize,
    /// Index into that view's [`PlannedView::features`].
    pub slot: usize,
    /// `feature`.
    pub short_name: String,
    /// `view__feature`.
    pub full_name: String,
    /// The declared type: the column's type while the store has no layout
    /// carrying the feature.
    pub declared_type: ValueType,
}

impl FeatureColumn {
    /// The column's name in an answer: `view__feature` with full feature
    /// names, else `feature`.
    pub fn name(&self, full_feature_names: bool) -> &str {
        if full_feature_names {
            &self.full_name
        } else {
            &self.short_name
        }
    }
}

impl PlannedView {
    /// Where each requested feature sits in rows of `layout`; `None` for a
    /// feature the rows do not carry (declared, but not yet materialised).
    pub fn positions(&self, layout: &Arc<ViewLayout>) -> Arc<[Option<usize>]> {
        if let Some((seen, positions)) = &*self.positions.read().unwrap_or_else(|e| e.into_inner())
            && (Arc::ptr_eq(seen, layout) || seen == layout)
        {
            return positions.clone();
        }
        let positions: Arc<[Option<usize>]> =
            self.features.iter().map(|f| layout.position(f)).collect();
        *self.positions.write().unwrap_or_else(|e| e.into_inner()) =
            Some((layout.clone(), positions.clone()));
        positions
    }
}

impl Catalog {
    /// Resolves every view and feature service of `repo`.
    pub fn new(repo: &FeatureRepo) -> Catalog {
        let views: HashMap<String, Arc<ViewEntry>> = repo
            .feature_views
            .values()
            .map(|view| {
                let entity = repo.entity_of(view);
                let entry = ViewEntry {
                    name: view.name.clone(),
                    join_key: entity.join_key.clone(),
                    key_type: entity.value_type,
                    ttl: view.ttl(),
                    features: view.features.iter().map(|f| f.name.clone()).collect(),
                    read_seconds: metrics::histogram!(
                        "quiver_serve_store_read_seconds",
                        "view" => view.name.clone()
                    ),
                };
                (view.name.clone(), Arc::new(entry))
            })
            .collect();
        let mut catalog = Catalog {
            join_keys: views.values().map(|v| v.join_key.clone()).collect(),
            feature_count: views.values().map(|v| v.features.len()).sum(),
            repo: repo.clone(),
            views,
            services: HashMap::new(),
            plans: RwLock::new(HashMap::default()),
        };
        for service in repo.feature_services.values() {
            let references: Vec<String> = service.features.iter().map(|f| f.to_string()).collect();
            match catalog.plan(references.iter().map(String::as_str)) {
                Ok(plan) => {
                    catalog
                        .services
                        .insert(service.name.clone(), Arc::new(plan));
                }
                // quiver-core checked the service; a registry edited by hand
                // can still break it. Its requests then get this error
                // (`Catalog::service` plans it again to report it).
                Err(error) => tracing::warn!(
                    service = %service.name,
                    %error,
                    "Feature service cannot be served."
                ),
            }
        }
        catalog
    }

    /// The view called `name`.
    pub fn view(&self, name: &str) -> Result<&Arc<ViewEntry>, ServeError> {
        let view = self.repo.feature_view(name)?;
        Ok(&self.views[&view.name])
    }

    /// The join keys of the repository's entities.
    pub fn join_keys(&self) -> &HashSet<String> {
        &self.join_keys
    }

    /// How many features the repository defines, all views together.
    pub fn feature_count(&self) -> usize {
        self.feature_count
    }

    /// The names of every view, for `/ready`.
    pub fn views(&self) -> impl Iterator<Item = &Arc<ViewEntry>> {
        self.views.values()
    }

    /// The plan of a feature service.
    pub fn service(&self, name: &str) -> Result<Arc<Plan>, ServeError> {
        if let Some(plan) = self.services.get(name) {
            return Ok(plan.clone());
        }
        let service = self.repo.feature_service(name)?;
        // Defined but not plannable (see `Catalog::new`): say why.
        let references: Vec<String> = service.features.iter().map(|f| f.to_string()).collect();
        self.plan(references.iter().map(String::as_str))
            .map(Arc::new)
    }

    /// The plan of a list of `view:feature` references, cached by the list.
    pub fn features<S: AsRef<str>>(&self, references: &[S]) -> Result<Arc<Plan>, ServeError> {
        if references.is_empty() {
            return Err(ServeError::NoFeatures);
        }
        // The key is the list itself, each reference behind its length, so
        // no two lists share one whatever their characters.
        let mut key = Vec::with_capacity(references.iter().map(|r| r.as_ref().len() + 4).sum());
        for reference in references {
            let reference = reference.as_ref().as_bytes();
            key.extend_from_slice(&(reference.len() as u32).to_le_bytes());
            key.extend_from_slice(reference);
        }
        if let Some(plan) = self
            .plans
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(plan.clone());
        }
        let plan = Arc::new(self.plan(references.iter().map(AsRef::as_ref))?);
        let mut plans = self.plans.write().unwrap_or_else(|e| e.into_inner());
        if plans.len() < PLAN_CACHE_CAPACITY {
            plans.insert(key, plan.clone());
        }
        Ok(plan)
    }

    fn plan<'r>(&self, references: impl Iterator<Item = &'r str>) -> Result<Plan, ServeError> {
        let mut plan = Plan {
            key_columns: Vec::with_capacity(1),
            views: Vec::with_capacity(1),
            columns: Vec::new(),
            ambiguous: None,
            names_json: Default::default(),
        };
        // Views are found by hash and features by a scan of their view's
        // declared features (quiver-core's rule), and plans are cached, so
        // planning costs little next to reading the rows.
        let mut seen = HashSet::new();
        let mut view_indexes: HashMap<String, usize> = HashMap::new();
        for text in references {
            let (declared, reference) = self.repo.resolve_feature(text)?;
            let declared_type = declared.resolve_feature(&reference.feature)?.value_type;
            let view = &self.views[&declared.name];
            if !seen.insert((reference.view.clone(), reference.feature.clone())) {
                return Err(ServeError::DuplicateFeature {
                    reference: text.to_string(),
                });
            }
            let view_index = match view_indexes.get(&view.name) {
                Some(&index) => index,
                None => {
                    let key_column = match plan
                        .key_columns
                        .iter()
                        .position(|k| k.name == view.join_key)
                    {
                        Some(index) => index,
                        None => {
                            plan.key_columns.push(KeyColumn {
                                name: view.join_key.clone(),
                                key_type: view.key_type,
                            });
                            plan.key_columns.len() - 1
                        }
                    };
                    plan.views.push(PlannedView {
                        view: view.clone(),
                        key_column,
                        features: Vec::new(),
                        positions: RwLock::new(None),
                    });
                    view_indexes.insert(view.name.clone(), plan.views.len() - 1);
                    plan.views.len() - 1
                }
            };
            let planned = &mut plan.views[view_index];
            planned.features.push(reference.feature.clone());
            plan.columns.push(FeatureColumn {
                view: view_index,
                slot: planned.features.len() - 1,
                declared_type,
                full_name: format!("{}__{}", view.name, reference.feature),
                short_name: reference.feature,
            });
        }
        let mut by_name: HashMap<&str, Vec<&str>> = HashMap::new();
        for column in &plan.columns {
            by_name
                .entry(&column.short_name)
                .or_default()
                .push(&plan.views[column.view].view.name);
        }
        plan.ambiguous = plan.columns.iter().find_map(|c| {
            let views = &by_name[c.short_name.as_str()];
            (views.len() > 1).then(|| (c.short_name.clone(), views.join(", ")))
        });
        plan.render_names();
        Ok(plan)
    }
}

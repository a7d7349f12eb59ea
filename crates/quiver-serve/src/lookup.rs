//! [`Core`]: the one place a request becomes an answer, shared by HTTP and
//! gRPC so the two can never disagree. It checks the ids against the plan,
//! reads every view of the plan concurrently, and returns an [`Answer`]
//! that borrows the request; each transport encodes it in its own format.

use crate::ServeError;
use crate::catalog::{Catalog, Plan};
use crate::request::{EntityId, FeatureRequest, FeatureSelection, RequestLimits};
use quiver_core::{Ttl, ValueType};
use quiver_online::{FeatureRow, FeatureValue, OnlineError, OnlineStore, ViewLayout};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

/// Looks features up: the catalog, the store, and the request limits.
pub(crate) struct Core {
    pub catalog: Catalog,
    pub store: Arc<dyn OnlineStore>,
    pub max_ids_per_request: usize,
}

/// The answer to one request, borrowing the ids it asked for.
pub(crate) struct Answer<'r> {
    /// The plan answered.
    pub plan: Arc<Plan>,
    /// Column naming.
    pub full_feature_names: bool,
    /// Whether to send event times.
    pub include_event_timestamps: bool,
    /// The ids of each key column of the plan, in request order.
    pub ids: Vec<&'r [EntityId<'r>]>,
    /// One read per view of the plan.
    pub reads: Vec<ViewRead>,
    /// Number of entity rows (ids per key column).
    pub rows: usize,
    /// When the request was answered, for the views' ttls.
    pub now_micros: i64,
}

/// The rows of one view, in request order.
pub(crate) struct ViewRead {
    /// Row position of each requested feature of the view.
    pub positions: Arc<[Option<usize>]>,
    /// The rows; `None` for ids without one.
    pub rows: Vec<Option<FeatureRow>>,
    /// The layout the rows were written with; `None` while the view has
    /// never been written.
    pub layout: Option<Arc<ViewLayout>>,
    /// The view's ttl.
    pub ttl: Ttl,
}

impl ViewRead {
    /// Whether `row` is outside max age at `now_micros`.
    pub fn is_outside_max_age(&self, row: &FeatureRow, now_micros: i64) -> bool {
        self.ttl
            .is_outside_max_age(row.event_time_micros, now_micros)
    }
}

/// One value of an answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    /// A value, and its row's event time.
    Present(&'a FeatureValue, i64),
    /// The row is there but the value is null.
    Null(i64),
    /// No row (or the row does not carry the feature).
    NotFound,
    /// The row is outside max age (older than the view's ttl); the value is withheld.
    OutsideMaxAge(i64),
}

impl Answer<'_> {
    /// Name of feature column `column`.
    pub fn feature_name(&self, column: usize) -> &str {
        self.plan.columns[column].name(self.full_feature_names)
    }

    /// The type of feature column `column`: as the rows read were written,
    /// else as declared.
    pub fn column_type(&self, column: usize) -> ValueType {
        let column = &self.plan.columns[column];
        let read = &self.reads[column.view];
        match (&read.layout, read.positions[column.slot]) {
            (Some(layout), Some(position)) => layout.features[position].1,
            _ => column.declared_type,
        }
    }

    /// The value of feature column `column` for entity row `row`.
    pub fn cell(&self, column: usize, row: usize) -> Cell<'_> {
        let column = &self.plan.columns[column];
        let read = &self.reads[column.view];
        let Some(found) = &read.rows[row] else {
            return Cell::NotFound;
        };
        let time = found.event_time_micros;
        if read.is_outside_max_age(found, self.now_micros) {
            return Cell::OutsideMaxAge(time);
        }
        match read.positions[column.slot].and_then(|p| found.values.get(p)) {
            None => Cell::NotFound,
            Some(FeatureValue::Null) => Cell::Null(time),
            Some(value) => Cell::Present(value, time),
        }
    }
}

/// The latest row of one entity of one view, for `GET /features/{view}/{id}`.
pub(crate) struct EntityAnswer {
    /// The view's join key.
    pub join_key: String,
    /// The id, as typed by the entity.
    pub id: EntityId<'static>,
    /// The layout the row was written with.
    pub layout: Arc<ViewLayout>,
    /// The row.
    pub row: FeatureRow,
    /// Whether the row is outside max age (older than the view's ttl).
    pub outside_max_age: bool,
}

impl Core {
    /// The limits a request is parsed within.
    pub fn limits(&self) -> RequestLimits<'_> {
        RequestLimits {
            max_ids: self.max_ids_per_request,
            max_features: self.catalog.feature_count(),
            join_keys: self.catalog.join_keys(),
        }
    }

    /// Answers a request.
    pub async fn get_online_features<'r>(
        &self,
        request: &'r FeatureRequest<'r>,
    ) -> Result<Answer<'r>, ServeError> {
        let plan = match &request.selection {
            FeatureSelection::Service(name) => self.catalog.service(name)?,
            FeatureSelection::Features(references) => self.catalog.features(references)?,
        };
        if !request.full_feature_names
            && let Some((name, views)) = &plan.ambiguous
        {
            return Err(ServeError::AmbiguousFeatureName {
                name: name.clone(),
                views: views.clone(),
            });
        }
        let ids = self.check_entities(&plan, &request.entities)?;
        let rows = ids.first().map_or(0, |ids| ids.len());
        // Store keys: borrowed for string ids, decimal text for integers.
        let key_texts: Vec<Vec<Cow<'r, str>>> = ids
            .iter()
            .map(|ids| ids.iter().map(EntityId::key_text).collect())
            .collect();
        let reads = futures::future::try_join_all(plan.views.iter().map(|planned| {
            let keys: Vec<&str> = key_texts[planned.key_column]
                .iter()
                .map(|k| k.as_ref())
                .collect();
            async move {
                let started = Instant::now();
                let result = self.store.read_with_layout(&planned.view.name, &keys).await;
                planned
                    .view
                    .read_seconds
                    .record(started.elapsed().as_secs_f64());
                let (positions, rows, layout) = match result {
                    Ok((layout, rows)) => (planned.positions(&layout), rows, Some(layout)),
                    // Defined but never materialised: every value is not found.
                    Err(OnlineError::UnknownView { .. }) => (
                        planned.features.iter().map(|_| None).collect(),
                        vec![None; keys.len()],
                        None,
                    ),
                    Err(other) => return Err(ServeError::Store(other)),
                };
                Ok::<_, ServeError>(ViewRead {
                    positions,
                    rows,
                    layout,
                    ttl: planned.view.ttl,
                })
            }
        }))
        .await?;
        Ok(Answer {
            plan,
            full_feature_names: request.full_feature_names,
            include_event_timestamps: request.include_event_timestamps,
            ids,
            reads,
            rows,
            now_micros: now_micros(),
        })
    }

    /// The ids of each key column of `plan`, checked: every key present and
    /// no other, typed as the entity is, not empty, not over the limit, no
    /// row asked twice.
    fn check_entities<'r>(
        &self,
        plan: &Plan,
        entities: &'r [(Cow<'r, str>, Vec<EntityId<'r>>)],
    ) -> Result<Vec<&'r [EntityId<'r>]>, ServeError> {
        for (key, _) in entities {
            if !plan.key_columns.iter().any(|k| k.name == *key) {
                return Err(ServeError::UnexpectedEntityKey {
                    key: key.to_string(),
                    expected: plan
                        .key_columns
                        .iter()
                        .map(|k| k.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let mut columns = Vec::with_capacity(plan.key_columns.len());
        for key in &plan.key_columns {
            let Some((_, ids)) = entities.iter().find(|(k, _)| *k == key.name) else {
                let view = plan
                    .views
                    .iter()
                    .find(|v| v.view.join_key == key.name)
                    .map_or("", |v| v.view.name.as_str());
                return Err(ServeError::MissingEntityKey {
                    key: key.name.clone(),
                    view: view.to_string(),
                });
            };
            if ids.is_empty() {
                return Err(ServeError::EmptyEntityIds {
                    key: key.name.clone(),
                });
            }
            // The JSON parse refused longer lists already; gRPC's are checked here.
            if ids.len() > self.max_ids_per_request {
                return Err(ServeError::TooManyIds {
                    key: key.name.clone(),
                    max: self.max_ids_per_request,
                });
            }
            check_id_types(&key.name, key.key_type, ids)?;
            columns.push(ids.as_slice());
        }
        if columns.iter().any(|ids| ids.len() != columns[0].len()) {
            return Err(ServeError::MismatchedEntityLengths {
                lengths: plan
                    .key_columns
                    .iter()
                    .zip(&columns)
                    .map(|(k, ids)| format!("{}: {}", k.name, ids.len()))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        check_duplicates(plan, &columns)?;
        Ok(columns)
    }

    /// The latest row of one entity.
    pub async fn get_entity(&self, view: &str, id: &str) -> Result<EntityAnswer, ServeError> {
        let entry = self.catalog.view(view)?;
        let id = match entry.key_type {
            ValueType::Int64 => {
                EntityId::Int(id.parse().map_err(|_| ServeError::InvalidEntityId {
                    key: entry.join_key.clone(),
                    expected: "integers (the entity's key is int64)",
                    got: format!("`{id}`"),
                })?)
            }
            _ => EntityId::Text(Cow::Owned(id.to_string())),
        };
        let started = Instant::now();
        let result = self
            .store
            .read_with_layout(&entry.name, &[&id.key_text()])
            .await;
        entry.read_seconds.record(started.elapsed().as_secs_f64());
        let not_found = || ServeError::EntityNotFound {
            view: entry.name.clone(),
            id: id.key_text().into_owned(),
        };
        let (layout, mut rows) = match result {
            Ok(found) => found,
            Err(OnlineError::UnknownView { .. }) => return Err(not_found()),
            Err(other) => return Err(ServeError::Store(other)),
        };
        let row = rows.pop().flatten().ok_or_else(not_found)?;
        let outside_max_age = entry
            .ttl
            .is_outside_max_age(row.event_time_micros, now_micros());
        Ok(EntityAnswer {
            join_key: entry.join_key.clone(),
            id,
            layout,
            row,
            outside_max_age,
        })
    }
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn check_id_types(key: &str, key_type: ValueType, ids: &[EntityId<'_>]) -> Result<(), ServeError> {
    let wrong = ids.iter().find(|id| match (key_type, id) {
        (ValueType::Int64, EntityId::Int(_)) => false,
        (ValueType::Int64, EntityId::Text(_)) => true,
        (_, EntityId::Text(_)) => false,
        (_, EntityId::Int(_)) => true,
    });
    match wrong {
        None => Ok(()),
        Some(id) => Err(ServeError::InvalidEntityId {
            key: key.to_string(),
            expected: if key_type == ValueType::Int64 {
                "integers (the entity's key is int64)"
            } else {
                "strings (the entity's key is a string)"
            },
            got: match id {
                EntityId::Text(text) => format!("the string \"{text}\""),
                EntityId::Int(i) => format!("the integer {i}"),
            },
        }),
    }
}

/// The same entity row twice would be answered twice; it is a client bug.
fn check_duplicates(plan: &Plan, columns: &[&[EntityId<'_>]]) -> Result<(), ServeError> {
    let duplicate = |row: usize| {
        let (key, id) = (&plan.key_columns[0].name, &columns[0][row]);
        ServeError::DuplicateEntityId {
            key: key.clone(),
            id: id.key_text().into_owned(),
        }
    };
    // No key columns: a plan without features, which definitions refuse.
    let Some(first) = columns.first() else {
        return Ok(());
    };
    let rows = first.len();
    if columns.len() == 1 {
        let ids = columns[0];
        if rows <= 16 {
            // Pairwise beats hashing for the common handful of ids.
            for i in 1..rows {
                if ids[..i].contains(&ids[i]) {
                    return Err(duplicate(i));
                }
            }
        } else {
            let mut seen = HashSet::with_capacity(rows);
            for (i, id) in ids.iter().enumerate() {
                if !seen.insert(id.key_text()) {
                    return Err(duplicate(i));
                }
            }
        }
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(rows);
    for row in 0..rows {
        let tuple: Vec<Cow<'_, str>> = columns.iter().map(|c| c[row].key_text()).collect();
        if !seen.insert(tuple) {
            return Err(duplicate(row));
        }
    }
    Ok(())
}

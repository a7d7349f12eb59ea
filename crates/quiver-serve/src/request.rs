//! [`FeatureRequest`]: one online-features request, whichever transport it came
//! by, and its JSON form (Feast's feature-server shape), parsed without copying
//! strings that need no unescaping.

use crate::ServeError;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// What a client asks for: features of some entities.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRequest<'a> {
    /// Which features.
    pub selection: FeatureSelection<'a>,
    /// Join key (`id`) to the ids asked for, in request order.
    pub entities: Vec<(Cow<'a, str>, Vec<EntityId<'a>>)>,
    /// Name feature columns `view__feature` rather than `feature`.
    pub full_feature_names: bool,
    /// Also answer each value's event time.
    pub include_event_timestamps: bool,
}

/// The features of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureSelection<'a> {
    /// `view:feature` references, in the order the columns should come.
    Features(Vec<Cow<'a, str>>),
    /// A feature service by name.
    Service(Cow<'a, str>),
}

/// One entity id as sent: text, or an integer for `int64` entities.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityId<'a> {
    /// A string id.
    Text(Cow<'a, str>),
    /// An integer id.
    Int(i64),
}

impl EntityId<'_> {
    /// The id as the online store keys it (integers in decimal).
    pub fn key_text(&self) -> Cow<'_, str> {
        match self {
            EntityId::Text(text) => Cow::Borrowed(text),
            EntityId::Int(i) => Cow::Owned(i.to_string()),
        }
    }
}

impl<'a> FeatureRequest<'a> {
    /// Parses the JSON body of `POST /get-online-features`. Unknown fields are
    /// refused, so a misspelt option is reported rather than ignored.
    pub fn from_json(body: &'a [u8]) -> Result<FeatureRequest<'a>, ServeError> {
        // serde would also take a JSON array as the struct, field by position.
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ServeError::MalformedRequest {
                reason: "the body must be a JSON object such as {\"entities\": {\"id\": [\"MAC000002\"]}, \"features\": [\"view:feature\"]}".to_string(),
            });
        }
        let raw: JsonRequest<'a> =
            serde_json::from_slice(body).map_err(|e| ServeError::MalformedRequest {
                reason: e.to_string(),
            })?;
        let selection = match (raw.features, raw.feature_service) {
            (Some(features), None) => FeatureSelection::Features(features),
            (None, Some(service)) => FeatureSelection::Service(service),
            _ => return Err(ServeError::FeatureSelection),
        };
        let Some(entities) = raw.entities else {
            return Err(ServeError::MalformedRequest {
                reason: "missing field `entities` (an object such as {\"id\": [\"MAC000002\"]})"
                    .to_string(),
            });
        };
        Ok(FeatureRequest {
            selection,
            entities: entities.0,
            full_feature_names: raw.full_feature_names,
            include_event_timestamps: raw.include_event_timestamps,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRequest<'a> {
    #[serde(borrow, default)]
    entities: Option<EntityColumns<'a>>,
    #[serde(borrow, default)]
    features: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    feature_service: Option<Cow<'a, str>>,
    #[serde(default)]
    full_feature_names: bool,
    #[serde(default)]
    include_event_timestamps: bool,
}

/// `{"id": [...], ...}` in the order written; a key twice is an error.
struct EntityColumns<'a>(Vec<(Cow<'a, str>, Vec<EntityId<'a>>)>);

impl<'de: 'a, 'a> Deserialize<'de> for EntityColumns<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ColumnsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ColumnsVisitor<'a> {
            type Value = EntityColumns<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of join key to a list of ids")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut columns: Vec<(Cow<'a, str>, Vec<EntityId<'a>>)> = Vec::with_capacity(1);
                while let Some(key) = map.next_key::<CowStr<'a>>()? {
                    if columns.iter().any(|(k, _)| *k == key.0) {
                        return Err(de::Error::custom(format_args!(
                            "`entities` has `{}` twice",
                            key.0
                        )));
                    }
                    let ids = map.next_value::<IdList<'a>>()?;
                    columns.push((key.0, ids.0));
                }
                Ok(EntityColumns(columns))
            }
        }
        deserializer.deserialize_map(ColumnsVisitor(std::marker::PhantomData))
    }
}

/// A string that borrows from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(CowStr(<Cow<'a, str> as Deserialize>::deserialize(
            deserializer,
        )?))
    }
}

struct IdList<'a>(Vec<EntityId<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for IdList<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ListVisitor<'a> {
            type Value = IdList<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of ids (strings or integers)")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(1024));
                while let Some(id) = seq.next_element::<EntityId<'a>>()? {
                    ids.push(id);
                }
                Ok(IdList(ids))
            }
        }
        deserializer.deserialize_seq(ListVisitor(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for EntityId<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for IdVisitor<'a> {
            type Value = EntityId<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id: a string or an integer")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(EntityId::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(EntityId::Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(EntityId::Text(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(EntityId::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(EntityId::Int)
                    .map_err(|_| E::custom(format_args!("id {v} is larger than an int64")))
            }
        }
        deserializer.deserialize_any(IdVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_feasts_shape_and_borrows() {
        let body = br#"{"entities": {"id": ["MAC000002", 7]}, "features": ["v:a", "v:b"], "full_feature_names": true}"#;
        let request = FeatureRequest::from_json(body).unwrap();
        assert_eq!(
            request.selection,
            FeatureSelection::Features(vec!["v:a".into(), "v:b".into()])
        );
        assert!(request.full_feature_names);
        assert!(!request.include_event_timestamps);
        let (key, ids) = &request.entities[0];
        assert_eq!(key, "id");
        assert!(matches!(
            &ids[0],
            EntityId::Text(Cow::Borrowed("MAC000002"))
        ));
        assert_eq!(ids[1], EntityId::Int(7));
    }

    #[test]
    fn malformed_bodies_are_named() {
        for (body, expected) in [
            (&br#"{"entities": {"id": ["a"]}"#[..], "EOF"),
            (
                br#"{"entities": {"id": [1.5]}, "features": ["v:a"]}"#,
                "floating point",
            ),
            (
                br#"{"entities": {"id": [{}]}, "features": ["v:a"]}"#,
                "an id",
            ),
            (
                br#"{"entities": {"id": "a"}, "features": ["v:a"]}"#,
                "a list of ids",
            ),
            (
                br#"{"entities": {"id": ["a"], "id": ["b"]}, "features": ["v:a"]}"#,
                "twice",
            ),
            (
                br#"{"entities": {"id": ["a"]}, "features": ["v:a"], "extra": 1}"#,
                "unknown field `extra`",
            ),
            (br#"{"features": ["v:a"]}"#, "missing field `entities`"),
            (br#"[]"#, "malformed"),
        ] {
            let err = FeatureRequest::from_json(body).unwrap_err();
            assert!(
                err.to_string().contains(expected),
                "{err} should mention {expected}"
            );
        }
        assert!(matches!(
            FeatureRequest::from_json(br#"{"entities": {"id": ["a"]}}"#),
            Err(ServeError::FeatureSelection)
        ));
        assert!(matches!(
            FeatureRequest::from_json(
                br#"{"entities": {"id": ["a"]}, "features": ["v:a"], "feature_service": "s"}"#
            ),
            Err(ServeError::FeatureSelection)
        ));
    }
}

//! [`FeatureRequest`]: one online-features request, whichever transport it came
//! by, and its JSON form (Feast's feature-server shape), parsed without copying
//! strings that need no unescaping.
//!
//! The JSON parse is one pass over the body, and every limit is enforced as
//! the parse reaches it ([`RequestLimits`]): the id list that passes
//! `max_ids_per_request`, the join key no entity of the repository has, the
//! feature list longer than the repository's features. Such a request is
//! refused at that point, before the rest of the body is parsed, so no body
//! within the size limit costs more than time linear in its size.

use crate::ServeError;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
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

/// The bounds a request is checked against while it is parsed, so that the
/// work each one bounds is never done for a request over it.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits<'a> {
    /// Most ids one join key may list (`max_ids_per_request`).
    pub max_ids: usize,
    /// Most `view:feature` references a request may list: as many features
    /// as the repository defines (more must repeat or invent one).
    pub max_features: usize,
    /// The join keys of the repository's entities; `entities` may hold no
    /// other key.
    pub join_keys: &'a HashSet<String>,
}

impl RequestLimits<'_> {
    /// Whether `entities` may hold `key`.
    pub fn allows_join_key(&self, key: &str) -> bool {
        self.join_keys.contains(key)
    }

    /// The error for a join key no entity has, listing the ones there are.
    pub fn unknown_join_key(&self, key: &str) -> ServeError {
        let mut known: Vec<&str> = self.join_keys.iter().map(String::as_str).collect();
        known.sort_unstable();
        ServeError::UnknownEntityKey {
            key: key.to_string(),
            known: known.join(", "),
        }
    }
}

/// The fields of Feast's `GetOnlineFeaturesRequest` (its feature server,
/// 0.67), and Quiver's `include_event_timestamps`.
const FIELDS: &[&str] = &[
    "entities",
    "features",
    "feature_service",
    "full_feature_names",
    "include_event_timestamps",
    "include_feature_view_version_metadata",
];

impl<'a> FeatureRequest<'a> {
    /// Parses the JSON body of `POST /get-online-features` within `limits`.
    ///
    /// Every field of Feast's feature-server request is accepted:
    /// `include_feature_view_version_metadata` is a no-op (Quiver does not
    /// version feature views, so there is no version to report), and
    /// `features: []` beside a `feature_service` is the empty default
    /// Feast's request model carries. Unknown fields are refused, so a
    /// misspelt option is reported rather than ignored.
    pub fn from_json(
        body: &'a [u8],
        limits: &RequestLimits<'_>,
    ) -> Result<FeatureRequest<'a>, ServeError> {
        let refused = RefCell::new(None);
        let context = Context {
            limits,
            refused: &refused,
        };
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let parsed = RequestSeed(context)
            .deserialize(&mut deserializer)
            .and_then(|raw| deserializer.end().map(|()| raw));
        let raw = match parsed {
            Ok(raw) => raw,
            // A limit refused the request: its own error, not the parser's.
            Err(error) => {
                return Err(refused
                    .into_inner()
                    .unwrap_or_else(|| ServeError::MalformedRequest {
                        reason: error.to_string(),
                    }));
            }
        };
        let selection = match (raw.features, raw.feature_service) {
            (Some(features), None) => FeatureSelection::Features(features),
            (None, Some(service)) => FeatureSelection::Service(service),
            (Some(features), Some(service)) if features.is_empty() => {
                FeatureSelection::Service(service)
            }
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
            entities,
            full_feature_names: raw.full_feature_names,
            include_event_timestamps: raw.include_event_timestamps,
        })
    }
}

/// The body's fields as read, before the selection is checked.
#[derive(Default)]
struct RawRequest<'a> {
    entities: Option<Vec<(Cow<'a, str>, Vec<EntityId<'a>>)>>,
    features: Option<Vec<Cow<'a, str>>>,
    feature_service: Option<Cow<'a, str>>,
    full_feature_names: bool,
    include_event_timestamps: bool,
}

/// What every part of the parse shares: the limits, and the error a limit
/// refused the request with (serde's errors are strings; this keeps the
/// variant, and so its code and status).
#[derive(Clone, Copy)]
struct Context<'c> {
    limits: &'c RequestLimits<'c>,
    refused: &'c RefCell<Option<ServeError>>,
}

impl Context<'_> {
    /// Records `error` as the request's and stops the parse.
    fn refuse<E: de::Error>(&self, error: ServeError) -> E {
        let text = error.to_string();
        *self.refused.borrow_mut() = Some(error);
        E::custom(text)
    }
}

struct RequestSeed<'c>(Context<'c>);

impl<'de> DeserializeSeed<'de> for RequestSeed<'_> {
    type Value = RawRequest<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed<'_> {
    type Value = RawRequest<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a JSON object such as {\"entities\": {\"id\": [\"MAC000002\"]}, \"features\": [\"view:feature\"]}",
        )
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let context = self.0;
        let mut raw = RawRequest::default();
        let mut seen = [false; FIELDS.len()];
        while let Some(name) = map.next_key::<CowStr<'de>>()? {
            let Some(field) = FIELDS.iter().position(|f| *f == name.0) else {
                return Err(de::Error::unknown_field(&name.0, FIELDS));
            };
            if std::mem::replace(&mut seen[field], true) {
                return Err(de::Error::duplicate_field(FIELDS[field]));
            }
            match FIELDS[field] {
                "entities" => raw.entities = Some(map.next_value_seed(EntitiesSeed(context))?),
                "features" => raw.features = map.next_value_seed(FeaturesSeed(context))?,
                "feature_service" => {
                    raw.feature_service = map.next_value::<Option<CowStr<'de>>>()?.map(|s| s.0)
                }
                "full_feature_names" => raw.full_feature_names = map.next_value()?,
                "include_event_timestamps" => raw.include_event_timestamps = map.next_value()?,
                // Feast's feature-view versions: Quiver has none to report.
                _ => {
                    map.next_value::<bool>()?;
                }
            }
        }
        Ok(raw)
    }
}

/// `{"id": [...], ...}` in the order written: only join keys of the
/// repository, none twice.
struct EntitiesSeed<'c>(Context<'c>);

type Columns<'a> = Vec<(Cow<'a, str>, Vec<EntityId<'a>>)>;

impl<'de> DeserializeSeed<'de> for EntitiesSeed<'_> {
    type Value = Columns<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntitiesSeed<'_> {
    type Value = Columns<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of join key to a list of ids")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let context = self.0;
        let mut columns: Columns<'de> = Vec::with_capacity(1);
        let mut seen = KeySet::default();
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            let key = key.0;
            // Checked before the key is kept, so `entities` never holds more
            // keys than the repository has.
            if !context.limits.allows_join_key(&key) {
                return Err(context.refuse(context.limits.unknown_join_key(&key)));
            }
            if !seen.insert(&columns, &key) {
                return Err(de::Error::custom(format_args!(
                    "`entities` has `{key}` twice"
                )));
            }
            let ids = map.next_value_seed(IdsSeed { context, key: &key })?;
            columns.push((key, ids));
        }
        Ok(columns)
    }
}

/// Which join keys `entities` has had: compared pairwise while there are
/// few (no allocation for the usual one or two), hashed beyond.
#[derive(Default)]
struct KeySet {
    hashed: Option<HashSet<String>>,
}

/// Keys compared pairwise before [`KeySet`] builds its hash set.
const PAIRWISE_KEYS: usize = 8;

impl KeySet {
    /// Whether `key` is new among `columns`' keys; remembers it.
    fn insert(&mut self, columns: &Columns<'_>, key: &str) -> bool {
        if let Some(hashed) = &mut self.hashed {
            return hashed.insert(key.to_string());
        }
        if columns.iter().any(|(k, _)| k == key) {
            return false;
        }
        if columns.len() + 1 >= PAIRWISE_KEYS {
            let mut hashed: HashSet<String> = columns.iter().map(|(k, _)| k.to_string()).collect();
            hashed.insert(key.to_string());
            self.hashed = Some(hashed);
        }
        true
    }
}

/// The ids of one join key: at most `max_ids`.
struct IdsSeed<'c, 'k> {
    context: Context<'c>,
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for IdsSeed<'_, '_> {
    type Value = Vec<EntityId<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for IdsSeed<'_, '_> {
    type Value = Vec<EntityId<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of ids (strings or integers)")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let max = self.context.limits.max_ids;
        let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(max).min(1024));
        while let Some(id) = seq.next_element::<EntityId<'de>>()? {
            if ids.len() == max {
                return Err(self.context.refuse(ServeError::TooManyIds {
                    key: self.key.to_string(),
                    max,
                }));
            }
            ids.push(id);
        }
        Ok(ids)
    }
}

/// `features`: at most `max_features` references; `null` is no list.
struct FeaturesSeed<'c>(Context<'c>);

impl<'de> DeserializeSeed<'de> for FeaturesSeed<'_> {
    type Value = Option<Vec<Cow<'de, str>>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for FeaturesSeed<'_> {
    type Value = Option<Vec<Cow<'de, str>>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of `view:feature` references")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let max = self.0.limits.max_features;
        let mut features = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(max).min(1024));
        while let Some(feature) = seq.next_element::<CowStr<'de>>()? {
            if features.len() == max {
                return Err(self.0.refuse(ServeError::TooManyFeatures { max }));
            }
            features.push(feature.0);
        }
        Ok(Some(features))
    }
}

/// A string that borrows from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = CowStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(StrVisitor(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for EntityId<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for IdVisitor<'a> {
            type Value = EntityId<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

    fn join_keys(keys: &[&str]) -> HashSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    fn parse<'a>(body: &'a [u8], keys: &HashSet<String>) -> Result<FeatureRequest<'a>, ServeError> {
        let limits = RequestLimits {
            max_ids: 5,
            max_features: 4,
            join_keys: keys,
        };
        FeatureRequest::from_json(body, &limits)
    }

    #[test]
    fn parses_feasts_shape_and_borrows() {
        let keys = join_keys(&["id"]);
        let body = br#"{"entities": {"id": ["MAC000002", 7]}, "features": ["v:a", "v:b"], "full_feature_names": true}"#;
        let request = parse(body, &keys).unwrap();
        let FeatureSelection::Features(features) = &request.selection else {
            panic!("{:?}", request.selection);
        };
        assert_eq!(features, &["v:a", "v:b"]);
        assert!(matches!(features[0], Cow::Borrowed("v:a")));
        assert!(request.full_feature_names);
        assert!(!request.include_event_timestamps);
        let (key, ids) = &request.entities[0];
        assert!(matches!(key, Cow::Borrowed("id")));
        assert!(matches!(
            &ids[0],
            EntityId::Text(Cow::Borrowed("MAC000002"))
        ));
        assert_eq!(ids[1], EntityId::Int(7));
    }

    /// The bodies Feast 0.67's remote online store sends
    /// (`feast/infra/online_stores/remote.py`), and its feature server's
    /// request model with every default written out.
    #[test]
    fn feasts_client_bodies_are_accepted() {
        let keys = join_keys(&["id"]);
        let features = br#"{"entities": {"id": ["MAC000002"]}, "full_feature_names": false, "include_feature_view_version_metadata": false, "features": ["v:a"]}"#;
        let request = parse(features, &keys).unwrap();
        assert_eq!(
            request.selection,
            FeatureSelection::Features(vec!["v:a".into()])
        );
        let service = br#"{"entities": {"id": ["MAC000002"]}, "full_feature_names": true, "include_feature_view_version_metadata": true, "feature_service": "s"}"#;
        let request = parse(service, &keys).unwrap();
        assert_eq!(request.selection, FeatureSelection::Service("s".into()));
        assert!(request.full_feature_names);
        let defaults = br#"{"entities": {"id": ["MAC000002"]}, "feature_service": "s", "features": [], "full_feature_names": false, "include_feature_view_version_metadata": false}"#;
        assert_eq!(
            parse(defaults, &keys).unwrap().selection,
            FeatureSelection::Service("s".into())
        );
        let null_service =
            br#"{"entities": {"id": ["MAC000002"]}, "feature_service": null, "features": ["v:a"]}"#;
        assert_eq!(
            parse(null_service, &keys).unwrap().selection,
            FeatureSelection::Features(vec!["v:a".into()])
        );
    }

    #[test]
    fn malformed_bodies_are_named() {
        let keys = join_keys(&["id"]);
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
            (
                br#"{"entities": {"id": ["a"]}, "features": ["v:a"], "features": ["v:b"]}"#,
                "duplicate field `features`",
            ),
            (
                br#"{"entities": {"id": ["a"]}, "features": ["v:a"], "include_feature_view_version_metadata": "yes"}"#,
                "expected a boolean",
            ),
            (
                br#"{"entities": {"id": ["a"]}, "features": ["v:a"]} {}"#,
                "trailing characters",
            ),
            (br#"{"features": ["v:a"]}"#, "missing field `entities`"),
            (br#"[]"#, "a JSON object such as"),
        ] {
            let err = parse(body, &keys).unwrap_err();
            assert!(
                matches!(err, ServeError::MalformedRequest { .. }),
                "{err:?}"
            );
            assert!(
                err.to_string().contains(expected),
                "{err} should mention {expected}"
            );
        }
        for body in [
            &br#"{"entities": {"id": ["a"]}}"#[..],
            br#"{"entities": {"id": ["a"]}, "features": ["v:a"], "feature_service": "s"}"#,
            br#"{"entities": {"id": ["a"]}, "features": null}"#,
        ] {
            assert!(
                matches!(parse(body, &keys), Err(ServeError::FeatureSelection)),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// Each limit refuses the request at the element that passes it: the
    /// body after that point is never parsed, which the cut-off (invalid)
    /// tails below prove.
    #[test]
    fn limits_refuse_where_the_parse_reaches_them() {
        let keys = join_keys(&["id", "household"]);
        let too_many_ids = br#"{"entities": {"id": ["a", "b", "c", "d", "e", "f", "#;
        assert!(matches!(
            parse(too_many_ids, &keys),
            Err(ServeError::TooManyIds { ref key, max: 5 }) if key == "id"
        ));
        let five_ids = br#"{"entities": {"id": ["a", "b", "c", "d", "e"]}, "features": ["v:a"]}"#;
        assert_eq!(parse(five_ids, &keys).unwrap().entities[0].1.len(), 5);

        let too_many_features = br#"{"features": ["v:a", "v:b", "v:c", "v:d", "v:e", "#;
        assert!(matches!(
            parse(too_many_features, &keys),
            Err(ServeError::TooManyFeatures { max: 4 })
        ));

        let unknown_key = br#"{"entities": {"id": ["a"], "k0": ["a"], "k1": ["#;
        match parse(unknown_key, &keys) {
            Err(ServeError::UnknownEntityKey { key, known }) => {
                assert_eq!((key.as_str(), known.as_str()), ("k0", "household, id"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// 110,000 distinct join keys in a 1 MiB body: refused at the first,
    /// which no entity has; and, against a repository that did have them
    /// all, a repeat at the end is still found, by hashing.
    #[test]
    fn many_join_keys_cost_one_pass() {
        let count = 110_000;
        let mut body = String::from(r#"{"entities": {"#);
        for i in 0..count {
            body.push_str(&format!("\"k{i}\": [\"a\"], "));
        }
        body.push_str(r#""k0": ["a"]}, "features": ["v:a"]}"#);
        assert!(body.len() < 2 << 20);
        let err = parse(body.as_bytes(), &join_keys(&["id"])).unwrap_err();
        assert!(
            matches!(&err, ServeError::UnknownEntityKey { key, .. } if key == "k0"),
            "{err:?}"
        );
        let all: HashSet<String> = (0..count).map(|i| format!("k{i}")).collect();
        let err = parse(body.as_bytes(), &all).unwrap_err();
        assert!(err.to_string().contains("`k0` twice"), "{err}");
    }

    #[test]
    fn join_keys_are_hashed_beyond_a_few() {
        let names: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
        let mut columns: Columns<'_> = Vec::new();
        let mut seen = KeySet::default();
        for (i, name) in names.iter().enumerate() {
            assert!(seen.insert(&columns, name));
            columns.push((Cow::Borrowed(name.as_str()), Vec::new()));
            assert_eq!(
                seen.hashed.is_some(),
                i + 1 >= PAIRWISE_KEYS,
                "after {} keys",
                i + 1
            );
        }
        assert!(!seen.insert(&columns, "k3"));
        assert!(!seen.insert(&columns, "k99"));
    }
}

//! Both feature RPCs' answers written straight from the lookup into protobuf
//! bytes, and the routes that serve them. Building the prost messages first
//! cost a 1-id columnar answer about 95 allocations (a `Column` and its
//! arrays per column, a `String` per feature name) and the Feast shape one
//! or two per cell (a `Value` and its string), then a second pass to encode
//! them; here the values are written once, with prost's own field encoders,
//! into buffers a call reuses, and tonic sends the bytes as they are.
//!
//! The generated service's handlers for the two methods are shadowed: the
//! route for each method's exact path ([`routes`]) is matched before the
//! service's catch-all (the handlers themselves only return an error). The
//! wire format is the messages of `serving.proto`, which every client decodes
//! as usual: unit tests compare the bytes with prost's, the integration tests
//! compare the Feast shape with the HTTP/JSON answer and the columnar one
//! with the Feast shape, cell by cell, and CI decodes both with Python grpcio.

use crate::ServeError;
use crate::grpc::GrpcService;
use crate::lookup::{Answer, Cell};
use crate::request::EntityId;
use bytes::BufMut;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};
use quiver_core::ValueType;
use quiver_online::{FeatureValue, OnlineError};
use quiver_proto::serving::{FieldStatus, GetOnlineFeaturesRequest, ValueType as ProtoType};
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Request, Response, Status};

/// The two methods' paths, which [`routes`] serves.
const FEAST_PATH: &str = "/quiver.serving.v1.ServingService/GetOnlineFeatures";
const COLUMNAR_PATH: &str = "/quiver.serving.v1.ServingService/GetOnlineFeaturesColumnar";

/// `GetOnlineFeaturesResponse`'s fields, and those of the messages in it.
mod feast {
    pub const METADATA: u32 = 1;
    pub const RESULTS: u32 = 2;
    /// `GetOnlineFeaturesResponseMetadata.feature_names`, and `FeatureList.val`.
    pub const FEATURE_NAMES: u32 = 1;
    pub const LIST_VAL: u32 = 1;
    /// `FeatureVector`'s.
    pub const VALUES: u32 = 1;
    pub const STATUSES: u32 = 2;
    pub const EVENT_TIMESTAMPS: u32 = 3;
    /// `Value`'s `val` oneof.
    pub const STRING_VAL: u32 = 1;
    pub const INT64_VAL: u32 = 2;
    pub const DOUBLE_VAL: u32 = 3;
    pub const BOOL_VAL: u32 = 4;
    pub const DATE_VAL: u32 = 5;
    pub const UNIX_TIMESTAMP_MICROS_VAL: u32 = 6;
    /// `google.protobuf.Timestamp`'s.
    pub const SECONDS: u32 = 1;
    pub const NANOS: u32 = 2;
}

/// `GetOnlineFeaturesColumnarResponse`'s fields.
const FEATURE_NAMES: u32 = 1;
const COLUMNS: u32 = 2;

/// `Column`'s fields.
mod column {
    pub const TYPE: u32 = 1;
    pub const STATUSES: u32 = 2;
    pub const INT64_VALUES: u32 = 3;
    pub const DOUBLE_VALUES: u32 = 4;
    pub const BOOL_VALUES: u32 = 5;
    pub const STRING_VALUES: u32 = 6;
    pub const DATE_VALUES: u32 = 7;
    pub const UNIX_TIMESTAMP_MICROS_VALUES: u32 = 8;
    pub const EVENT_TIMESTAMPS_MICROS: u32 = 9;
}

/// An answer message, encoded.
pub(crate) struct EncodedAnswer(Vec<u8>);

/// One column's values, in the array its type names.
#[derive(Debug, Clone, Copy)]
enum Values<'a> {
    Int64(&'a [i64]),
    Double(&'a [f64]),
    Bool(&'a [bool]),
    String(&'a [&'a str]),
    Date(&'a [i32]),
    Timestamp(&'a [i64]),
}

/// Buffers one call reuses for each of its columns.
#[derive(Default)]
struct Scratch<'a> {
    statuses: Vec<u8>,
    times: Vec<i64>,
    int64: Vec<i64>,
    double: Vec<f64>,
    bool: Vec<bool>,
    string: Vec<&'a str>,
    date: Vec<i32>,
    column: Vec<u8>,
}

impl Scratch<'_> {
    fn clear(&mut self) {
        self.statuses.clear();
        self.times.clear();
        self.int64.clear();
        self.double.clear();
        self.bool.clear();
        self.string.clear();
        self.date.clear();
        self.column.clear();
    }
}

/// The answer as `GetOnlineFeaturesColumnarResponse` bytes: the same cells,
/// in the same order, with the same zero values for cells without one, as
/// the Feast-shaped answer.
fn encode_columnar(answer: &Answer<'_>) -> Result<EncodedAnswer, ServeError> {
    let plan = &answer.plan;
    let rows = answer.rows;
    let mut out = Vec::with_capacity(64 + plan.columns.len() * (48 + rows * 12));
    encode_names(FEATURE_NAMES, answer, &mut out);
    let mut scratch = Scratch::default();
    for (key, ids) in plan.key_columns.iter().zip(&answer.ids) {
        scratch.clear();
        scratch
            .statuses
            .resize(ids.len(), FieldStatus::Present as u8);
        // Ids were checked against the key's type before the read: integer
        // keys hold only integer ids, every other key only text.
        let values = if key.key_type == ValueType::Int64 {
            scratch.int64.extend(ids.iter().map(|id| match id {
                EntityId::Int(i) => *i,
                EntityId::Text(_) => 0,
            }));
            Values::Int64(&scratch.int64)
        } else {
            scratch.string.extend(ids.iter().map(|id| match id {
                EntityId::Text(text) => text.as_ref(),
                EntityId::Int(_) => "",
            }));
            Values::String(&scratch.string)
        };
        encode_column(values, &scratch.statuses, &[], &mut scratch.column);
        encode_bytes(COLUMNS, &scratch.column, &mut out);
    }
    for c in 0..plan.columns.len() {
        scratch.clear();
        let value_type = answer.column_type(c);
        for row in 0..rows {
            let (value, status, time) = cell_parts(answer.cell(c, row));
            // The type comes from the layout the row was read with, so this
            // fails only on a store bug: reported, never sent as a zero.
            push_value(&mut scratch, value_type, value).map_err(|got| {
                let feature = &plan.columns[c];
                let view = &plan.views[feature.view];
                ServeError::Store(OnlineError::RowMismatch {
                    view: view.view.name.clone(),
                    key: answer.ids[view.key_column][row].key_text().into_owned(),
                    reason: format!(
                        "feature `{}` is {value_type} but the row holds {got:?}",
                        feature.short_name
                    ),
                })
            })?;
            scratch.statuses.push(status as u8);
            if answer.include_event_timestamps {
                scratch.times.push(time);
            }
        }
        let values = match value_type {
            ValueType::Int64 => Values::Int64(&scratch.int64),
            ValueType::Float64 => Values::Double(&scratch.double),
            ValueType::Bool => Values::Bool(&scratch.bool),
            ValueType::String => Values::String(&scratch.string),
            ValueType::Date => Values::Date(&scratch.date),
            ValueType::Timestamp => Values::Timestamp(&scratch.int64),
        };
        encode_column(
            values,
            &scratch.statuses,
            &scratch.times,
            &mut scratch.column,
        );
        encode_bytes(COLUMNS, &scratch.column, &mut out);
    }
    Ok(EncodedAnswer(out))
}

/// Every column's name, key columns first, each as a `tag` string field.
fn encode_names(tag: u32, answer: &Answer<'_>, out: &mut Vec<u8>) {
    for key in &answer.plan.key_columns {
        encode_str(tag, &key.name, out);
    }
    for c in 0..answer.plan.columns.len() {
        encode_str(tag, answer.feature_name(c), out);
    }
}

/// A cell as both answers send it: its value if present, its status, and
/// its row's event time (0 where there is no row).
fn cell_parts(cell: Cell<'_>) -> (Option<&FeatureValue>, FieldStatus, i64) {
    match cell {
        Cell::Present(value, time) => (Some(value), FieldStatus::Present, time),
        Cell::Null(time) => (None, FieldStatus::NullValue, time),
        Cell::NotFound => (None, FieldStatus::NotFound, 0),
        Cell::OutsideMaxAge(time) => (None, FieldStatus::OutsideMaxAge, time),
    }
}

/// The answer as `GetOnlineFeaturesResponse` bytes: Feast's shape, a
/// `FeatureVector` per column with a `Value` per cell (empty where there is no
/// value), key columns first with the epoch as their event times.
fn encode_feast(answer: &Answer<'_>) -> Result<EncodedAnswer, ServeError> {
    let plan = &answer.plan;
    let rows = answer.rows;
    let columns = plan.key_columns.len() + plan.columns.len();
    let mut out = Vec::with_capacity(64 + columns * (48 + rows * 24));
    let mut names = Vec::with_capacity(columns * 24);
    encode_names(feast::LIST_VAL, answer, &mut names);
    let mut metadata = Vec::with_capacity(names.len() + 4);
    encode_bytes(feast::FEATURE_NAMES, &names, &mut metadata);
    encode_bytes(feast::METADATA, &metadata, &mut out);

    let mut vector = Vec::new();
    let mut statuses: Vec<i32> = Vec::with_capacity(rows);
    let mut times: Vec<i64> = Vec::with_capacity(rows);
    for ids in &answer.ids {
        vector.clear();
        for id in ids.iter() {
            let value = match id {
                EntityId::Text(text) => FeastValue::String(text),
                EntityId::Int(i) => FeastValue::Int64(*i),
            };
            encode_feast_value(Some(value), &mut vector);
        }
        statuses.clear();
        statuses.resize(ids.len(), FieldStatus::Present as i32);
        times.clear();
        if answer.include_event_timestamps {
            // The epoch: key columns carry no event time of their own.
            times.resize(ids.len(), 0);
        }
        finish_feast_vector(&statuses, &times, &mut vector);
        encode_bytes(feast::RESULTS, &vector, &mut out);
    }
    for c in 0..plan.columns.len() {
        vector.clear();
        statuses.clear();
        times.clear();
        for row in 0..rows {
            let (value, status, time) = cell_parts(answer.cell(c, row));
            encode_feast_value(value.and_then(FeastValue::of), &mut vector);
            statuses.push(status as i32);
            if answer.include_event_timestamps {
                times.push(time);
            }
        }
        finish_feast_vector(&statuses, &times, &mut vector);
        encode_bytes(feast::RESULTS, &vector, &mut out);
    }
    Ok(EncodedAnswer(out))
}

/// One cell of the Feast shape: the `Value` oneof's variants.
#[derive(Debug, Clone, Copy)]
enum FeastValue<'a> {
    String(&'a str),
    Int64(i64),
    Double(f64),
    Bool(bool),
    Date(i32),
    Timestamp(i64),
}

impl<'a> FeastValue<'a> {
    /// A stored value as the oneof variant it is sent as; none for null.
    fn of(value: &'a FeatureValue) -> Option<FeastValue<'a>> {
        Some(match value {
            FeatureValue::Null => return None,
            FeatureValue::Bool(b) => FeastValue::Bool(*b),
            FeatureValue::Int64(i) => FeastValue::Int64(*i),
            FeatureValue::Float64(f) => FeastValue::Double(*f),
            FeatureValue::String(s) => FeastValue::String(s),
            FeatureValue::Date(d) => FeastValue::Date(*d),
            FeatureValue::Timestamp(t) => FeastValue::Timestamp(*t),
        })
    }
}

/// A `Value` message as the next element of `FeatureVector.values`: the set
/// variant (written even when it holds its type's zero, as a oneof is), or
/// no field at all.
fn encode_feast_value(value: Option<FeastValue<'_>>, out: &mut Vec<u8>) {
    use prost::encoding::{bool as bools, double, int32, int64};
    let len = match value {
        None => 0,
        Some(FeastValue::String(s)) => {
            prost::encoding::key_len(feast::STRING_VAL)
                + prost::encoding::encoded_len_varint(s.len() as u64)
                + s.len()
        }
        Some(FeastValue::Int64(i)) => int64::encoded_len(feast::INT64_VAL, &i),
        Some(FeastValue::Double(f)) => double::encoded_len(feast::DOUBLE_VAL, &f),
        Some(FeastValue::Bool(b)) => bools::encoded_len(feast::BOOL_VAL, &b),
        Some(FeastValue::Date(d)) => int32::encoded_len(feast::DATE_VAL, &d),
        Some(FeastValue::Timestamp(t)) => int64::encoded_len(feast::UNIX_TIMESTAMP_MICROS_VAL, &t),
    };
    encode_key(feast::VALUES, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    match value {
        None => {}
        Some(FeastValue::String(s)) => encode_str(feast::STRING_VAL, s, out),
        Some(FeastValue::Int64(i)) => int64::encode(feast::INT64_VAL, &i, out),
        Some(FeastValue::Double(f)) => double::encode(feast::DOUBLE_VAL, &f, out),
        Some(FeastValue::Bool(b)) => bools::encode(feast::BOOL_VAL, &b, out),
        Some(FeastValue::Date(d)) => int32::encode(feast::DATE_VAL, &d, out),
        Some(FeastValue::Timestamp(t)) => int64::encode(feast::UNIX_TIMESTAMP_MICROS_VAL, &t, out),
    }
}

/// A `FeatureVector`'s fields after its values: the statuses (packed) and,
/// if any, the event times as `google.protobuf.Timestamp` messages.
fn finish_feast_vector(statuses: &[i32], times: &[i64], out: &mut Vec<u8>) {
    use prost::encoding::{int32, int64};
    int32::encode_packed(feast::STATUSES, statuses, out);
    for &micros in times {
        let seconds = micros.div_euclid(1_000_000);
        let nanos = (micros.rem_euclid(1_000_000) * 1_000) as i32;
        // proto3: zero fields are left out.
        let len = if seconds != 0 {
            int64::encoded_len(feast::SECONDS, &seconds)
        } else {
            0
        } + if nanos != 0 {
            int32::encoded_len(feast::NANOS, &nanos)
        } else {
            0
        };
        encode_key(feast::EVENT_TIMESTAMPS, WireType::LengthDelimited, out);
        encode_varint(len as u64, out);
        if seconds != 0 {
            int64::encode(feast::SECONDS, &seconds, out);
        }
        if nanos != 0 {
            int32::encode(feast::NANOS, &nanos, out);
        }
    }
}

/// Appends `value` (or the type's zero for no value) to the array of
/// `value_type`; a value of another type is returned as the error.
fn push_value<'v>(
    scratch: &mut Scratch<'v>,
    value_type: ValueType,
    value: Option<&'v FeatureValue>,
) -> Result<(), &'v FeatureValue> {
    match (value_type, value) {
        (ValueType::Int64 | ValueType::Timestamp, None) => scratch.int64.push(0),
        (ValueType::Int64, Some(FeatureValue::Int64(i))) => scratch.int64.push(*i),
        (ValueType::Timestamp, Some(FeatureValue::Timestamp(t))) => scratch.int64.push(*t),
        (ValueType::Float64, None) => scratch.double.push(0.0),
        (ValueType::Float64, Some(FeatureValue::Float64(f))) => scratch.double.push(*f),
        (ValueType::Bool, None) => scratch.bool.push(false),
        (ValueType::Bool, Some(FeatureValue::Bool(b))) => scratch.bool.push(*b),
        (ValueType::String, None) => scratch.string.push(""),
        (ValueType::String, Some(FeatureValue::String(s))) => scratch.string.push(s),
        (ValueType::Date, None) => scratch.date.push(0),
        (ValueType::Date, Some(FeatureValue::Date(d))) => scratch.date.push(*d),
        (_, Some(other)) => return Err(other),
    }
    Ok(())
}

/// One `Column` message's fields, as prost writes them: fields in number
/// order, empty ones left out, numeric arrays packed.
fn encode_column(values: Values<'_>, statuses: &[u8], times: &[i64], out: &mut Vec<u8>) {
    use prost::encoding::{bool as bools, double, int32, int64};
    let value_type = match values {
        Values::Int64(_) => ProtoType::Int64,
        Values::Double(_) => ProtoType::Double,
        Values::Bool(_) => ProtoType::Bool,
        Values::String(_) => ProtoType::String,
        Values::Date(_) => ProtoType::Date,
        Values::Timestamp(_) => ProtoType::UnixTimestamp,
    };
    int32::encode(column::TYPE, &(value_type as i32), out);
    if !statuses.is_empty() {
        encode_bytes(column::STATUSES, statuses, out);
    }
    match values {
        Values::Int64(v) => int64::encode_packed(column::INT64_VALUES, v, out),
        Values::Double(v) => double::encode_packed(column::DOUBLE_VALUES, v, out),
        Values::Bool(v) => bools::encode_packed(column::BOOL_VALUES, v, out),
        Values::String(v) => {
            for text in v {
                encode_str(column::STRING_VALUES, text, out);
            }
        }
        Values::Date(v) => int32::encode_packed(column::DATE_VALUES, v, out),
        Values::Timestamp(v) => int64::encode_packed(column::UNIX_TIMESTAMP_MICROS_VALUES, v, out),
    }
    int64::encode_packed(column::EVENT_TIMESTAMPS_MICROS, times, out);
}

fn encode_str(tag: u32, text: &str, out: &mut Vec<u8>) {
    encode_bytes(tag, text.as_bytes(), out);
}

/// A length-delimited field: a string, bytes, or a nested message's encoding.
fn encode_bytes(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.reserve(bytes.len());
    out.extend_from_slice(bytes);
}

/// The codec of the routes: requests decoded by prost, answers sent as encoded.
#[derive(Debug, Clone, Copy, Default)]
struct AnswerCodec;

impl Codec for AnswerCodec {
    type Encode = EncodedAnswer;
    type Decode = GetOnlineFeaturesRequest;
    type Encoder = AnswerCodec;
    type Decoder = AnswerCodec;

    fn encoder(&mut self) -> Self::Encoder {
        AnswerCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        AnswerCodec
    }
}

impl Encoder for AnswerCodec {
    type Item = EncodedAnswer;
    type Error = Status;

    fn encode(&mut self, item: EncodedAnswer, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item.0);
        Ok(())
    }
}

impl Decoder for AnswerCodec {
    type Item = GetOnlineFeaturesRequest;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        // As tonic's prost codec reports a message it cannot decode.
        GetOnlineFeaturesRequest::decode(src)
            .map(Some)
            .map_err(|error| Status::internal(error.to_string()))
    }
}

/// Which answer a route writes.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Feast,
    Columnar,
}

/// One feature method as a tower service over HTTP/2 requests, for tonic's
/// router.
#[derive(Clone)]
pub(crate) struct AnswerRoute {
    service: Arc<GrpcService>,
    shape: Shape,
    max_message_bytes: usize,
}

/// The two feature methods' routes, by path, answering with `service` and
/// decoding requests of at most `max_message_bytes`.
pub(crate) fn routes(
    service: &Arc<GrpcService>,
    max_message_bytes: usize,
) -> [(&'static str, AnswerRoute); 2] {
    [(FEAST_PATH, Shape::Feast), (COLUMNAR_PATH, Shape::Columnar)].map(|(path, shape)| {
        let route = AnswerRoute {
            service: service.clone(),
            shape,
            max_message_bytes,
        };
        (path, route)
    })
}

impl tower::Service<axum::http::Request<axum::body::Body>> for AnswerRoute {
    type Response = axum::http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::http::Request<axum::body::Body>) -> Self::Future {
        let unary = Unary(self.service.clone(), self.shape);
        let mut grpc = tonic::server::Grpc::new(AnswerCodec)
            .apply_max_message_size_config(Some(self.max_message_bytes), None);
        Box::pin(async move { Ok(grpc.unary(unary, request).await) })
    }
}

struct Unary(Arc<GrpcService>, Shape);

impl tonic::server::UnaryService<GetOnlineFeaturesRequest> for Unary {
    type Response = EncodedAnswer;
    type Future = futures::future::BoxFuture<'static, Result<Response<EncodedAnswer>, Status>>;

    fn call(&mut self, request: Request<GetOnlineFeaturesRequest>) -> Self::Future {
        let (service, shape) = (self.0.clone(), self.1);
        Box::pin(async move {
            let state = service.state();
            let (metrics, encode): (_, fn(&Answer<'_>) -> _) = match shape {
                Shape::Feast => (&state.grpc_online, encode_feast),
                Shape::Columnar => (&state.grpc_columnar, encode_columnar),
            };
            service.answer(request.get_ref(), metrics, encode).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_proto::serving::{Column, GetOnlineFeaturesColumnarResponse};

    fn encoded(values: Values<'_>, statuses: &[u8], times: &[i64]) -> Column {
        let mut out = Vec::new();
        encode_column(values, statuses, times, &mut out);
        Column::decode(out.as_slice()).expect("a Column")
    }

    #[test]
    fn every_array_decodes_as_prost_reads_it() {
        let statuses = [1, 3, 2];
        let times = [1_700_000_000_000_000, 0, -5];
        let column = encoded(Values::Int64(&[7, 0, -1]), &statuses, &times);
        assert_eq!(column.r#type(), ProtoType::Int64);
        assert_eq!(column.int64_values, [7, 0, -1]);
        assert_eq!(column.statuses, statuses);
        assert_eq!(column.event_timestamps_micros, times);

        let column = encoded(Values::Double(&[f64::NAN, -0.0, 1.5]), &statuses, &[]);
        assert_eq!(column.r#type(), ProtoType::Double);
        assert!(column.double_values[0].is_nan());
        assert_eq!(column.double_values[1..], [-0.0, 1.5]);
        assert!(column.event_timestamps_micros.is_empty());

        let column = encoded(Values::Bool(&[true, false, true]), &statuses, &[]);
        assert_eq!(column.bool_values, [true, false, true]);

        let column = encoded(Values::String(&["é", "", "x"]), &statuses, &[]);
        assert_eq!(column.r#type(), ProtoType::String);
        assert_eq!(column.string_values, ["é", "", "x"]);

        let column = encoded(Values::Date(&[i32::MIN, 0, i32::MAX]), &statuses, &[]);
        assert_eq!(column.r#type(), ProtoType::Date);
        assert_eq!(column.date_values, [i32::MIN, 0, i32::MAX]);

        let column = encoded(Values::Timestamp(&[i64::MIN, 0, i64::MAX]), &statuses, &[]);
        assert_eq!(column.r#type(), ProtoType::UnixTimestamp);
        assert_eq!(column.unix_timestamp_micros_values, [i64::MIN, 0, i64::MAX]);
        assert!(column.int64_values.is_empty());
    }

    /// Byte for byte what prost writes for the same message, so no client
    /// can tell the two apart: every array type, key-column shaped columns
    /// (no event times), zero rows, and the response around the columns.
    #[test]
    fn bytes_are_prosts() {
        let statuses = [1, 2, 3];
        let times = [3, 0, -4];
        let cases: [(Values<'_>, &[u8], &[i64], Column); 8] = [
            (
                Values::Int64(&[7, 0, -1]),
                &statuses,
                &times,
                Column {
                    r#type: ProtoType::Int64 as i32,
                    int64_values: vec![7, 0, -1],
                    ..Column::default()
                },
            ),
            (
                Values::Double(&[0.25, 0.0, f64::INFINITY]),
                &statuses,
                &times,
                Column {
                    r#type: ProtoType::Double as i32,
                    double_values: vec![0.25, 0.0, f64::INFINITY],
                    ..Column::default()
                },
            ),
            (
                Values::Bool(&[true, false, false]),
                &statuses,
                &[],
                Column {
                    r#type: ProtoType::Bool as i32,
                    bool_values: vec![true, false, false],
                    ..Column::default()
                },
            ),
            (
                Values::String(&["MAC000002", "", "é"]),
                &[1, 1, 1],
                &[],
                Column {
                    r#type: ProtoType::String as i32,
                    string_values: vec!["MAC000002".into(), String::new(), "é".into()],
                    ..Column::default()
                },
            ),
            (
                Values::Date(&[i32::MIN, 0, 19_000]),
                &statuses,
                &times,
                Column {
                    r#type: ProtoType::Date as i32,
                    date_values: vec![i32::MIN, 0, 19_000],
                    ..Column::default()
                },
            ),
            (
                Values::Timestamp(&[i64::MIN, 0, i64::MAX]),
                &statuses,
                &times,
                Column {
                    r#type: ProtoType::UnixTimestamp as i32,
                    unix_timestamp_micros_values: vec![i64::MIN, 0, i64::MAX],
                    ..Column::default()
                },
            ),
            (
                Values::Int64(&[42, -42, 0]),
                &[1, 1, 1],
                &[],
                Column {
                    r#type: ProtoType::Int64 as i32,
                    int64_values: vec![42, -42, 0],
                    ..Column::default()
                },
            ),
            (
                Values::Double(&[]),
                &[],
                &[],
                Column {
                    r#type: ProtoType::Double as i32,
                    ..Column::default()
                },
            ),
        ];
        let mut ours = Vec::new();
        let mut response = GetOnlineFeaturesColumnarResponse::default();
        for (i, (values, statuses, times, mut column)) in cases.into_iter().enumerate() {
            column.statuses = statuses.to_vec();
            column.event_timestamps_micros = times.to_vec();
            let mut bytes = Vec::new();
            encode_column(values, statuses, times, &mut bytes);
            assert_eq!(bytes, column.encode_to_vec(), "case {i}: {values:?}");
            let name = format!("column_{i}");
            encode_str(FEATURE_NAMES, &name, &mut ours);
            response.feature_names.push(name);
            response.columns.push(column);
            // prost writes every name, then every column; so do we.
            let mut columns = Vec::new();
            for column in &response.columns {
                encode_bytes(COLUMNS, &column.encode_to_vec(), &mut columns);
            }
            let mut whole = ours.clone();
            whole.extend_from_slice(&columns);
            assert_eq!(
                whole,
                response.encode_to_vec(),
                "response of {} columns",
                i + 1
            );
        }
    }

    /// A Feast-shaped `FeatureVector`, byte for byte as prost writes it: each
    /// oneof variant (zeros included), no value, statuses, and event times
    /// before, at and after the epoch, or none.
    #[test]
    fn feast_vectors_are_prosts() {
        use quiver_proto::serving::Value;
        use quiver_proto::serving::get_online_features_response::FeatureVector;
        use quiver_proto::serving::value::Val;
        let cells = [
            (
                Some(FeastValue::String("MAC000002")),
                Some(Val::StringVal("MAC000002".into())),
            ),
            (
                Some(FeastValue::String("")),
                Some(Val::StringVal(String::new())),
            ),
            (Some(FeastValue::Int64(0)), Some(Val::Int64Val(0))),
            (Some(FeastValue::Int64(-1)), Some(Val::Int64Val(-1))),
            (
                Some(FeastValue::Double(f64::NAN)),
                Some(Val::DoubleVal(f64::NAN)),
            ),
            (Some(FeastValue::Double(0.0)), Some(Val::DoubleVal(0.0))),
            (Some(FeastValue::Bool(false)), Some(Val::BoolVal(false))),
            (Some(FeastValue::Bool(true)), Some(Val::BoolVal(true))),
            (
                Some(FeastValue::Date(i32::MIN)),
                Some(Val::DateVal(i32::MIN)),
            ),
            (
                Some(FeastValue::Timestamp(i64::MAX)),
                Some(Val::UnixTimestampMicrosVal(i64::MAX)),
            ),
            (None, None),
        ];
        let statuses: Vec<i32> = (0..cells.len() as i32).map(|i| i % 5).collect();
        let micros: Vec<i64> = [0, -1, 1_700_000_000_123_456, 999_999, -1_000_000]
            .into_iter()
            .cycle()
            .take(cells.len())
            .collect();
        for times in [&micros[..], &[]] {
            let mut ours = Vec::new();
            for (value, _) in &cells {
                encode_feast_value(*value, &mut ours);
            }
            finish_feast_vector(&statuses, times, &mut ours);
            let prosts = FeatureVector {
                values: cells
                    .iter()
                    .map(|(_, val)| Value { val: val.clone() })
                    .collect(),
                statuses: statuses.clone(),
                event_timestamps: times
                    .iter()
                    .map(|&t| prost_types::Timestamp {
                        seconds: t.div_euclid(1_000_000),
                        nanos: (t.rem_euclid(1_000_000) * 1_000) as i32,
                    })
                    .collect(),
            }
            .encode_to_vec();
            assert_eq!(ours, prosts, "with {} event times", times.len());
        }
    }
}

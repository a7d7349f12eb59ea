//! The gRPC client: [`GrpcTarget`] holds the address and the pieces of the
//! `GetOnlineFeatures` requests of the `quiver-proto` service (each id and
//! the features, encoded once), from which each call's message is
//! assembled; its connections are HTTP/2 (over TLS for `https://`), on which
//! [`grpc_send`] makes one call.
//!
//! The calls go straight through hyper's HTTP/2 client rather than a tonic
//! `Channel`, and the answer is received whole and its `grpc-status` read,
//! not decoded: the same work the HTTP client does (it assembles bodies
//! from pieces encoded once and reads the whole JSON answer and its status
//! without parsing it), so the two transports are compared on the server's
//! cost, not on the generator's (docs/DESIGN.md, "The load generator's gRPC
//! client").

use super::tls::{Tls, address_and_tls};
use super::{Handshake, drive, typed_headers};
use crate::record::RequestError;
use crate::{FeatureSelection, GrpcRpc, KeySpace, SimError, SimSettings};
use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioExecutor;
use prost::Message;
use quiver_online::error_chain;
use quiver_proto::serving::get_online_features_request::Kind;
use quiver_proto::serving::{FeatureList, GetOnlineFeaturesRequest, Value, value};

/// The service's path, as quiver-proto declares it.
const SERVICE: &str = "/quiver.serving.v1.ServingService";

/// A gRPC target's address and prepared requests.
pub struct GrpcTarget {
    /// `host:port`.
    pub(super) address: String,
    /// For `https://`: the TLS client and the name the certificate must carry.
    pub(super) tls: Option<Tls>,
    /// The RPC's full URI (HTTP/2 sends its scheme and authority).
    uri: hyper::Uri,
    /// Extra metadata (credentials), checked and parsed once.
    metadata: Vec<(HeaderName, HeaderValue)>,
    /// Every request's fields but its entities (the features or the
    /// service), encoded once.
    request_fields: Bytes,
    entity_key: String,
    /// Each id as an encoded `RepeatedValue.val` field, encoded once.
    encoded_ids: Vec<Bytes>,
    /// Connections the workers share; `None`: one per worker.
    pub(super) shared_connections: Option<usize>,
}

/// Field numbers in serving.proto: `GetOnlineFeaturesRequest.entities`, a
/// map entry's key and value, and `RepeatedValue.val`.
const ENTITIES: u32 = 3;
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;
const REPEATED_VAL: u32 = 1;

impl GrpcTarget {
    /// The framed request message for the ids at `ids`, assembled from the
    /// pieces encoded once (a message's fields may come in any order, so
    /// the entities follow the other fields).
    pub(super) fn message(&self, ids: &[u32]) -> Bytes {
        use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
        let ids = ids.iter().map(|&i| &self.encoded_ids[i as usize]);
        let values_len: usize = ids.clone().map(|id| id.len()).sum();
        let entry_len = prost::encoding::string::encoded_len(ENTRY_KEY, &self.entity_key)
            + key_len(ENTRY_VALUE)
            + encoded_len_varint(values_len as u64)
            + values_len;
        let message_len = self.request_fields.len()
            + key_len(ENTITIES)
            + encoded_len_varint(entry_len as u64)
            + entry_len;
        let mut framed = BytesMut::with_capacity(5 + message_len);
        // The gRPC frame: not compressed, the length big-endian.
        framed.put_u8(0);
        framed.put_u32(u32::try_from(message_len).expect("a request is far below 4 GiB"));
        framed.put_slice(&self.request_fields);
        encode_key(ENTITIES, WireType::LengthDelimited, &mut framed);
        encode_varint(entry_len as u64, &mut framed);
        prost::encoding::string::encode(ENTRY_KEY, &self.entity_key, &mut framed);
        encode_key(ENTRY_VALUE, WireType::LengthDelimited, &mut framed);
        encode_varint(values_len as u64, &mut framed);
        for id in ids {
            framed.put_slice(id);
        }
        framed.freeze()
    }

    /// The call for the ids at `ids`: headers, metadata and the framed message.
    pub(super) fn call(&self, ids: &[u32]) -> hyper::Request<Full<Bytes>> {
        let mut call = hyper::Request::new(Full::new(self.message(ids)));
        *call.method_mut() = hyper::Method::POST;
        *call.uri_mut() = self.uri.clone();
        let headers = call.headers_mut();
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert(hyper::header::TE, HeaderValue::from_static("trailers"));
        for (name, value) in &self.metadata {
            headers.insert(name.clone(), value.clone());
        }
        call
    }
}

impl GrpcTarget {
    pub(super) fn new(
        url: &str,
        rpc: GrpcRpc,
        shared_connections: Option<usize>,
        settings: &SimSettings,
        keys: &KeySpace,
    ) -> Result<GrpcTarget, SimError> {
        let bad = |problem: String| SimError::Setting {
            setting: "--url",
            problem: format!("`{url}` is not a gRPC endpoint: {problem}"),
        };
        let base: hyper::Uri = url.parse().map_err(|e| bad(format!("{e}")))?;
        let (Some(scheme), Some(authority)) = (base.scheme(), base.authority()) else {
            return Err(bad("it needs a scheme and a host".to_string()));
        };
        let (address, tls) = address_and_tls(&base, url, &settings.access, b"h2")?;
        let method = match rpc {
            GrpcRpc::Feast => "GetOnlineFeatures",
            GrpcRpc::Columnar => "GetOnlineFeaturesColumnar",
        };
        let uri = hyper::Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query(format!("{SERVICE}/{method}"))
            .build()
            .map_err(|e| bad(format!("{e}")))?;
        // Checked as gRPC metadata (a `-bin` key needs a binary value), sent as headers.
        let metadata = typed_headers(&settings.access, "valid gRPC metadata", |header| {
            let key = tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(
                header.name.as_bytes(),
            )
            .ok()?;
            let value: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
                header.value.parse().ok()?;
            Some((
                HeaderName::from_bytes(key.as_str().as_bytes()).ok()?,
                HeaderValue::from_bytes(value.as_bytes()).ok()?,
            ))
        })?;
        let kind = match &settings.features {
            FeatureSelection::Features(features) => Kind::Features(FeatureList {
                val: features.clone(),
            }),
            FeatureSelection::Service(name) => Kind::FeatureService(name.clone()),
        };
        let encoded_ids = keys
            .ids()
            .iter()
            .map(|id| {
                let value = Value {
                    val: Some(match id.parse::<i64>() {
                        Ok(n) if keys.numeric() => value::Val::Int64Val(n),
                        _ => value::Val::StringVal(id.clone()),
                    }),
                };
                let mut field = Vec::new();
                prost::encoding::message::encode(REPEATED_VAL, &value, &mut field);
                Bytes::from(field)
            })
            .collect();
        let request_fields = GetOnlineFeaturesRequest {
            kind: Some(kind),
            ..Default::default()
        }
        .encode_to_vec()
        .into();
        Ok(GrpcTarget {
            address,
            tls,
            uri,
            metadata,
            request_fields,
            entity_key: settings.entity_key.clone(),
            encoded_ids,
            shared_connections,
        })
    }
}

impl Handshake for SendRequest<Full<Bytes>> {
    async fn over<T>(io: T) -> hyper::Result<Self>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        drive(connection);
        Ok(sender)
    }
}

/// One call for the ids at `ids`: the whole answer is received and its
/// status read; an OK answer must hold one complete message.
pub(super) async fn grpc_send(
    target: &GrpcTarget,
    sender: &mut SendRequest<Full<Bytes>>,
    ids: &[u32],
) -> Result<(), RequestError> {
    let transport = |e: hyper::Error| RequestError::Transport(error_chain(&e));
    sender.ready().await.map_err(transport)?;
    let response = sender
        .send_request(target.call(ids))
        .await
        .map_err(transport)?;
    let (head, body) = response.into_parts();
    if head.status != hyper::StatusCode::OK {
        return Err(RequestError::Status(
            head.status.as_u16(),
            "not a gRPC answer".to_string(),
        ));
    }
    let body = body.collect().await.map_err(transport)?;
    // An error before any message comes as headers only ("Trailers-Only").
    let status = match body.trailers() {
        Some(trailers) => tonic::Status::from_header_map(trailers),
        None => tonic::Status::from_header_map(&head.headers),
    };
    let status = status.ok_or_else(|| {
        RequestError::Transport("the answer ended without a grpc-status".to_string())
    })?;
    if status.code() != tonic::Code::Ok {
        return Err(RequestError::Grpc(
            status.code(),
            status.message().to_string(),
        ));
    }
    let message = body.to_bytes();
    let declared = message
        .get(1..5)
        .map(|length| u32::from_be_bytes(length.try_into().expect("four bytes")) as usize);
    if declared.map(|length| 5 + length) != Some(message.len()) {
        return Err(RequestError::Transport(format!(
            "the answer's {} bytes are not one whole gRPC message",
            message.len()
        )));
    }
    Ok(())
}

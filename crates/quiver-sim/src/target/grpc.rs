//! The gRPC client: [`GrpcTarget`] holds the address and the
//! `GetOnlineFeatures` requests of the `quiver-proto` service, encoded once
//! per id; its connections are HTTP/2 (over TLS for `https://`), on which
//! [`grpc_send`] makes one call.
//!
//! The calls go straight through hyper's HTTP/2 client rather than a tonic
//! `Channel`, and the answer is received whole and its `grpc-status` read,
//! not decoded: the same work the HTTP client does (it reads the whole JSON
//! answer and its status without parsing it), so the two transports are
//! compared on the server's cost, not on the generator's. A tonic client
//! costs the generator about twice as much per call (docs/BENCHMARKS.md).

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
use quiver_proto::serving::{FeatureList, GetOnlineFeaturesRequest, RepeatedValue, Value, value};
use std::collections::HashMap;

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
    /// `kind` of every request (features or service), prepared once.
    kind: Kind,
    entity_key: String,
    /// Each id as a proto value.
    values: Vec<Value>,
    /// Batch-size-1 messages, one per id, framed and ready to send.
    single: Vec<Bytes>,
}

impl GrpcTarget {
    /// The request message for the ids at `ids`.
    pub(super) fn request(&self, ids: &[u32]) -> GetOnlineFeaturesRequest {
        build_grpc_request(
            &self.kind,
            &self.entity_key,
            ids.iter()
                .map(|&i| self.values[i as usize].clone())
                .collect(),
        )
    }

    /// The call for the ids at `ids`: headers, metadata and the framed message.
    pub(super) fn call(&self, ids: &[u32]) -> hyper::Request<Full<Bytes>> {
        let message = match ids {
            [one] if (*one as usize) < self.single.len() => self.single[*one as usize].clone(),
            _ => frame(&self.request(ids)),
        };
        let mut call = hyper::Request::new(Full::new(message));
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

/// `message` as one gRPC length-prefixed message: not compressed, its
/// length big-endian, then its bytes.
fn frame(message: &GetOnlineFeaturesRequest) -> Bytes {
    let length = message.encoded_len();
    let mut framed = BytesMut::with_capacity(5 + length);
    framed.put_u8(0);
    framed.put_u32(u32::try_from(length).expect("a request is far below 4 GiB"));
    message
        .encode(&mut framed)
        .expect("the buffer was sized to the message");
    framed.freeze()
}

fn build_grpc_request(
    kind: &Kind,
    entity_key: &str,
    values: Vec<Value>,
) -> GetOnlineFeaturesRequest {
    GetOnlineFeaturesRequest {
        entities: HashMap::from([(entity_key.to_string(), RepeatedValue { val: values })]),
        full_feature_names: false,
        include_event_timestamps: false,
        kind: Some(kind.clone()),
    }
}

impl GrpcTarget {
    pub(super) fn new(
        url: &str,
        rpc: GrpcRpc,
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
        let values: Vec<Value> = keys
            .ids()
            .iter()
            .map(|id| Value {
                val: Some(match id.parse::<i64>() {
                    Ok(n) if keys.numeric() => value::Val::Int64Val(n),
                    _ => value::Val::StringVal(id.clone()),
                }),
            })
            .collect();
        let single = if settings.batch_size == 1 {
            values
                .iter()
                .map(|v| {
                    frame(&build_grpc_request(
                        &kind,
                        &settings.entity_key,
                        vec![v.clone()],
                    ))
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(GrpcTarget {
            address,
            tls,
            uri,
            metadata,
            kind,
            entity_key: settings.entity_key.clone(),
            values,
            single,
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

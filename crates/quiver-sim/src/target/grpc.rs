//! The gRPC client: [`GrpcTarget`] holds the endpoint and the
//! `GetOnlineFeatures` requests of the `quiver-proto` service, prepared once
//! per id; [`GrpcTarget::connect`] opens a channel (over TLS for `https://`)
//! and [`GrpcTarget::send`] makes one call.

use super::tls::{Tls, address_and_tls};
use super::typed_headers;
use crate::record::RequestError;
use crate::{FeatureSelection, GrpcRpc, KeySpace, SimError, SimSettings};
use hyper_util::rt::TokioIo;
use quiver_online::error_chain;
use quiver_proto::serving::get_online_features_request::Kind;
use quiver_proto::serving::serving_service_client::ServingServiceClient;
use quiver_proto::serving::{FeatureList, GetOnlineFeaturesRequest, RepeatedValue, Value, value};
use std::collections::HashMap;
use tonic::transport::{Channel, Endpoint};

/// A gRPC target's endpoint and prepared requests.
pub struct GrpcTarget {
    /// The RPC called.
    rpc: GrpcRpc,
    endpoint: Endpoint,
    /// `host:port`, for TLS connections made here.
    address: String,
    /// For `https://`: the TLS client and the name the certificate must carry.
    tls: Option<Tls>,
    /// Extra metadata (credentials), parsed once.
    metadata: Vec<(
        tonic::metadata::MetadataKey<tonic::metadata::Ascii>,
        tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    )>,
    /// `kind` of every request (features or service), prepared once.
    kind: Kind,
    entity_key: String,
    /// Each id as a proto value.
    values: Vec<Value>,
    /// Batch-size-1 requests, one per id, ready to clone.
    single: Vec<GetOnlineFeaturesRequest>,
}

impl GrpcTarget {
    /// The call for the ids at `ids`, with the metadata.
    pub(super) fn call(&self, ids: &[u32]) -> tonic::Request<GetOnlineFeaturesRequest> {
        let mut call = tonic::Request::new(self.request(ids));
        for (key, value) in &self.metadata {
            call.metadata_mut().insert(key.clone(), value.clone());
        }
        call
    }

    pub(super) fn request(&self, ids: &[u32]) -> GetOnlineFeaturesRequest {
        if let [one] = ids
            && let Some(request) = self.single.get(*one as usize)
        {
            return request.clone();
        }
        build_grpc_request(
            &self.kind,
            &self.entity_key,
            ids.iter()
                .map(|&i| self.values[i as usize].clone())
                .collect(),
        )
    }

    /// A channel to the endpoint, made with the TLS client for `https://`.
    pub(super) async fn connect(&self) -> Result<ServingServiceClient<Channel>, SimError> {
        let connected = match &self.tls {
            None => self.endpoint.connect().await,
            Some(tls) => {
                let (tls, address) = (tls.clone(), self.address.clone());
                self.endpoint
                    .connect_with_connector(tower::service_fn(move |_: hyper::Uri| {
                        let (tls, address) = (tls.clone(), address.clone());
                        async move { tls.connect(&address).await.map(TokioIo::new) }
                    }))
                    .await
            }
        };
        let channel = connected.map_err(|e| SimError::Connect {
            target: self.endpoint.uri().to_string(),
            reason: error_chain(&e),
        })?;
        Ok(ServingServiceClient::new(channel))
    }

    /// One call for the ids at `ids`; the answer is received whole and dropped.
    pub(super) async fn send(
        &self,
        client: &mut ServingServiceClient<Channel>,
        ids: &[u32],
    ) -> Result<(), RequestError> {
        let call = self.call(ids);
        // The whole answer is decoded either way, as a client would.
        let answered = match self.rpc {
            GrpcRpc::Feast => client.get_online_features(call).await.map(|_| ()),
            GrpcRpc::Columnar => client.get_online_features_columnar(call).await.map(|_| ()),
        };
        answered.map_err(|status| RequestError::Grpc(status.code(), status.message().to_string()))
    }
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
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| SimError::Setting {
                setting: "--url",
                problem: format!("`{url}` is not a gRPC endpoint: {e}"),
            })?
            .tcp_nodelay(true);
        let (address, tls) = address_and_tls(endpoint.uri(), url, &settings.access, b"h2")?;
        let metadata = typed_headers(&settings.access, "valid gRPC metadata", |header| {
            Some((
                tonic::metadata::MetadataKey::from_bytes(header.name.as_bytes()).ok()?,
                header.value.parse().ok()?,
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
                .map(|v| build_grpc_request(&kind, &settings.entity_key, vec![v.clone()]))
                .collect()
        } else {
            Vec::new()
        };
        Ok(GrpcTarget {
            rpc,
            endpoint,
            address,
            tls,
            metadata,
            kind,
            entity_key: settings.entity_key.clone(),
            values,
            single,
        })
    }
}

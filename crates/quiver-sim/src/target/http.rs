//! The HTTP client: [`HttpTarget`] holds the address and the JSON bodies of
//! Feast's `POST /get-online-features`, assembled from pieces encoded once per
//! id; its connections are HTTP/1.1 keep-alive (over TLS for `https://`), on
//! which [`http_send`] sends one request and reads the whole answer.

use super::tls::{Tls, address_and_tls};
use super::{Handshake, drive, typed_headers};
use crate::record::RequestError;
use crate::{FeatureSelection, KeySpace, SimError, SimSettings};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use quiver_online::error_chain;

/// An HTTP target's address and prepared bodies.
pub struct HttpTarget {
    /// `host:port` to connect to.
    pub(super) address: String,
    /// For `https://`: the TLS client and the name the certificate must carry.
    pub(super) tls: Option<Tls>,
    /// Extra headers (credentials), parsed once.
    pub(super) headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// The request URI path.
    path: hyper::Uri,
    /// The `Host` header.
    host: hyper::header::HeaderValue,
    bodies: RequestBodies,
}

/// JSON request bodies, assembled from pieces encoded once.
pub(super) struct RequestBodies {
    /// `{"entities":{"id":[`
    prefix: String,
    /// `]},"features":[…]}` or `]},"feature_service":"…"}`
    suffix: String,
    /// Each id, JSON-encoded.
    ids: Vec<String>,
    /// Batch-size-1 bodies, one per id.
    single: Vec<Bytes>,
}

impl RequestBodies {
    pub(super) fn new(settings: &SimSettings, keys: &KeySpace) -> RequestBodies {
        let json = |s: &str| serde_json::to_string(s).expect("strings serialise");
        let prefix = format!("{{\"entities\":{{{}:[", json(&settings.entity_key));
        let suffix = match &settings.features {
            FeatureSelection::Features(features) => {
                let list: Vec<String> = features.iter().map(|f| json(f)).collect();
                format!("]}},\"features\":[{}]}}", list.join(","))
            }
            FeatureSelection::Service(name) => format!("]}},\"feature_service\":{}}}", json(name)),
        };
        let ids: Vec<String> = keys
            .ids()
            .iter()
            .map(|id| if keys.numeric() { id.clone() } else { json(id) })
            .collect();
        let single = if settings.batch_size == 1 {
            ids.iter()
                .map(|id| Bytes::from(format!("{prefix}{id}{suffix}")))
                .collect()
        } else {
            Vec::new()
        };
        RequestBodies {
            prefix,
            suffix,
            ids,
            single,
        }
    }

    pub(super) fn body(&self, ids: &[u32]) -> Bytes {
        if let [one] = ids
            && let Some(body) = self.single.get(*one as usize)
        {
            return body.clone();
        }
        let mut text = String::with_capacity(
            self.prefix.len() + self.suffix.len() + ids.len() * (self.ids[0].len() + 1),
        );
        text.push_str(&self.prefix);
        for (n, &i) in ids.iter().enumerate() {
            if n > 0 {
                text.push(',');
            }
            text.push_str(&self.ids[i as usize]);
        }
        text.push_str(&self.suffix);
        Bytes::from(text)
    }
}

impl HttpTarget {
    pub(super) fn new(
        url: &str,
        settings: &SimSettings,
        keys: &KeySpace,
    ) -> Result<HttpTarget, SimError> {
        let bad = |problem: String| SimError::Setting {
            setting: "--url",
            problem,
        };
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| bad(format!("`{url}` is not a URL: {e}")))?;
        let (address, tls) = address_and_tls(&uri, url, &settings.access, b"http/1.1")?;
        let authority = uri
            .authority()
            .ok_or_else(|| bad(format!("`{url}` has no host")))?;
        let headers = typed_headers(&settings.access, "a valid HTTP header", |header| {
            Some((
                hyper::header::HeaderName::from_bytes(header.name.as_bytes()).ok()?,
                hyper::header::HeaderValue::from_str(&header.value).ok()?,
            ))
        })?;
        let base = uri.path().trim_end_matches('/');
        let path: hyper::Uri = format!("{base}/get-online-features")
            .parse()
            .map_err(|e| bad(format!("`{url}`: {e}")))?;
        let host = hyper::header::HeaderValue::from_str(authority.as_str())
            .map_err(|e| bad(format!("`{url}`: {e}")))?;
        Ok(HttpTarget {
            address,
            tls,
            headers,
            path,
            host,
            bodies: RequestBodies::new(settings, keys),
        })
    }
}

impl Handshake for SendRequest<Full<Bytes>> {
    async fn over<T>(io: T) -> hyper::Result<Self>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
        drive(connection);
        Ok(sender)
    }
}

pub(super) async fn http_send(
    target: &HttpTarget,
    sender: &mut SendRequest<Full<Bytes>>,
    ids: &[u32],
) -> Result<(), RequestError> {
    let transport = |e: hyper::Error| RequestError::Transport(error_chain(&e));
    sender.ready().await.map_err(transport)?;
    let mut request = hyper::Request::post(target.path.clone())
        .header(hyper::header::HOST, target.host.clone())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(target.bodies.body(ids)))
        .map_err(|e| RequestError::Transport(e.to_string()))?;
    for (name, value) in &target.headers {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    let response = sender.send_request(request).await.map_err(transport)?;
    let status = response.status();
    // Read the whole body: the answer is not complete before, and the
    // connection cannot carry the next request until it is.
    let body = response.into_body().collect().await.map_err(transport)?;
    if status.is_success() {
        Ok(())
    } else {
        // Kept as the error's example: the server says what was wrong.
        let body = body.to_bytes();
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
        Err(RequestError::Status(
            status.as_u16(),
            text.trim().to_string(),
        ))
    }
}

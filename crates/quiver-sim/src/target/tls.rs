//! TLS for `https://` targets: [`address_and_tls`] turns a URL and the
//! `--ca-cert` setting into the `host:port` to dial and a [`Tls`] client, which
//! both the HTTP and the gRPC client use to open their connections.

use crate::SimError;
use std::sync::Arc;

/// A TLS client for one server name.
#[derive(Clone)]
pub(super) struct Tls {
    connector: tokio_rustls::TlsConnector,
    name: rustls::pki_types::ServerName<'static>,
}

impl Tls {
    /// A TCP connection to `address` (no Nagle), then the TLS handshake.
    pub(super) async fn connect(
        &self,
        address: &str,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let tcp = tokio::net::TcpStream::connect(address).await?;
        let _ = tcp.set_nodelay(true);
        self.connector
            .connect(self.name.clone(), tcp)
            .await
            .map_err(|e| {
                let rejected = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .is_some_and(|tls| matches!(tls, rustls::Error::InvalidCertificate(_)));
                if rejected {
                    std::io::Error::other(format!("{e} (a server with its own CA needs --ca-cert)"))
                } else {
                    e
                }
            })
    }
}

/// `host:port` of `uri` and, for `https://`, a TLS client offering `alpn`
/// that trusts `access.ca_cert` (else the system's certificates).
pub(super) fn address_and_tls(
    uri: &hyper::Uri,
    url: &str,
    access: &crate::Access,
    alpn: &[u8],
) -> Result<(String, Option<Tls>), SimError> {
    let bad = |setting, problem: String| SimError::Setting { setting, problem };
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            return Err(bad(
                "--url",
                format!("`{url}`: use an http:// or https:// URL"),
            ));
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| bad("--url", format!("`{url}` has no host")))?;
    let default_port = if https { 443 } else { 80 };
    let address = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(default_port)
    );
    if !https {
        if access.ca_cert.is_some() {
            return Err(bad(
                "--ca-cert",
                format!("`{url}` is not https://, so no certificate is checked"),
            ));
        }
        return Ok((address, None));
    }
    let mut roots = rustls::RootCertStore::empty();
    match &access.ca_cert {
        Some(file) => {
            let pem = std::fs::read(file)
                .map_err(|e| bad("--ca-cert", format!("cannot read {}: {e}", file.display())))?;
            use rustls::pki_types::pem::PemObject;
            let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad("--ca-cert", format!("{} is not PEM: {e}", file.display())))?;
            if certs.is_empty() {
                return Err(bad(
                    "--ca-cert",
                    format!("{} holds no certificate", file.display()),
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| bad("--ca-cert", format!("{}: {e}", file.display())))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    // Two crypto providers are compiled into this workspace: name one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("--url", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = rustls::pki_types::ServerName::try_from(authority.host().to_string())
        .map_err(|e| bad("--url", format!("`{url}`: {e}")))?;
    Ok((
        address,
        Some(Tls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            name,
        }),
    ))
}

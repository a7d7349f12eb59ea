//! From a [`CqlStoreConfig`] to a driver session: TLS, login, and the
//! execution profiles every statement runs with.
//!
//! Four profiles, so that each statement's consistency, timeout and retry
//! behaviour is chosen in one place. All route token-aware (a request goes
//! straight to a replica of its partition) and, with `local_datacenter`,
//! never leave that datacenter.
//!
//! - `read`: the server's reads, at `read_consistency`; the driver's default
//!   retry policy (one retry of an idempotent read on another node).
//! - `write` and `write_read`: a job's writes at `write_consistency`, and its
//!   reads of stored event times at the same level, so that with quorum writes
//!   the counts see every acknowledged write. The driver does not retry
//!   these: the store retries them itself with backoff and counts retries.
//! - `schema`: DDL and `system_schema` reads, with a longer timeout, since a
//!   schema change waits for every node to agree.

use crate::config::{Consistency, CqlStoreConfig, TlsConfig};
use crate::error::CqlError;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use scylla::client::execution_profile::{ExecutionProfile, ExecutionProfileHandle};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::policies::retry::{DefaultRetryPolicy, FallthroughRetryPolicy, RetryPolicy};
use scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// DDL waits for schema agreement across the cluster, which takes longer
/// than a read; a short `request_timeout` must not fail `quiver apply`.
const MIN_SCHEMA_TIMEOUT: Duration = Duration::from_secs(30);

/// The execution profiles of [the module docs](self).
#[derive(Clone)]
pub(crate) struct Profiles {
    pub(crate) read: ExecutionProfileHandle,
    pub(crate) write: ExecutionProfileHandle,
    pub(crate) write_read: ExecutionProfileHandle,
    pub(crate) schema: ExecutionProfileHandle,
}

/// A connected session and its profiles.
pub(crate) struct Connection {
    pub(crate) session: Session,
    pub(crate) profiles: Profiles,
}

/// `cassandra at host:port, host:port`: how errors name the store.
pub(crate) fn store_name(config: &CqlStoreConfig) -> String {
    format!("cassandra at {}", config.contact_points.join(", "))
}

/// Opens a session to the cluster of `config`, only fetching metadata of `keyspace`.
pub(crate) async fn connect(
    config: &CqlStoreConfig,
    keyspace: &str,
    store: &str,
) -> Result<Connection, CqlError> {
    let profiles = profiles(config);
    let mut builder = SessionBuilder::new()
        .known_nodes(&config.contact_points)
        .connection_timeout(config.connect_timeout)
        .default_execution_profile_handle(profiles.read.clone())
        // Token-aware routing needs the keyspace's replication; the rest
        // of the cluster's schema is none of the store's business.
        .keyspaces_to_fetch([keyspace])
        // Client-side timestamps, increasing within the process: of two
        // writes of the same row (an equal event time), the later one wins
        // even when they reach different coordinators.
        .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()))
        .schema_agreement_timeout(config.request_timeout.max(MIN_SCHEMA_TIMEOUT));
    if let Some(tls) = &config.tls {
        builder = builder.tls_context(Some(tls_config(tls)?));
    }
    if let Some(credentials) = config.credentials()? {
        builder = builder.user(credentials.username, credentials.password);
    }
    let session = builder
        .build()
        .await
        .map_err(|e| CqlError::from_driver(store, "connecting".to_string(), e))?;
    if let Some(datacenter) = &config.local_datacenter {
        check_datacenter(&session, datacenter)?;
    }
    Ok(Connection { session, profiles })
}

fn profiles(config: &CqlStoreConfig) -> Profiles {
    let mut routing = DefaultPolicy::builder()
        .token_aware(true)
        .permit_dc_failover(false);
    if let Some(datacenter) = &config.local_datacenter {
        routing = routing.prefer_datacenter(datacenter.clone());
    }
    let routing = routing.build();
    let profile = |consistency: Consistency, timeout: Duration, retry: Arc<dyn RetryPolicy>| {
        ExecutionProfile::builder()
            .consistency(consistency.to_driver())
            .request_timeout(Some(timeout))
            .load_balancing_policy(routing.clone())
            .retry_policy(retry)
            .build()
            .into_handle()
    };
    let driver_retries: Arc<dyn RetryPolicy> = Arc::new(DefaultRetryPolicy::new());
    let store_retries: Arc<dyn RetryPolicy> = Arc::new(FallthroughRetryPolicy::new());
    let timeout = config.request_timeout;
    Profiles {
        read: profile(config.read_consistency, timeout, driver_retries.clone()),
        write: profile(config.write_consistency, timeout, store_retries.clone()),
        write_read: profile(
            config.write_consistency.for_reading(),
            timeout,
            store_retries,
        ),
        schema: profile(
            Consistency::LocalOne,
            timeout.max(MIN_SCHEMA_TIMEOUT),
            driver_retries,
        ),
    }
}

/// A misspelt datacenter would route every request nowhere; say so at open.
fn check_datacenter(session: &Session, datacenter: &str) -> Result<(), CqlError> {
    let state = session.get_cluster_state();
    let mut known: Vec<&str> = state
        .get_nodes_info()
        .iter()
        .filter_map(|node| node.datacenter.as_deref())
        .collect();
    if known.contains(&datacenter) {
        return Ok(());
    }
    known.sort_unstable();
    known.dedup();
    Err(CqlError::Config {
        key: "local_datacenter".to_string(),
        problem: format!(
            "no node of the cluster is in datacenter `{datacenter}`; its datacenters are: {}",
            known.join(", ")
        ),
    })
}

/// The rustls client configuration of `tls`, on the ring provider (the one
/// the rest of Quiver uses).
fn tls_config(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, CqlError> {
    let problem = |key: &str, problem: String| CqlError::Config {
        key: format!("tls.{key}"),
        problem,
    };
    let read_certs = |key: &str, path: &Path| -> Result<Vec<CertificateDer<'static>>, CqlError> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                problem(
                    key,
                    format!("cannot read certificates from {}: {e}", path.display()),
                )
            })?;
        if certs.is_empty() {
            return Err(problem(
                key,
                format!("{} holds no PEM certificate", path.display()),
            ));
        }
        Ok(certs)
    };
    let mut roots = RootCertStore::empty();
    for cert in read_certs("ca_file", &tls.ca_file)? {
        roots.add(cert).map_err(|e| {
            problem(
                "ca_file",
                format!(
                    "{}: not a usable CA certificate: {e}",
                    tls.ca_file.display()
                ),
            )
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| problem("ca_file", e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.verify_hostname {
        verifier
    } else {
        Arc::new(ChainOnly(verifier))
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| problem("ca_file", e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert_file), Some(key_file)) => {
            let certs = read_certs("cert_file", cert_file)?;
            let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
                problem(
                    "key_file",
                    format!("cannot read a private key from {}: {e}", key_file.display()),
                )
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| problem("key_file", e.to_string()))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Verifies a node's certificate chain against the CA but accepts any name:
/// `verify_hostname = false`. The chain is checked before the name, so a
/// name error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

//! A Redis that speaks only TLS, wants a password and a client certificate:
//! the store connects with the settings a deployment would use, and refuses
//! (without hanging) when one of them is wrong.

use crate::support::{RedisServer, chain, free_port};
use quiver_online::{OnlineError, OnlineStore};
use quiver_online_redis::{RedisStore, RedisStoreConfig};
use quiver_test::online_conformance;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// cargo sets this variable for every test process, so it can stand for a
/// secret kept in the environment without the test changing its environment.
const PASSWORD_ENV: &str = "CARGO_PKG_NAME";
const PASSWORD: &str = "quiver-online-redis";

/// A certificate authority and the certificates it signed, as PEM files.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    // Distinct subject names: a certificate whose subject is its issuer's
    // looks self-signed to OpenSSL, which then rejects it.
    let params = |common_name: &str, names: Vec<String>| {
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
    };
    let mut ca_params = params("Quiver test CA", Vec::new());
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let signed = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = params(&names[0], names.clone())
            .signed_by(&key, &ca)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = signed(vec!["localhost".to_string()]);
    let (client_cert, client_key) = signed(vec!["quiver".to_string()]);
    Pki {
        ca: write("ca.pem", ca.pem()),
        server_cert: write("server.pem", server_cert),
        server_key: write("server.key", server_key),
        client_cert: write("client.pem", client_cert),
        client_key: write("client.key", client_key),
        _dir: dir,
    }
}

/// A TLS-only server wanting the password and a client certificate.
fn tls_server(pki: &Pki) -> RedisServer {
    let port = free_port();
    let path = |p: &PathBuf| p.display().to_string();
    RedisServer::start_with(
        port,
        vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            path(&pki.server_cert),
            "--tls-key-file".into(),
            path(&pki.server_key),
            "--tls-ca-cert-file".into(),
            path(&pki.ca),
            "--tls-auth-clients".into(),
            "yes".into(),
            "--requirepass".into(),
            PASSWORD.into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
        ],
    )
}

fn config(server: &RedisServer, pki: &Pki) -> RedisStoreConfig {
    RedisStoreConfig {
        // The certificate names `localhost`, which is what rustls checks.
        url: format!("rediss://localhost:{}", server.port),
        password_env: Some(PASSWORD_ENV.to_string()),
        tls_ca_file: Some(pki.ca.clone()),
        tls_client_cert_file: Some(pki.client_cert.clone()),
        tls_client_key_file: Some(pki.client_key.clone()),
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..RedisStoreConfig::default()
    }
}

#[tokio::test]
async fn tls_with_a_password_and_a_client_certificate_passes_conformance_checks() {
    assert_eq!(std::env::var(PASSWORD_ENV).as_deref(), Ok(PASSWORD));
    let pki = pki();
    let server = tls_server(&pki);
    let store = RedisStore::open(&config(&server, &pki), "tls", HashMap::new()).unwrap();
    assert_eq!(store.address(), format!("localhost:{} (TLS)", server.port));
    store.check().await.unwrap();
    // A few checks of the suite, each under a prefix of its own.
    for check in 0..3 {
        let mut settings = config(&server, &pki);
        settings.key_prefix = Some(format!("check{check}"));
        let store = RedisStore::open(&settings, "tls", HashMap::new()).unwrap();
        match check {
            0 => online_conformance::latest_event_time_wins(&store).await,
            1 => online_conformance::new_layout_replaces_the_view(&store).await,
            _ => online_conformance::every_value_type_round_trips(&store).await,
        }
    }
}

/// Each wrong setting fails within the timeouts, as an error naming the
/// address; a wrong password is Redis's answer, not unavailability.
#[tokio::test]
async fn wrong_tls_or_auth_settings_are_refused_quickly() {
    let pki = pki();
    let server = tls_server(&pki);
    let address = format!("localhost:{}", server.port);
    let limit = Duration::from_secs(3) + Duration::from_millis(500);
    let attempt = |settings: RedisStoreConfig| {
        let address = address.clone();
        async move {
            let store = RedisStore::open(&settings, "tls", HashMap::new()).unwrap();
            let started = Instant::now();
            let error = store.check().await.expect_err("a wrong setting must fail");
            assert!(
                started.elapsed() < limit,
                "took {:?}: {}",
                started.elapsed(),
                chain(&error)
            );
            assert!(chain(&error).contains(&address), "{}", chain(&error));
            error
        }
    };

    let mut wrong_password = config(&server, &pki);
    wrong_password.password_env = None;
    wrong_password.password = Some("not the password".to_string());
    let error = attempt(wrong_password).await;
    assert!(
        matches!(error, OnlineError::Backend { .. }),
        "a wrong password is the server's answer: {error:?}"
    );

    let mut no_password = config(&server, &pki);
    no_password.password_env = None;
    attempt(no_password).await;

    let mut no_client_certificate = config(&server, &pki);
    no_client_certificate.tls_client_cert_file = None;
    no_client_certificate.tls_client_key_file = None;
    attempt(no_client_certificate).await;

    // The server's certificate is signed by a CA this client does not trust.
    let other = self::pki();
    let mut untrusted = config(&server, &pki);
    untrusted.tls_ca_file = Some(other.ca.clone());
    attempt(untrusted).await;

    let mut plain = config(&server, &pki);
    plain.url = format!("redis://localhost:{}", server.port);
    plain.tls_ca_file = None;
    plain.tls_client_cert_file = None;
    plain.tls_client_key_file = None;
    attempt(plain).await;
}

//! Credentials and TLS, each on and off.

use crate::support::*;
use quiver_proto::serving::GetServerInfoRequest;
use quiver_proto::serving::serving_service_client::ServingServiceClient;
use serde_json::json;

fn request_body() -> Vec<u8> {
    json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum"]})
        .to_string()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_valid_credentials_there_is_no_data() {
    let (_repo, definitions) = computed_repo().await;
    let config = quiver_serve::ServeConfig {
        api_keys: vec!["key-1".to_string()],
        bearer_tokens: vec!["token-1".to_string()],
        ..test_config()
    };
    let server = start(&definitions, config).await;
    let body = request_body();
    let post = |headers: &'static [(&'static str, &'static str)]| {
        let body = body.clone();
        async move {
            http(
                server.http,
                "POST",
                "/get-online-features",
                headers,
                Some(&body),
            )
            .await
        }
    };
    for headers in [
        &[][..],
        &[("x-api-key", "key-2")][..],
        &[("x-api-key", "token-1")][..],
        &[("authorization", "Bearer key-1")][..],
        &[("authorization", "Basic token-1")][..],
    ] {
        let response = post(headers).await;
        response.expect_error(401, "unauthorized");
        assert!(!String::from_utf8_lossy(&response.body).contains("results"));
    }
    assert_eq!(post(&[("x-api-key", "key-1")]).await.status, 200);
    assert_eq!(
        post(&[("authorization", "Bearer token-1")]).await.status,
        200
    );
    http(
        server.http,
        "GET",
        "/features/energy_features/MAC000002",
        &[],
        None,
    )
    .await
    .expect_error(401, "unauthorized");
    http(server.http, "GET", "/metrics", &[], None)
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(
        http(server.http, "GET", "/health", &[], None).await.status,
        200,
        "/health is exempt"
    );

    let mut client = server.grpc_client().await;
    let status = client
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    for (name, value) in [("x-api-key", "key-1"), ("authorization", "Bearer token-1")] {
        let mut request = tonic::Request::new(GetServerInfoRequest {});
        request.metadata_mut().insert(name, value.parse().unwrap());
        assert!(client.get_server_info(request).await.is_ok(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_off_no_credentials_are_needed() {
    let (_repo, definitions) = computed_repo().await;
    let server = start(&definitions, test_config()).await;
    let response = http(
        server.http,
        "POST",
        "/get-online-features",
        &[],
        Some(&request_body()),
    )
    .await;
    assert_eq!(response.status, 200);
    let mut client = server.grpc_client().await;
    assert!(
        client
            .get_server_info(GetServerInfoRequest {})
            .await
            .is_ok()
    );
    drop(client);
    server.stop().await.expect("a clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_both_protocols() {
    tls_serves_both(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_both_protocols_on_http_threads() {
    tls_serves_both(2).await;
}

async fn tls_serves_both(http_threads: usize) {
    let (_repo, definitions) = computed_repo().await;
    let cert = TestCert::generate();
    let config = quiver_serve::ServeConfig {
        tls_cert: Some(cert.cert_path()),
        tls_key: Some(cert.key_path()),
        http_threads,
        ..test_config()
    };
    let server = start(&definitions, config).await;

    let tls = cert.connect(server.http, &[b"http/1.1"]).await.unwrap();
    let response = exchange(
        tls,
        "POST",
        "/get-online-features",
        &[],
        Some(&request_body()),
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["results"][1]["values"], json!([2.0]));

    // Plain HTTP to the TLS port gets no answer.
    let plain = tokio::net::TcpStream::connect(server.http).await.unwrap();
    let mut plain = plain;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    plain
        .write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        plain.read_to_end(&mut raw),
    )
    .await;
    assert!(!String::from_utf8_lossy(&raw).contains("200 OK"));

    // gRPC over TLS, through a connector that verifies the test certificate.
    let grpc = server.grpc;
    let cert = std::sync::Arc::new(cert);
    let connector = {
        let cert = cert.clone();
        tower::service_fn(move |_uri: tonic::transport::Uri| {
            let cert = cert.clone();
            async move {
                let stream = cert.connect(grpc, &[b"h2"]).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        })
    };
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://localhost:{}", grpc.port()))
            .unwrap()
            .connect_with_connector(connector)
            .await
            .unwrap();
    let mut client = ServingServiceClient::new(channel);
    let info = client
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap();
    assert_eq!(info.into_inner().version, env!("CARGO_PKG_VERSION"));
    // And plain gRPC to it fails.
    let plain = ServingServiceClient::connect(format!("http://{grpc}")).await;
    match plain {
        Err(_) => {}
        Ok(mut client) => assert!(
            client
                .get_server_info(GetServerInfoRequest {})
                .await
                .is_err()
        ),
    }
}

//! A server error (500, `INTERNAL`) tells the client that the store failed,
//! and nothing of where the store is: its folder goes to the log only.

use crate::support::*;
use quiver_online::{EntityRow, FeatureRow, OnlineError, OnlineStore, ViewLayout, WriteOutcome};
use quiver_serve::Server;
use serde_json::json;
use std::sync::Arc;

/// Where the failing store says it is.
const STORE_PATH: &str = "/srv/quiver-secret-location/data/online";

/// An online store whose every read fails as a broken embedded store's
/// does: with its folder in the message.
struct BrokenStore;

fn failure() -> OnlineError {
    OnlineError::Io {
        path: STORE_PATH.to_string(),
        source: std::io::Error::other("Input/output error"),
    }
}

#[async_trait::async_trait]
impl OnlineStore for BrokenStore {
    async fn write(
        &self,
        _layout: &ViewLayout,
        _rows: &[EntityRow],
        _offline_version: Option<u64>,
    ) -> Result<WriteOutcome, OnlineError> {
        Err(failure())
    }

    async fn read(
        &self,
        _view: &str,
        _keys: &[&str],
    ) -> Result<Vec<Option<FeatureRow>>, OnlineError> {
        Err(failure())
    }

    async fn layout(&self, _view: &str) -> Result<Option<Arc<ViewLayout>>, OnlineError> {
        Err(failure())
    }

    async fn offline_version(&self, _view: &str) -> Result<Option<u64>, OnlineError> {
        Err(failure())
    }

    async fn delete(&self, _view: &str, _keys: &[&str]) -> Result<(), OnlineError> {
        Err(failure())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_does_not_name_the_stores_folder() {
    let (_repo, definitions) = computed_repo().await;
    let server = Server::bind(&definitions, Arc::new(BrokenStore), test_config())
        .await
        .unwrap();
    let (http_addr, grpc_addr) = (server.http_addr(), server.grpc_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let request =
        json!({"entities": {"id": ["MAC000002"]}, "features": ["energy_features:energy_sum"]});
    let mut messages = vec![
        post_features(http_addr, &request)
            .await
            .expect_error(500, "store_error"),
        http(
            http_addr,
            "GET",
            "/features/energy_features/MAC000002",
            &[],
            None,
        )
        .await
        .expect_error(500, "store_error"),
    ];
    let mut client = quiver_proto::serving::serving_service_client::ServingServiceClient::connect(
        format!("http://{grpc_addr}"),
    )
    .await
    .unwrap();
    let status = client
        .get_online_features(quiver_proto::serving::GetOnlineFeaturesRequest {
            kind: Some(
                quiver_proto::serving::get_online_features_request::Kind::FeatureService(
                    "energy_model_v1".to_string(),
                ),
            ),
            entities: [(
                "id".to_string(),
                quiver_proto::serving::RepeatedValue {
                    val: vec![quiver_proto::serving::Value {
                        val: Some(quiver_proto::serving::value::Val::StringVal(
                            "MAC000002".to_string(),
                        )),
                    }],
                },
            )]
            .into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Internal);
    assert_eq!(
        status.metadata().get("quiver-error-code").unwrap(),
        "store_error"
    );
    messages.push(status.message().to_string());
    for message in messages {
        assert!(
            !message.contains("/srv") && !message.contains("quiver-secret-location"),
            "{message}"
        );
        assert!(message.contains("online store failed"), "{message}");
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_built_in_code_are_checked_at_bind_not_panicked_on() {
    let (_repo, definitions) = computed_repo().await;
    let mut config = test_config();
    config.max_concurrent_requests = usize::MAX;
    let Err(error) = Server::bind(&definitions, Arc::new(BrokenStore), config).await else {
        panic!("a server bound with max_concurrent_requests = usize::MAX");
    };
    // The message names the level (settings); the cause says which one.
    let chain = quiver_online::error_chain(&error);
    assert!(
        chain.starts_with("invalid server settings: ")
            && chain.contains("max_concurrent_requests must be between 1"),
        "{chain}"
    );
}

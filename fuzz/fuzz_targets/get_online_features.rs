//! Fuzzes `POST /get-online-features` bodies through the server's own path:
//! JSON parsing, feature and service resolution, id checks, the store read
//! and the JSON answer. The oracle: nothing panics, every failure is a client
//! error (never the server's), and every success is valid JSON.
//!
//! The store holds real rows of the energy template's view, written through
//! the embedded store, so resolution and reads go all the way down.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quiver_online::{EntityRow, FeatureRow, FeatureValue, ViewLayout};
use quiver_serve::{ErrorClass, ServeConfig, Server};
use std::sync::LazyLock;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    server: Server,
    _dir: tempfile::TempDir,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    quiver_core::scaffold::init_energy_repo(dir.path()).unwrap();
    let repo = quiver_core::FeatureRepo::load(dir.path()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime
        .block_on(quiver_backends::open_online_store(&repo))
        .unwrap();
    let view = repo.feature_view("energy_features").unwrap();
    let layout = ViewLayout::of(view, repo.entity_of(view));
    let rows: Vec<EntityRow> = (2..6)
        .map(|i| EntityRow {
            key: format!("MAC{i:06}"),
            row: FeatureRow {
                event_time_micros: 1_393_545_600_000_000,
                values: layout
                    .features
                    .iter()
                    .enumerate()
                    .map(|(j, (_, ty))| match (j + i) % 5 {
                        0 => FeatureValue::Null,
                        _ if *ty == quiver_core::ValueType::Int64 => FeatureValue::Int64(j as i64),
                        4 => FeatureValue::Float64(f64::NAN),
                        _ => FeatureValue::Float64(j as f64 * 0.5),
                    })
                    .collect(),
            },
        })
        .collect();
    runtime.block_on(store.write(&layout, &rows, None)).unwrap();
    let config = ServeConfig {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        max_ids_per_request: 50,
        ..ServeConfig::default()
    };
    let server = runtime
        .block_on(Server::bind(&repo, store, config))
        .unwrap();
    Fixture {
        runtime,
        server,
        _dir: dir,
    }
});

fuzz_target!(|body: &[u8]| {
    let fixture = &*FIXTURE;
    match fixture.runtime.block_on(fixture.server.answer_json(body)) {
        Ok(json) => {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(&json) {
                panic!(
                    "invalid JSON answer ({e}): {}",
                    String::from_utf8_lossy(&json)
                );
            }
        }
        Err(error) => assert_ne!(
            error.class(),
            ErrorClass::Internal,
            "a request made the server fail: {error}"
        ),
    }
});

//! `quiver serve`: the online feature server, HTTP/JSON (axum) and gRPC
//! (tonic) over any [`OnlineStore`](quiver_online::OnlineStore).
//!
//! Read [`Server`] first: `Server::bind` resolves the repository's
//! definitions once (views, feature services — the `catalog`) and binds both
//! listeners; `Server::run` serves until shutdown. Both transports parse
//! their request into one [`FeatureRequest`] and answer it with the same
//! core (`lookup`), which reads every view of a request concurrently in one
//! consistent snapshot per view (`OnlineStore::read_with_layout`), so HTTP
//! and gRPC can never disagree and a job rewriting rows or redefining a view
//! while the server runs is picked up without a restart.
//!
//! Errors are [`ServeError`]s; [`ErrorClass`] is the one place an error
//! becomes an HTTP status or gRPC code. The JSON contract is in
//! `docs/SERVING.md` and at `GET /openapi.json`.
//!
//! # Example
//!
//! A one-feature repository, a row in its embedded store, and a server bound
//! to free ports answering a Feast-shaped request (here without the network,
//! through [`Server::answer_json`]; [`Server::run`] serves the same over HTTP
//! and gRPC):
//!
//! ```
//! use quiver_core::FeatureRepo;
//! use quiver_online::{EntityRow, FeatureRow, FeatureValue, ViewLayout};
//! use quiver_serve::{ServeConfig, Server};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! std::fs::write(
//!     dir.path().join("quiver.toml"),
//!     r#"
//! [project]
//! name = "example"
//! [entities.household]
//! join_key = "id"
//! [sources.daily]
//! format = "csv"
//! location = "data/daily.csv"
//! [sources.daily.schema]
//! id = "string"
//! day = "date"
//! energy_sum = "float64"
//! [feature_views.energy]
//! source = "daily"
//! entity = "household"
//! event_time = "day"
//! sql = "SELECT id, day, energy_sum FROM daily"
//! [feature_views.energy.features]
//! energy_sum = "float64"
//! "#,
//! )?;
//! let repo = FeatureRepo::load(dir.path())?;
//! let store = quiver_backends::open_online_store(&repo).await?;
//! let view = repo.feature_view("energy")?;
//! let layout = ViewLayout::of(view, repo.entity_of(view));
//! let row = FeatureRow { event_time_micros: 0, values: vec![FeatureValue::Float64(7.5)] };
//! store.write(&layout, &[EntityRow { key: "MAC000002".into(), row }], None).await?;
//!
//! let config = ServeConfig {
//!     http_addr: "127.0.0.1:0".parse()?,
//!     grpc_addr: "127.0.0.1:0".parse()?,
//!     ..ServeConfig::default()
//! };
//! let server = Server::bind(&repo, store, config).await?;
//! assert_ne!(server.http_addr().port(), 0);
//!
//! let body = br#"{"entities": {"id": ["MAC000002"]}, "features": ["energy:energy_sum"]}"#;
//! let answer: serde_json::Value = serde_json::from_slice(&server.answer_json(body).await?)?;
//! assert_eq!(answer["results"][1]["values"][0], 7.5);
//! assert_eq!(answer["results"][1]["statuses"][0], "PRESENT");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod auth;
mod catalog;
mod config;
mod error;
mod grpc;
mod grpc_answers;
mod grpc_listener;
mod handover;
mod http;
mod json;
mod listener;
mod lookup;
mod metrics;
mod request;
mod server;
mod state;
mod table_versions;
mod write_batch;

pub use config::{ConfigOverrides, LogFormat, ServeConfig};
pub use error::{ErrorClass, ServeError, StartupError};
pub use http::OPENAPI;
pub use request::{EntityId, FeatureRequest, FeatureSelection, RequestLimits};
pub use server::{RequestsInFlight, Server, shutdown_signal};
pub use table_versions::TableVersionSource;

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
#![deny(missing_docs)]

mod auth;
mod catalog;
mod config;
mod error;
mod grpc;
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

pub use config::{ConfigOverrides, LogFormat, ServeConfig};
pub use error::{ErrorClass, ServeError, StartupError};
pub use http::OPENAPI;
pub use request::{EntityId, FeatureRequest, FeatureSelection, RequestLimits};
pub use server::{RequestsInFlight, Server, shutdown_signal};
pub use table_versions::TableVersionSource;

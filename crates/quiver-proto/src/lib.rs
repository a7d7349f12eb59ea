//! The gRPC contract of `quiver serve`, generated from
//! `proto/quiver/serving/v1/serving.proto`: message types, the server trait the
//! serving crate implements and the client the load simulator drives.
#![allow(missing_docs, clippy::all)]

/// `quiver.serving.v1`: the serving API, shaped like Feast's ServingService.
pub mod serving {
    tonic::include_proto!("quiver.serving.v1");
}

pub use prost_types::Timestamp;

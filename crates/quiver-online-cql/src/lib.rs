//! The online store on Apache Cassandra, ScyllaDB and Amazon Keyspaces.
#![deny(missing_docs)]

mod codec;
mod config;
mod connect;
mod error;
pub mod schema;
mod store;

pub use config::{Consistency, CqlStoreConfig, Replication, ReplicationValue, Secret, TlsConfig};
pub use error::CqlError;
pub use store::CqlStore;

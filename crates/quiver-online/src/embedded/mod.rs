//! The embedded online store: LMDB on local disk, no server to run.
//!
//! Chosen by measurement over redb, fjall and SQLite (docs/DESIGN.md): LMDB
//! reads are memory-mapped lookups with no copying on the way in, and — the
//! deciding property — other *processes* can read while a job writes, each
//! reader seeing the last committed state. A job killed mid-write leaves the
//! previous state whole, because LMDB commits by switching a single root page.
//!
//! Read [`EmbeddedStore`] first.

mod config;
mod store;

pub use config::EmbeddedStoreConfig;
pub use store::EmbeddedStore;

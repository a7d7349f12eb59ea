//! Shared test fixtures and the conformance suite every online backend runs.
//!
//! Read [`online_conformance`] first: a backend is done when its
//! `tests/it/conformance.rs` invokes [`online_store_conformance!`] and passes.
#![deny(missing_docs)]

pub mod online_conformance;
pub mod repo;
pub mod servers;

pub use repo::TestRepo;

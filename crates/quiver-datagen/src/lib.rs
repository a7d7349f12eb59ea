//! Deterministic synthetic datasets for demos, tests and benchmarks.
//!
//! Read [`energy`] first: a stand-in for the smart-meter dataset of the
//! reference design (daily statistics of half-hourly readings per household).
//! Everything is generated from a seed with a PCG generator whose output is
//! fixed by its specification, so the same seed gives the same bytes.
#![deny(missing_docs)]

pub mod energy;

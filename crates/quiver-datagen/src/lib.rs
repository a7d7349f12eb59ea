//! Deterministic synthetic datasets for demos, tests and benchmarks.
//!
//! Read [`energy`] first: a stand-in for the smart-meter dataset of the
//! reference design (daily statistics of half-hourly readings per household).
//! Everything is generated from a seed with a PCG generator whose output is
//! fixed by its specification, so the same seed gives the same bytes.
//!
//! # Example
//!
//! ```
//! use quiver_datagen::energy::{self, EnergyConfig};
//!
//! let config = EnergyConfig { households: 3, ..EnergyConfig::default() };
//! let (mut a, mut b) = (Vec::new(), Vec::new());
//! let stats = energy::write_csv(&config, &mut a, |_| {})?;
//! energy::write_csv(&config, &mut b, |_| {})?;
//! assert_eq!(a, b, "the same seed gives the same bytes");
//!
//! let text = String::from_utf8(a)?;
//! assert!(text.starts_with(energy::HEADER));
//! assert_eq!(text.lines().count(), 1 + stats.rows);
//! assert!(text.contains("\nMAC000004,")); // the third household
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod energy;

//! The `quiver` binary as a user runs it.

#[cfg(feature = "integration")]
mod backends;
mod commands;
mod error_messages;
mod huge_settings;
mod interrupted_jobs;
mod offline_job;
mod online_map;
#[cfg(feature = "integration")]
mod s3;
mod serve;
mod simulate;
#[cfg(feature = "integration")]
mod store_faults;
mod support;

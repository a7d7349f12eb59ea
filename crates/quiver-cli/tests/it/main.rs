//! The `quiver` binary as a user runs it.

mod commands;
mod interrupted_jobs;
mod serve;
mod simulate;
mod support;

//! Integration tests of the embedded online store.

mod conformance;
mod processes;

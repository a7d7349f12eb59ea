//! `quiver-sim` against real targets over real sockets: small HTTP and gRPC
//! servers in `servers` whose latency the tests know.

mod correction;
mod errors;
mod percentiles;
mod png_check;
mod rate;
mod reports;
mod servers;
mod support;

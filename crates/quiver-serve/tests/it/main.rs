//! quiver-serve integration tests: a real repository, the real feature job,
//! the server on 127.0.0.1 and clients over real sockets.

mod auth_tls;
mod columnar;
mod connections;
mod contract;
mod grpc;
mod hot_data;
mod operations;
mod parsing;
mod server_errors;
mod support;
mod values;

//! The shared OnlineStore conformance suite against the plain node.

use crate::support::{fresh_store, plain_config};

quiver_test::online_store_conformance!(fresh_store(plain_config()));

//! The online store on Redis: Quiver's [`OnlineStore`] for a deployment where
//! several servers share one store, or the store must outlive any one host.
//!
//! Read [`RedisStore`] first; [`RedisStoreConfig`] is its `[online_store]`
//! table. It passes the same conformance suite as the embedded store
//! (`quiver_test::online_conformance`).
//!
//! # Configuration
//!
//! ```toml
//! [online_store]
//! type = "redis"
//! url = "rediss://redis.internal:6380"   # redis:// for plain TCP
//! username = "quiver"                    # ACL user; optional
//! password_env = "QUIVER_REDIS_PASSWORD" # or `password = "..."`
//! tls_ca_file = "certs/redis-ca.pem"     # optional; else the system's roots
//! # tls_client_cert_file / tls_client_key_file for servers that want one
//! connect_timeout = "1s"                 # one connection attempt
//! request_timeout = "2s"                 # one round trip
//! # key_prefix = "energy"                # default: the project name
//! # write_chunk_rows = 1000              # rows per round trip when writing
//! ```
//!
//! A stopped or unreachable Redis makes each operation fail with
//! [`OnlineError::Unavailable`] (a server answers 503) after about
//! `connect_timeout + request_timeout` at most, and at once when the
//! connection is refused; the store reconnects by itself on the next
//! operation after Redis is back.
//!
//! # Key layout
//!
//! ```text
//! <prefix>:<view>:meta                  hash  generation, next_generation, layout (JSON), layout_digest, offline_version
//! <prefix>:<view>:<generation>:{<id>}   string  the row: quiver_online::codec bytes
//! ```
//!
//! * **One packed value per entity and view**, the embedded store's
//!   [`codec`](quiver_online::codec) bytes (209 bytes for 22 floats), rather
//!   than a hash with a field per feature. Chosen by measurement
//!   (`benches/interleaved.rs` and `benches/layout.rs`, raw runs in
//!   `benches/runs/`): reading 100 ids, one `MGET` of packed rows took
//!   95 µs where pipelined `HMGET`s of hashes took 0.8–1 ms, and for one id
//!   11 µs against 18 µs. A packed row is one bulk string to send and decode
//!   where a hash is a value (and a name) per feature, and the
//!   latest-event-time check reads the event time from fixed bytes of it.
//! * **The layout generation is part of the row key.** A write with a new
//!   layout takes a fresh generation (`HINCRBY next_generation`), writes its
//!   rows under it, and only then makes it current, together with the layout,
//!   in one script. Reads name the keys of the current generation, so rows of
//!   an old layout are never read under a new one (guarantee 5) without
//!   deleting or scanning anything on the way. Old generations are unlinked
//!   after the switch by a `SCAN` on the (rare) write that changes a layout.
//! * **Consistent reads without a transaction.** A read sends, in one round
//!   trip, `MGET` of the row keys of the generation it believes current and
//!   `HMGET` of the current generation and layout digest. If they are the
//!   ones it read under, every row belongs to the layout returned with them;
//!   if not (the view was just redefined), it reloads the layout and reads
//!   again. The digest (SHA-1 of the layout) matters when Redis lost its data
//!   and generations started again at 1. The parsed layout is cached, so a
//!   read is one round trip.
//! * **Hash tags: only the entity key, deliberately.** Redis Cluster places a
//!   key by the text between its first `{` and the next `}`. Row keys tag the
//!   entity id alone, so one id's rows of every view and generation share a
//!   slot (a feature service's lookup of one id across views could be one
//!   single-slot command), while different ids spread over the cluster.
//!   Nothing about one entity and view needs a multi-key command: its row is
//!   one key, the commit is a script on the meta hash alone, and a read's
//!   rows and its generation check are separate commands — which is why
//!   consistency comes from the generation rather than from `MULTI` or a Lua
//!   read, which would have to put a whole view in one slot. Prefix and view
//!   are escaped so they cannot add a tag (see `codec`). Only batching spans
//!   slots, and a cluster mode would split it: a read's `MGET` by slot (as
//!   cluster clients do), a write's 100-row script calls into one per row.
//! * **Latest event time wins on the server**: rows are written by a Lua
//!   script that compares each stored row's event time with the new one and
//!   writes if the new one is the same or later, so concurrent writers and
//!   retries cannot roll a row back, and writes are idempotent. A write sends
//!   `write_chunk_rows` rows per round trip, 100 per script call: 1.4 times
//!   the rows per second of a call per row (about 340,000 rows/s against
//!   250,000 on the 2-vCPU dev machine), each call short enough not to hold
//!   reads up.
//! * **TTL**: rows of a view with a TTL are written with `PX`, so a row not
//!   rewritten within the TTL disappears (and is reported as not found); the
//!   meta hash never expires.
//!
//! # Example
//!
//! The settings of a repository's `[online_store]` table (besides its
//! `type`), read without a server; an unknown key is refused.
//!
//! ```
//! use quiver_online_redis::RedisStoreConfig;
//! use std::time::Duration;
//!
//! let config: RedisStoreConfig = toml::from_str(
//!     r#"
//!     url = "rediss://redis.internal:6380/0"
//!     password_env = "REDIS_PASSWORD"
//!     request_timeout = "500ms"
//!     "#,
//! )?;
//! assert_eq!(config.url, "rediss://redis.internal:6380/0");
//! assert_eq!(config.request_timeout, Duration::from_millis(500));
//! assert!(toml::from_str::<RedisStoreConfig>(r#"urll = "redis://127.0.0.1""#).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod codec;
mod config;
mod error;
mod store;

pub use config::RedisStoreConfig;
pub use error::Error;
pub use store::RedisStore;

#[doc(no_inline)]
pub use quiver_online::{OnlineError, OnlineStore};

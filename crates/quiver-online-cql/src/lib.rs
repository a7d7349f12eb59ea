//! The online store on Apache Cassandra, ScyllaDB and Amazon Keyspaces,
//! through the `scylla` driver (CQL native protocol).
//!
//! Read [`CqlStore`] first: it implements [`quiver_online::OnlineStore`] and
//! passes the shared conformance suite. [`CqlStoreConfig`] is the
//! `[online_store]` table of `quiver.toml` with `type = "cassandra"`; an
//! opener reads it with [`CqlStoreConfig::from_toml`], resolves its file
//! paths with [`CqlStoreConfig::with_base_dir`] (the repository folder) and
//! calls [`CqlStore::open`] with the project name (the default keyspace) and
//! the views' TTLs.
//!
//! # Data model, and why
//!
//! One table per feature view, with a typed column per feature (see
//! [`schema`] for the DDL and the CQL type of each Quiver type):
//!
//! ```text
//! PRIMARY KEY ((entity_key), layout_generation, event_time_micros)
//! WITH CLUSTERING ORDER BY (layout_generation DESC, event_time_micros DESC)
//! ```
//!
//! - **Latest event wins by construction.** Every event time is its own
//!   clustering row, and a read is `WHERE entity_key = ? AND
//!   layout_generation = ? LIMIT 1`: a single-partition read of the newest
//!   row. An older row written later can never shadow a newer one, whatever
//!   the order writes arrive in, from however many writers.
//! - **An equal event time replaces** (a corrected rerun): it is the same
//!   clustering row, so the insert is an upsert and the later write wins.
//!   Write timestamps are the driver's, monotonic per process; the event
//!   time is deliberately *not* used as `USING TIMESTAMP`, because Cassandra
//!   resolves equal timestamps by comparing values, not by write order.
//! - **Partitions stay small.** A write reads the key's (generation, event
//!   time) pairs first, then writes its row in one single-partition unlogged
//!   batch with range deletes of the key's older event times
//!   (`event_time_micros < ?`) and of generations older than the previous one
//!   (`layout_generation < ?`), each only when such rows exist. That read
//!   also makes [`WriteOutcome`](quiver_online::WriteOutcome) exact: a row
//!   older than the stored one is skipped and counted, and within one call
//!   rows count as if written in order, only the latest per key being sent.
//!   A null feature is left *unset* on a new row (no tombstone) and written
//!   as null over an existing row of the same event time (so a rerun can
//!   clear a value).
//! - **Times are `bigint` microseconds**, not CQL `timestamp`, which holds
//!   milliseconds: Quiver's event times and `timestamp` features are
//!   microseconds and must come back exactly.
//! - **A new layout replaces the view** (guarantee 5) through generations.
//!   `quiver_views (view_name text PRIMARY KEY, layout text, layout_generation
//!   int, pending_generation int, offline_version bigint)` records the layout
//!   (JSON) each view is read under. A write with another layout adds any
//!   new columns, takes a fresh generation (`pending_generation`, never
//!   reused, so the rows of a redefinition that died half way are never
//!   read under a later layout), writes its rows under it, and only then
//!   records layout, generation and the write's offline version (null if it
//!   has none: the old rows' version went with them) in one row update. Both the
//!   claim and the record are lightweight transactions conditional on
//!   `pending_generation`, so two jobs on two hosts redefining a view at
//!   once never share a generation: the later claim wins, and the earlier
//!   writer fails with "redefined by another writer" instead of publishing
//!   over it. Readers ask
//!   for exactly the generation of the layout they hold, so rows and layout
//!   always belong together; rows of older generations are simply absent.
//!   The previous generation's rows stay until the key is written under a
//!   later one, so a server that has not yet noticed a redefinition keeps
//!   serving the previous definition, whole.
//! - **Reads cost one statement per id.** Each process caches the view's
//!   layout, generation and prepared `SELECT`, and rereads them in the
//!   background every `layout_refresh` (default 1 s), so no request waits
//!   for `quiver_views`; another process serves a redefined view's previous
//!   definition for at most twice that. The ids of a batch are read as
//!   concurrent single-partition reads, each routed token-aware straight to
//!   a replica, answers in the order asked. A multi-partition `IN` puts a
//!   whole batch on one coordinator, which must wait for its slowest
//!   partition and fans out again itself; `docs/DESIGN.md` has the
//!   measurements of both.
//! - **A view's `ttl`** becomes `USING TTL` on every row: Cassandra removes
//!   a row that long after it was *written*. (The server judges a row
//!   outside max age by its event time, so a row can be reported
//!   `OUTSIDE_MAX_AGE` before Cassandra removes it; after that it is not
//!   found.)
//!
//! What the trait calls atomic: each key's row (one partition) is written
//! atomically, and a layout change takes effect atomically; a whole `write`
//! is not, as Cassandra has no multi-partition transactions. A job that
//! fails part way leaves some keys newer than others; rerunning it is
//! idempotent and completes them.
//!
//! Nothing assumes one node: no `ALL`, every schema change waits for schema
//! agreement, and reads and writes use the configured consistency levels
//! (`LOCAL_ONE` and `LOCAL_QUORUM` by default). Writes go out at most
//! `write_concurrency` at a time and are retried after timeouts and
//! overload (Keyspaces' throttling) with exponential backoff and jitter, up
//! to `max_retries`; [`CqlStore::retries_so_far`] counts the retries.
//! [`check`](quiver_online::OnlineStore::check) runs `SELECT release_version
//! FROM system.local`; a cluster that cannot be reached or does not answer
//! within `request_timeout` is
//! [`Unavailable`](quiver_online::OnlineError::Unavailable), and the driver
//! reconnects by itself when nodes come back.
//!
//! # Configuration
//!
//! A production Cassandra or ScyllaDB cluster:
//!
//! ```toml
//! [online_store]
//! type = "cassandra"
//! contact_points = ["10.0.1.10:9042", "10.0.1.11:9042", "10.0.1.12:9042"]
//! keyspace = "quiver_energy"         # default: the project name
//! local_datacenter = "dc1"
//! read_consistency = "LOCAL_ONE"     # the default
//! write_consistency = "LOCAL_QUORUM" # the default
//! request_timeout = "2s"
//! replication = { class = "NetworkTopologyStrategy", dc1 = 3 }
//! username = "quiver"
//! password_env = "QUIVER_CASSANDRA_PASSWORD"
//! tls = { ca_file = "certs/cluster-ca.pem" }
//! ```
//!
//! Without `replication` a created keyspace gets `SimpleStrategy` with one
//! replica: right for a single development node only.
//!
//! Amazon Keyspaces: port 9142, TLS required with the Amazon root
//! certificates (the bundle the Keyspaces documentation links), a
//! service-specific credential of an IAM user as username and password,
//! `LOCAL_QUORUM` writes (the only write level Keyspaces accepts), and the
//! keyspace created beforehand:
//!
//! ```toml
//! [online_store]
//! type = "cassandra"
//! contact_points = ["cassandra.eu-west-1.amazonaws.com:9142"]
//! keyspace = "quiver_energy"
//! local_datacenter = "eu-west-1"
//! read_consistency = "LOCAL_ONE"
//! write_consistency = "LOCAL_QUORUM"
//! create_keyspace = false
//! username = "quiver-at-123456789012"   # service-specific credential
//! password_env = "KEYSPACES_PASSWORD"
//! # The driver checks certificates against node IP addresses, which
//! # Keyspaces' certificates do not name; the chain is still verified.
//! tls = { ca_file = "certs/keyspaces-bundle.pem", verify_hostname = false }
//! ```
//!
//! What the Keyspaces documentation says matters here (the store is tested
//! against Apache Cassandra 5.0, plain and as a TLS-and-password stand-in
//! for Keyspaces, not against the service itself):
//!
//! - DDL is asynchronous: run `quiver apply` and let the tables become
//!   active before the first job.
//! - A table's TTL must be enabled on it (`CUSTOM_PROPERTIES = {'ttl':
//!   {'status': 'enabled'}}`) before views with a `ttl` can be written.
//! - Unlogged batches hold up to 30 statements (the store's hold at most
//!   3), and range deletes are supported.
//! - Client-side timestamps may be on or off for the tables: the data
//!   model needs only that a later write of the same row wins.
//!
//! **AWS SigV4 authentication is not supported.** AWS publishes SigV4
//! authentication plugins for the Java, Python, Node.js and Go drivers; the
//! `scylla` crate has none, so Quiver has none. Service-specific credentials
//! (username and password above) work. A SigV4 login could be added as a
//! `scylla::authentication::AuthenticatorProvider` that signs the server's
//! nonce with credentials from the AWS chain, at the cost of the AWS SDK's
//! dependencies.
//!
//! # TLS and dependencies
//!
//! TLS uses rustls (the driver's `rustls-023` feature) with the ring
//! provider, as the rest of Quiver. That feature enables rustls's default
//! features, adding `logging` and `prefer-post-quantum` to the rustls the
//! workspace shares. A workspace-wide build changes anyway once this crate
//! is in it, because `scylla-cql` also turns on default features of
//! `lz4_flex` (which Arrow uses) and `yoke`; the OpenSSL backend would
//! avoid only the rustls part, for a C library dependency and a second TLS
//! stack.
//!
//! # Example
//!
//! The settings of a repository's `[online_store]` table (besides its
//! `type`), checked without a cluster: a key the store does not know is
//! refused, named.
//!
//! ```
//! use quiver_online_cql::{CqlError, CqlStoreConfig};
//!
//! let settings: toml::Table = toml::from_str(
//!     r#"
//!     contact_points = ["cassandra.eu-west-1.amazonaws.com:9142"]
//!     local_datacenter = "eu-west-1"
//!     "#,
//! )?;
//! let config = CqlStoreConfig::from_toml(settings)?;
//! assert_eq!(config.contact_points, ["cassandra.eu-west-1.amazonaws.com:9142"]);
//! assert_eq!(config.keyspace, None); // the project's name
//!
//! let typo: toml::Table = toml::from_str(r#"contact_point = ["127.0.0.1:9042"]"#)?;
//! let error = CqlStoreConfig::from_toml(typo).unwrap_err();
//! assert!(matches!(error, CqlError::Config { key, .. } if key == "contact_point"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod codec;
mod config;
mod connect;
mod error;
pub mod schema;
mod store;

pub use config::{Consistency, CqlStoreConfig, Replication, ReplicationValue, Secret, TlsConfig};
pub use error::CqlError;
pub use store::CqlStore;

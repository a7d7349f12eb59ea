//! Stores for tests: each in a keyspace of its own, dropped when the store is.

use quiver_online::{OnlineStore, ViewLayout};
use quiver_online_cql::{Consistency, CqlStore, CqlStoreConfig, Secret, TlsConfig};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The plain node: `QUIVER_TEST_CASSANDRA`, default 127.0.0.1:19042.
pub fn plain_config() -> CqlStoreConfig {
    let address =
        std::env::var("QUIVER_TEST_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:19042".to_string());
    CqlStoreConfig::new([address])
}

/// The Keyspaces-like node: `QUIVER_TEST_KEYSPACES` (default
/// 127.0.0.1:19142), TLS with the CA at `QUIVER_TEST_KEYSPACES_CA`, user
/// and password `QUIVER_TEST_KEYSPACES_USER` and `_PASSWORD` (default
/// `cassandra`), and the consistency levels Keyspaces takes. The names are
/// those `scripts/services/up.sh` writes to its `env.sh`.
pub fn keyspaces_config() -> CqlStoreConfig {
    let address =
        std::env::var("QUIVER_TEST_KEYSPACES").unwrap_or_else(|_| "127.0.0.1:19142".to_string());
    let ca_file = std::env::var_os("QUIVER_TEST_KEYSPACES_CA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home =
                std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
            home.join(".cache/quiver/services/cassandra-keyspaces/tls/ca.pem")
        });
    let mut config = CqlStoreConfig::new([address]);
    config.tls = Some(TlsConfig {
        ca_file,
        cert_file: None,
        key_file: None,
        verify_hostname: true,
    });
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| "cassandra".to_string());
    config.username = Some(var("QUIVER_TEST_KEYSPACES_USER"));
    config.password = Some(Secret::new(var("QUIVER_TEST_KEYSPACES_PASSWORD")));
    // What Keyspaces accepts: LOCAL_QUORUM is its only write level.
    config.read_consistency = Consistency::LocalOne;
    config.write_consistency = Consistency::LocalQuorum;
    config
}

/// A store in a fresh keyspace; the keyspace is dropped with it.
pub struct TestStore {
    store: CqlStore,
    config: CqlStoreConfig,
}

impl std::ops::Deref for TestStore {
    type Target = CqlStore;
    fn deref(&self) -> &CqlStore {
        &self.store
    }
}

/// A keyspace name no other test (or earlier run) uses.
pub fn unique_keyspace() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        "qt_{}_{}_{}",
        seconds % 1_000_000,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Opens `config`, failing the test with a hint when the server is not there.
pub async fn open(config: &CqlStoreConfig, ttls: HashMap<String, Duration>) -> CqlStore {
    match CqlStore::open(config, "unused_project", ttls).await {
        Ok(store) => store,
        Err(error) => panic!(
            "cannot open the CQL store at {}: {}\nStart the test servers with \
             scripts/services/up.sh and source the env.sh it writes (or point \
             QUIVER_TEST_CASSANDRA, QUIVER_TEST_KEYSPACES and QUIVER_TEST_KEYSPACES_CA at yours).",
            config.contact_points.join(", "),
            chain(&error)
        ),
    }
}

/// A store in a fresh keyspace of the server `config` points at.
pub async fn fresh_store(config: CqlStoreConfig) -> TestStore {
    fresh_store_with_ttls(config, HashMap::new()).await
}

/// [`fresh_store`] with TTLs for some views.
pub async fn fresh_store_with_ttls(
    mut config: CqlStoreConfig,
    ttls: HashMap<String, Duration>,
) -> TestStore {
    config.keyspace = Some(unique_keyspace());
    let store = open(&config, ttls).await;
    TestStore { store, config }
}

impl TestStore {
    /// The configuration, keyspace included: to open a second store on it.
    pub fn config(&self) -> &CqlStoreConfig {
        &self.config
    }
}

impl Drop for TestStore {
    /// Drops the keyspace from a thread of its own, with a session of its
    /// own: the test's runtime cannot run the store's session while this
    /// blocks it.
    fn drop(&mut self) {
        let config = self.config.clone();
        let keyspace = self.store.keyspace().to_string();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let store = CqlStore::open(&config, "unused_project", HashMap::new()).await?;
                store
                    .session()
                    .query_unpaged(format!("DROP KEYSPACE IF EXISTS \"{keyspace}\""), ())
                    .await
                    .map_err(|e| quiver_online::OnlineError::Config {
                        key: keyspace.clone(),
                        problem: e.to_string(),
                    })?;
                Ok::<_, quiver_online::OnlineError>(())
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test keyspace: {}", chain(&error));
        }
    }
}

/// An error with its causes, as the CLI prints it.
pub use quiver_online::error_chain as chain;

/// Runs plain CQL against the store's keyspace, for setting up odd states.
pub async fn cql(store: &CqlStore, statement: &str) {
    store
        .session()
        .query_unpaged(
            statement.replace("{ks}", &format!("\"{}\"", store.keyspace())),
            (),
        )
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// The column types of a view's table, from `system_schema`.
pub async fn columns(store: &CqlStore, view: &str) -> HashMap<String, String> {
    let result = store
        .session()
        .query_unpaged(
            "SELECT column_name, type FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = ?",
            (store.keyspace(), view),
        )
        .await
        .unwrap();
    result
        .into_rows_result()
        .unwrap()
        .rows::<(String, String)>()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `layout` with one more feature.
pub fn with_feature(
    layout: &ViewLayout,
    name: &str,
    value_type: quiver_core::ValueType,
) -> ViewLayout {
    let mut wider = layout.clone();
    wider.features.push((name.to_string(), value_type));
    wider
}

/// Asserts the store answers at all.
pub async fn assert_ready(store: &dyn OnlineStore) {
    store
        .check()
        .await
        .expect("a running cluster passes check()");
}

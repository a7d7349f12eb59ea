//! The online store a test runs on: the embedded one, or one of the test
//! servers `scripts/services/up.sh` starts, named by the environment
//! variable `QUIVER_TEST_ONLINE_STORE` (`redis`, `redis-secure`,
//! `cassandra`, `keyspaces`). `scripts/test.sh` runs quiver-serve's tests
//! once more on each, so the server's whole suite runs on every backend.
//!
//! Addresses, the CA files and the passwords' variables are those of the
//! `env.sh` that `up.sh` writes; every table gets a namespace of its own (a
//! key prefix, a keyspace) so tests never see each other's rows.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable naming the online store under test.
pub const ONLINE_STORE_VAR: &str = "QUIVER_TEST_ONLINE_STORE";

/// The `[online_store]` settings of the store `QUIVER_TEST_ONLINE_STORE`
/// names, or `None` for the embedded store (the variable unset or
/// `embedded`). Panics, naming the valid choices, on any other value.
pub fn online_store_under_test() -> Option<String> {
    let name = std::env::var(ONLINE_STORE_VAR).ok()?;
    if name.is_empty() || name == "embedded" {
        return None;
    }
    Some(online_store_table(&name))
}

/// The `[online_store]` settings of the test server `name`, in a fresh
/// namespace.
pub fn online_store_table(name: &str) -> String {
    let namespace = unique("qt");
    match name {
        "redis" => format!(
            "type = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{namespace}\"\n",
            env_or("QUIVER_TEST_REDIS_URL", "redis://127.0.0.1:16379"),
        ),
        "redis-secure" => format!(
            "type = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{namespace}\"\n\
             password_env = \"QUIVER_TEST_REDIS_PASSWORD\"\ntls_ca_file = \"{}\"\n",
            env_or("QUIVER_TEST_REDIS_SECURE_URL", "rediss://127.0.0.1:16380"),
            env_or("QUIVER_TEST_REDIS_CA", &services_file("redis/tls/ca.pem")),
        ),
        "cassandra" => format!(
            "type = \"cassandra\"\ncontact_points = [\"{}\"]\nkeyspace = \"{namespace}\"\n",
            env_or("QUIVER_TEST_CASSANDRA", "127.0.0.1:19042"),
        ),
        "keyspaces" => format!(
            "type = \"cassandra\"\ncontact_points = [\"{}\"]\nkeyspace = \"{namespace}\"\n\
             username = \"{}\"\npassword_env = \"QUIVER_TEST_KEYSPACES_PASSWORD\"\n\
             read_consistency = \"LOCAL_ONE\"\nwrite_consistency = \"LOCAL_QUORUM\"\n\
             [online_store.tls]\nca_file = \"{}\"\n",
            env_or("QUIVER_TEST_KEYSPACES", "127.0.0.1:19142"),
            env_or("QUIVER_TEST_KEYSPACES_USER", "cassandra"),
            env_or(
                "QUIVER_TEST_KEYSPACES_CA",
                &services_file("cassandra-keyspaces/tls/ca.pem")
            ),
        ),
        other => panic!(
            "{ONLINE_STORE_VAR}={other:?}: expected embedded, redis, redis-secure, cassandra or keyspaces"
        ),
    }
}

/// A name no other test or earlier run uses: a keyspace, a key prefix.
pub fn unique(stem: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    format!(
        "{stem}_{}_{}_{}",
        seconds % 1_000_000,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn services_file(path: &str) -> String {
    let home = env_or("HOME", "/root");
    let dir = env_or(
        "QUIVER_SERVICES_DIR",
        &format!("{home}/.cache/quiver/services"),
    );
    format!("{dir}/{path}")
}

//! Test helpers: a fresh store on the shared test server ([`fresh_store`]),
//! and `redis-server` processes a test owns ([`RedisServer`]).

use quiver_online::{OnlineError, OnlineStore};
use quiver_online_redis::{RedisStore, RedisStoreConfig};
use std::collections::HashMap;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the shared test server listens unless `QUIVER_TEST_REDIS_URL` says otherwise.
const DEFAULT_URL: &str = "redis://127.0.0.1:16379";

/// The shared test server's URL.
pub fn test_url() -> String {
    std::env::var("QUIVER_TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// A key prefix no other test, in this process or another, uses.
pub fn unique_prefix() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "quiver-test-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store on the shared server under its own prefix; its keys are deleted
/// when it is dropped.
pub struct TestStore {
    pub store: RedisStore,
    pub url: String,
}

impl std::ops::Deref for TestStore {
    type Target = RedisStore;
    fn deref(&self) -> &RedisStore {
        &self.store
    }
}

impl TestStore {
    /// Every key under this store's prefix.
    pub fn keys(&self) -> Vec<String> {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        let mut connection = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap();
        let pattern = format!("{}:*", self.store.key_prefix());
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut connection)
            .unwrap();
        keys.sort();
        keys
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        // Best effort: a failed cleanup leaves keys under a prefix no test reuses.
        let Ok(client) = redis::Client::open(self.url.as_str()) else {
            return;
        };
        let Ok(mut connection) = client.get_connection_with_timeout(Duration::from_secs(2)) else {
            return;
        };
        let pattern = format!("{}:*", self.store.key_prefix());
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut connection)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

/// A fresh, empty store on the shared test server.
pub async fn fresh_store() -> TestStore {
    store_with(RedisStoreConfig::default(), HashMap::new()).await
}

/// A fresh store on the shared test server with these settings (its URL and
/// key prefix replaced) and TTLs. Panics, naming the address and how to
/// start the server, when nothing answers there.
pub async fn store_with(
    mut config: RedisStoreConfig,
    view_ttls: HashMap<String, Duration>,
) -> TestStore {
    let url = test_url();
    config.url = url.clone();
    config.key_prefix = Some(unique_prefix());
    let store = RedisStore::open(&config, "unused", view_ttls).unwrap();
    if let Err(error) = store.check().await {
        panic!(
            "no Redis answers at {url} ({}); start it with scripts/services/up.sh \
             or point QUIVER_TEST_REDIS_URL at one",
            chain(&error)
        );
    }
    TestStore { store, url }
}

/// An error and its causes on one line, as the CLI prints it.
pub use quiver_online::error_chain as chain;

/// Asserts `result` is `OnlineError::Unavailable` naming `address`.
pub fn assert_unavailable<T: std::fmt::Debug>(result: Result<T, OnlineError>, address: &str) {
    match result {
        Err(OnlineError::Unavailable { ref store, .. })
            if store == &format!("redis at {address}") =>
        {
            let error = result.unwrap_err();
            assert!(chain(&error).contains(address), "{}", chain(&error));
        }
        other => panic!("expected Unavailable naming {address}, got {other:?}"),
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` process of one test, on a port of its own, killed when
/// dropped. Its data and log live in a temporary folder.
pub struct RedisServer {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// A plain-TCP server, with `args` added to its command line.
    pub fn start(args: &[&str]) -> RedisServer {
        let port = free_port();
        let mut all = vec!["--port".to_string(), port.to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        RedisServer::start_with(port, all)
    }

    /// A server with exactly `args` (which must make it listen on `port`).
    pub fn start_with(port: u16, args: Vec<String>) -> RedisServer {
        let mut server = RedisServer {
            port,
            args,
            child: None,
            dir: tempfile::tempdir().unwrap(),
        };
        server.spawn();
        server
    }

    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.address())
    }

    fn spawn(&mut self) {
        let log = self.dir.path().join("redis.log");
        let child = Command::new("redis-server")
            .args(&self.args)
            .args(["--bind", "127.0.0.1", "--dir"])
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}); install it with scripts/services/up.sh \
                     or `apt-get install -y redis-server`"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                panic!(
                    "redis-server {:?} did not listen on port {} within 10s; its log:\n{}",
                    self.args,
                    self.port,
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts the server again on the same port, with the same data folder.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Freezes the server (SIGSTOP): the kernel still accepts connections,
    /// nothing answers. [`resume`](Self::resume) thaws it.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a [`pause`](Self::pause)d server.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a paused server too.
        self.kill();
    }
}

//! Faults of a server-backed store under `quiver serve` and `quiver run`,
//! each made on a real `redis-server` of the test's own (Debian's package,
//! as `scripts/services/up.sh` installs it): down at start, gone while
//! serving, down for `apply` and `run`, full part-way through a job's write,
//! full for a first job whose table is on S3.

use crate::support::{energy_repo, fails, get_json, ok, serve};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` on its own port and folder, with an append-only file so
/// that a restart keeps its data.
struct OwnRedis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnRedis {
    fn new(dir: &Path) -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::create_dir_all(dir).unwrap();
        OwnRedis {
            port,
            dir: dir.to_path_buf(),
            child: None,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/services/up.sh installs it)");
        self.child = Some(child);
        let started = Instant::now();
        while self.cli(&["ping"]) != "PONG" {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "redis-server on port {} did not answer",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A clean stop: Redis finishes its append-only file first.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            child.wait().unwrap();
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Points the repository's online store at `url`, with short timeouts and
/// any `more` settings.
fn use_redis(repo: &str, url: &str, more: &str) {
    let toml = format!("{repo}/quiver.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let start = text.find("\n[online_store]\n").unwrap();
    let table = format!(
        "type = \"redis\"\nurl = \"{url}\"\nconnect_timeout = \"500ms\"\nrequest_timeout = \"500ms\"\n{more}"
    );
    std::fs::write(
        &toml,
        format!("{}\n[online_store]\n{table}", &text[..start]),
    )
    .unwrap();
    ok(&["apply", "--repo", repo]);
}

/// Status line and body of `GET path`.
fn http_status_and_body(addr: &str, path: &str) -> (u16, String) {
    let response = crate::support::http_get(addr, path);
    let status = response[9..12].parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Polls `GET path` until it answers `status`, for at most 30 s.
fn wait_for(addr: &str, path: &str, status: u16) -> String {
    let started = Instant::now();
    loop {
        let (got, body) = http_status_and_body(addr, path);
        if got == status {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{path} still answers {got} after 30 s: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_server_follows_its_store_down_and_up_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = OwnRedis::new(&dir.path().join("redis"));
    let repo = energy_repo(&dir.path().join("repo"), 3);
    redis.start();
    use_redis(&repo, &redis.url(), "");
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    redis.stop();

    // Started while its store is down: up, but not ready, and saying why.
    let served = serve(&["--repo", &repo, "--http-addr", "127.0.0.1:0"], &[]);
    let address = format!("127.0.0.1:{}", redis.port);
    let (status, body) = http_status_and_body(&served.http, "/ready");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("store_unavailable") && body.contains(&address),
        "{body}"
    );
    let (status, body) = http_status_and_body(&served.http, "/features/energy_features/MAC000002");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("store_unavailable"), "{body}");

    // The store comes up: the server becomes ready by itself.
    redis.start();
    wait_for(&served.http, "/ready", 200);
    let body = wait_for(&served.http, "/features/energy_features/MAC000002", 200);
    assert!(body.contains("MAC000002"), "{body}");

    // The store goes away while serving: requests fail fast with a 503
    // naming it, none hangs past the configured timeouts.
    redis.stop();
    let started = Instant::now();
    let (status, body) = http_status_and_body(&served.http, "/features/energy_features/MAC000002");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(&address), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a request waited {:?} for a dead store (timeouts: 500 ms)",
        started.elapsed()
    );
    assert_eq!(http_status_and_body(&served.http, "/ready").0, 503);

    // And recovers by itself when it is back.
    redis.start();
    let body = wait_for(&served.http, "/features/energy_features/MAC000002", 200);
    assert!(body.contains("MAC000002"), "{body}");
    wait_for(&served.http, "/ready", 200);
}

#[test]
fn a_redis_that_is_down_fails_apply_and_run_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = OwnRedis::new(&dir.path().join("redis"));
    redis.start();
    let repo = energy_repo(&dir.path().join("repo"), 20);
    use_redis(&repo, &redis.url(), "");
    redis.stop();
    let down = format!("127.0.0.1:{} is unavailable", redis.port);

    // `apply` used to call a store it never reached "ready".
    let out = fails(&["apply", "--repo", &repo]);
    assert!(out.contains(&down), "{out}");

    // `run` used to compute, commit the offline table, fail the online
    // write and restore the table; now it stops before computing.
    let out = fails(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    assert!(out.contains(&down), "{out}");
    assert!(!out.contains("restor"), "{out}");
    let log = Path::new(&repo).join("data/offline/energy_features/_delta_log");
    let commits = std::fs::read_dir(&log).map_or(0, |files| files.count());
    assert_eq!(
        commits,
        0,
        "the offline table was written: {}",
        log.display()
    );
}

#[test]
fn a_job_whose_online_write_fails_part_way_is_completed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let households = 400;
    let expected_repo = energy_repo(&dir.path().join("embedded"), households);
    ok(&[
        "run",
        "energy_features",
        "--repo",
        &expected_repo,
        "--quiet",
    ]);
    let ids: Vec<String> = (2..2 + households).map(|i| format!("MAC{i:06}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let expected = get_json(&expected_repo, &ids);

    // A first job over the first half of the households succeeds.
    let mut redis = OwnRedis::new(&dir.path().join("redis"));
    redis.start();
    let repo = energy_repo(&dir.path().join("repo"), households);
    // Small round trips, so that some of the job's rows land before Redis
    // is full and refuses the rest.
    use_redis(&repo, &redis.url(), "write_chunk_rows = 20\n");
    let csv = format!("{repo}/data/energy.csv");
    let full = std::fs::read_to_string(&csv).unwrap();
    let first_half: String = full
        .lines()
        .filter(|line| {
            line.strip_prefix("MAC")
                .and_then(|rest| rest.get(..6)?.parse::<usize>().ok())
                .is_none_or(|n| n < 2 + households / 2)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&csv, first_half).unwrap();
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    let keys_before: usize = redis.cli(&["dbsize"]).parse().unwrap();

    // The second job adds the other half; Redis has room for some of their
    // rows only, then refuses writes (OOM) while the job's write is under way.
    std::fs::write(&csv, &full).unwrap();
    let used: u64 = redis
        .cli(&["info", "memory"])
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    redis.cli(&["config", "set", "maxmemory-policy", "noeviction"]);
    redis.cli(&["config", "set", "maxmemory", &(used + 60_000).to_string()]);
    let out = crate::support::quiver(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the job should have failed");
    assert!(
        stderr.contains("energy_features") && stderr.contains("undone"),
        "{stderr}"
    );
    let keys: usize = redis.cli(&["dbsize"]).parse().unwrap();
    assert!(
        keys > keys_before && keys < keys_before + households / 2,
        "expected a part-way write: {keys_before} keys before, {keys} after; the job said: {stderr}"
    );
    // The offline commit was undone: the table holds none of the new rows.
    let history = crate::support::quiver(&[
        "history",
        "energy_features",
        "--repo",
        &repo,
        "--id",
        "MAC000350",
        "--format",
        "json",
    ]);
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(!history.contains("MAC000350"), "{history}");

    // With room again, the next run completes: both stores equal the
    // embedded run over the same data, nothing lost, nothing twice.
    redis.cli(&["config", "set", "maxmemory", "0"]);
    let summary = ok(&["run", "energy_features", "--repo", &repo]);
    assert!(
        summary.contains("rows committed as Delta version"),
        "{summary}"
    );
    assert_eq!(get_json(&repo, &ids), expected);
    for id in ["MAC000002", "MAC000350"] {
        let history = |repo: &str| {
            ok(&[
                "history",
                "energy_features",
                "--repo",
                repo,
                "--id",
                id,
                "--format",
                "json",
            ])
        };
        assert_eq!(history(&repo), history(&expected_repo), "history of {id}");
    }
}

#[test]
fn a_first_job_refused_online_leaves_no_table_in_the_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = OwnRedis::new(&dir.path().join("redis"));
    redis.start();
    let repo = energy_repo(&dir.path().join("repo"), 20);
    use_redis(&repo, &redis.url(), "");
    let bucket = crate::s3::bucket();
    crate::s3::point_offline_store_at(&repo, &format!("s3://{bucket}/offline"));
    let objects = || {
        let endpoint = &crate::s3::aws_env()[0].1;
        let out = Command::new("curl")
            .args(["-fsS", &format!("{endpoint}/{bucket}?list-type=2")])
            .output()
            .expect("curl runs");
        assert!(out.status.success(), "the bucket lists");
        String::from_utf8_lossy(&out.stdout)
            .matches("<Key>")
            .count()
    };

    // Redis answers, but refuses every write: the job's check passes, its
    // offline commit creates the table, and its online write fails.
    redis.cli(&["config", "set", "maxmemory-policy", "noeviction"]);
    redis.cli(&["config", "set", "maxmemory", "1"]);
    let run = ["run", "energy_features", "--repo", &repo, "--quiet"];
    let out = crate::s3::on_s3(&run);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the job should have failed");
    assert!(stderr.contains("undone"), "{stderr}");
    // Undone means as before the job: no table, not one object left.
    assert_eq!(objects(), 0, "the job said: {stderr}");
    let log = crate::s3::on_s3(&["log", "energy_features", "--repo", &repo]);
    let log = String::from_utf8_lossy(&log.stderr);
    assert!(log.contains("has no offline table"), "{log}");

    // With room again, the next job creates the table.
    redis.cli(&["config", "set", "maxmemory", "0"]);
    let out = crate::s3::on_s3(&run);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(objects() > 0);
}

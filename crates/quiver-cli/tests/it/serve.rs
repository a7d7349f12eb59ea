//! `quiver serve` as a process: settings from flags and `QUIVER_*`, the
//! bound addresses on stderr, and a clean exit on SIGTERM.

use crate::support::{energy_repo, http_get as get, ok, serve, serve_with};
use std::io::Read;
use std::time::{Duration, Instant};

#[test]
fn serve_answers_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 3);
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    let mut served = serve(
        &[
            "--repo",
            &repo,
            "--http-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ],
        // The old key of `shutdown_grace`: still read, with one warning.
        &[("QUIVER_SHUTDOWN_GRACE_SECS", "5")],
    );
    let http = served.http.clone();
    assert!(
        !served.grpc.ends_with(":0") && !served.grpc.ends_with(":6570"),
        "QUIVER_GRPC_ADDR ignored: {}",
        served.grpc
    );
    assert!(get(&http, "/health").starts_with("HTTP/1.1 200"));
    let features = get(&http, "/features/energy_features/MAC000002");
    assert!(
        features.starts_with("HTTP/1.1 200") && features.contains("\"id\":\"MAC000002\""),
        "{features}"
    );

    let status = std::process::Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = served.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "serve ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit}");
    let mut logs = std::mem::take(&mut served.logs);
    served.stderr.read_to_string(&mut logs).unwrap();
    // --log-format json: structured lines, one JSON object each.
    let json_lines: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        json_lines
            .iter()
            .any(|l| l["fields"]["message"] == "Shutting down: draining requests."),
        "{logs}"
    );
    let deprecations = json_lines
        .iter()
        .filter(|l| {
            l["level"] == "WARN"
                && l["fields"]["message"]
                    == "QUIVER_SHUTDOWN_GRACE_SECS is deprecated; set QUIVER_SHUTDOWN_GRACE=5s instead"
        })
        .count();
    assert_eq!(deprecations, 1, "{logs}");
}

/// The soft and hard open-files limits of a running process.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("/proc limits list open files");
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_string(), fields[4].to_string())
}

#[test]
fn serve_raises_its_open_files_limit_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 1);
    ok(&["run", "energy_features", "--repo", &repo, "--quiet"]);
    let served = serve_with(
        &["--repo", &repo, "--http-addr", "127.0.0.1:0"],
        &[],
        |command| {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                command.pre_exec(|| {
                    let mut limit = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    // The common default soft limit, under a higher hard one.
                    limit.rlim_cur = 1024.min(limit.rlim_max);
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    );
    let (soft, hard) = open_files_limits(served.child.id());
    assert_eq!(
        soft, hard,
        "quiver serve keeps a soft open-files limit below its hard one"
    );
}

//! A number too large for what it sizes is a settings error naming the
//! setting, never a panic or an overflow (issue 14, item 8).

use crate::support::{energy_repo, quiver};

/// Runs `quiver ARGS…`, which must fail with `expected` in its message and
/// without panicking.
fn refused(args: &[&str], expected: &str) {
    let out = quiver(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "quiver {args:?} succeeded");
    assert!(
        !stderr.contains("panicked"),
        "quiver {args:?} panicked:\n{stderr}"
    );
    assert!(stderr.contains(expected), "quiver {args:?}:\n{stderr}");
}

#[test]
fn a_huge_concurrency_limit_stops_serve_before_it_binds() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 2);
    let settings = dir.path().join("serve.toml");
    for huge in ["9223372036854775807", "1000001"] {
        std::fs::write(
            &settings,
            format!(
                "http_addr = \"127.0.0.1:0\"\ngrpc_addr = \"127.0.0.1:0\"\nmax_concurrent_requests = {huge}\n"
            ),
        )
        .unwrap();
        refused(
            &[
                "serve",
                "--repo",
                &repo,
                "--config",
                settings.to_str().unwrap(),
            ],
            "max_concurrent_requests must be between 1 and 1000000",
        );
    }
}

#[test]
fn a_huge_map_size_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let repo = energy_repo(dir.path(), 2);
    let config = dir.path().join("quiver.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}map_size_mib = 9223372036854775807\n"),
    )
    .unwrap();
    refused(&["apply", "--repo", &repo], "map_size_mib");
}

//! Printed errors say each thing once: real failures driven through the
//! binary, whose `error: …` line is the cause chain joined by `: ` (each
//! error's message saying only its own level), must not repeat a cause.

use crate::support::{energy_repo, fails, quiver};

/// The `error:` line of `stderr`, checked: no `: `-separated part of it
/// repeats or contains another (a cause printed twice shows up as one).
fn assert_said_once(stderr: &str) -> String {
    // The error is the last thing printed, from a line starting `error: `
    // to the end (a TOML error spans lines); log lines may come before.
    let start = if stderr.starts_with("error: ") {
        0
    } else {
        stderr
            .find("\nerror: ")
            .unwrap_or_else(|| panic!("no `error:` line in:\n{stderr}"))
            + 1
    };
    let text = &stderr[start + "error: ".len()..];
    let line = text.lines().next().unwrap_or_default().to_string();
    let parts: Vec<&str> = text
        .split(": ")
        .map(str::trim)
        .filter(|p| p.len() >= 8)
        .collect();
    for (i, a) in parts.iter().enumerate() {
        for (j, b) in parts.iter().enumerate() {
            assert!(
                i == j || !a.contains(b),
                "`{b}` is said twice in the error:\n{text}"
            );
        }
    }
    line
}

#[test]
fn no_printed_error_repeats_its_cause() {
    let dir = tempfile::tempdir().unwrap();

    // A folder that holds no repository.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let line = assert_said_once(&fails(&["apply", "--repo", empty.to_str().unwrap()]));
    assert!(
        line.contains("cannot read") && line.contains("quiver.toml"),
        "{line}"
    );

    // A quiver.toml that is not TOML.
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("quiver.toml"), "[project\nname = 1\n").unwrap();
    let line = assert_said_once(&fails(&["apply", "--repo", broken.to_str().unwrap()]));
    assert!(line.contains("quiver.toml"), "{line}");

    // `quiver init` where a repository is.
    let repo = energy_repo(&dir.path().join("repo"), 2);
    let line = assert_said_once(&fails(&["init", &repo]));
    assert!(line.contains("already exists"), "{line}");

    // An unknown view, feature and feature service.
    let line = assert_said_once(&fails(&["run", "nope", "--repo", &repo]));
    assert!(line.contains("unknown feature view `nope`"), "{line}");
    let entities = dir.path().join("entities.csv");
    std::fs::write(&entities, "id,ts\nMAC000002,2014-01-01T00:00:00Z\n").unwrap();
    let out = dir.path().join("out.csv");
    let training = |selection: &[&str]| {
        let mut args = vec![
            "training-set",
            "--repo",
            &repo,
            "--entities",
            entities.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(selection);
        fails(&args)
    };
    let line = assert_said_once(&training(&["--features", "energy_features:nope"]));
    assert!(line.contains("has no feature `nope`"), "{line}");
    let line = assert_said_once(&training(&["--feature-service", "nope"]));
    assert!(line.contains("unknown feature service `nope`"), "{line}");

    // A malformed CSV: a value that is not a number.
    let csv = format!("{repo}/data/energy.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    let second_line = text.find('\n').unwrap() + 1;
    let field = text[second_line..].find(',').unwrap() + second_line;
    let field = text[field + 1..].find(',').unwrap() + field + 1;
    text.insert_str(field + 1, "not-a-number");
    std::fs::write(&csv, &text).unwrap();
    let line = assert_said_once(&fails(&["run", "energy_features", "--repo", &repo]));
    assert!(line.contains("not-a-number"), "{line}");

    // Online stores that cannot be used: Redis and Cassandra on a port
    // nobody listens on, an embedded store whose folder is a file.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let not_a_folder = dir.path().join("not-a-folder");
    std::fs::write(&not_a_folder, "").unwrap();
    let config = format!("{repo}/quiver.toml");
    let toml = std::fs::read_to_string(&config).unwrap();
    let start = toml.find("\n[online_store]\n").unwrap();
    for (table, names) in [
        (
            format!(
                "type = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\nconnect_timeout = \"500ms\"\nrequest_timeout = \"500ms\""
            ),
            format!("127.0.0.1:{port}"),
        ),
        (
            format!(
                "type = \"cassandra\"\ncontact_points = [\"127.0.0.1:{port}\"]\nconnect_timeout = \"500ms\"\nrequest_timeout = \"500ms\""
            ),
            format!("127.0.0.1:{port}"),
        ),
        (
            format!("type = \"embedded\"\npath = \"{}\"", not_a_folder.display()),
            not_a_folder.display().to_string(),
        ),
    ] {
        std::fs::write(
            &config,
            format!("{}\n[online_store]\n{table}\n", &toml[..start]),
        )
        .unwrap();
        // `apply` checks some stores (it makes Cassandra's tables); those it
        // does not check fail at the first read.
        let applied = quiver(&["apply", "--repo", &repo]);
        let stderr = if applied.status.success() {
            fails(&[
                "get",
                "energy_features",
                "--repo",
                &repo,
                "--id",
                "MAC000002",
            ])
        } else {
            String::from_utf8(applied.stderr).unwrap()
        };
        let line = assert_said_once(&stderr);
        assert!(line.contains(&names), "{line}");
    }
}

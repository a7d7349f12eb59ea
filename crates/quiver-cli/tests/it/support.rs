//! Running the `quiver` binary.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Output, Stdio};

/// `quiver ARGS…`, run to completion.
pub fn quiver(args: &[&str]) -> Output {
    command(args).output().expect("the quiver binary runs")
}

/// `quiver ARGS…` as a command to adjust before running.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quiver"));
    command.args(args).env_remove("QUIVER_REPO");
    command
}

/// Runs and asserts success, returning stdout.
pub fn ok(args: &[&str]) -> String {
    succeeded(args, quiver(args))
}

/// Asserts that the run of `quiver ARGS…` that gave `out` succeeded, and
/// returns its stdout.
pub fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "quiver {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs and asserts failure, returning stderr.
pub fn fails(args: &[&str]) -> String {
    let out = quiver(args);
    assert!(!out.status.success(), "quiver {args:?} should have failed");
    String::from_utf8(out.stderr).unwrap()
}

/// A repository with `households` of generated data, applied.
pub fn energy_repo(dir: &Path, households: usize) -> String {
    let repo = dir.to_str().unwrap().to_string();
    ok(&["init", &repo]);
    let csv = format!("{repo}/data/energy.csv");
    ok(&[
        "datagen",
        "energy",
        "--households",
        &households.to_string(),
        "--out",
        &csv,
    ]);
    ok(&["apply", "--repo", &repo]);
    repo
}

/// `quiver get --format json` for `ids`, parsed.
pub fn get_json(repo: &str, ids: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["get", "energy_features", "--repo", repo, "--format", "json"];
    for id in ids {
        args.extend(["--id", id]);
    }
    serde_json::from_str(&ok(&args)).expect("get prints JSON")
}

/// `quiver serve` running in the background on free loopback ports.
pub struct Served {
    pub child: Child,
    /// The rest of its stderr, after the line naming the addresses.
    pub stderr: BufReader<ChildStderr>,
    /// What it logged up to that line.
    pub logs: String,
    pub http: String,
    pub grpc: String,
}

/// Starts `quiver serve ARGS…` with `env`, gRPC on a free port, and waits
/// for the line naming the bound addresses.
pub fn serve(args: &[&str], env: &[(&str, &str)]) -> Served {
    serve_with(args, env, |_| {})
}

/// [`serve`], with `adjust` applied to the command before it starts.
pub fn serve_with(
    args: &[&str],
    env: &[(&str, &str)],
    adjust: impl FnOnce(&mut Command),
) -> Served {
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let mut command = command(&all);
    command
        .env("QUIVER_GRPC_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stderr(Stdio::piped());
    adjust(&mut command);
    let mut child = command.spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    // Owned from here on: a failed assertion below still kills and reaps it.
    let mut served = Served {
        child,
        stderr,
        logs: String::new(),
        http: String::new(),
        grpc: String::new(),
    };
    let mut line = String::new();
    loop {
        line.clear();
        let read = served.stderr.read_line(&mut line).unwrap();
        assert!(read > 0, "serve exited: {}", served.logs);
        served.logs.push_str(&line);
        if let Some(rest) = line.strip_prefix("quiver serve: HTTP on ") {
            let (http, grpc) = rest.trim().split_once(", gRPC on ").unwrap();
            (served.http, served.grpc) = (http.to_string(), grpc.to_string());
            return served;
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The raw response to `GET path` over a fresh HTTP/1.1 connection.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

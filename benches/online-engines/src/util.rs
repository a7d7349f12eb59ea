//! Small helpers shared by the sub-commands.

use crate::engines::{Engine, Result};
use crate::workload::{self, generation_of, ENTITY_COUNT};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

/// What a reader sees across all entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Every entity holds exactly the row written by this generation.
    Generation(u64),
    /// Anything else: rows from several generations, missing or corrupt rows.
    Inconsistent(String),
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Generation(g) => write!(f, "gen={g}"),
            State::Inconsistent(why) => write!(f, "inconsistent({why})"),
        }
    }
}

/// Reads every entity in one read transaction and classifies the result.
pub fn read_state(engine: &dyn Engine) -> Result<State> {
    let keys = workload::keys();
    let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let mut rows = Vec::with_capacity(ENTITY_COUNT);
    engine.get_many(&key_refs, &mut rows)?;
    let Some(Some(first)) = rows.first() else {
        return Ok(State::Inconsistent("first entity missing".into()));
    };
    let generation = generation_of(first);
    for (index, row) in rows.iter().enumerate() {
        match row {
            None => return Ok(State::Inconsistent(format!("entity {index} missing"))),
            Some(row) if *row != workload::value(index, generation) => {
                let seen = if row.len() >= 8 { generation_of(row).to_string() } else { "?".into() };
                return Ok(State::Inconsistent(format!(
                    "entity 0 has gen {generation}, entity {index} has gen {seen} or is corrupt"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(State::Generation(generation))
}

/// Apparent size and allocated size (st_blocks) of everything under `dir`.
pub fn disk_usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let (a, b) = disk_usage(&entry.path());
            apparent += a;
            allocated += b;
        } else {
            apparent += meta.len();
            allocated += meta.blocks() * 512;
        }
    }
    (apparent, allocated)
}

/// Spawns this same binary with a sub-command, stdin and stdout piped.
pub fn spawn_self(args: &[&str]) -> Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?)
}

/// Forwards a child's stdout lines into a channel so they can be awaited with a timeout.
pub fn lines(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(std::result::Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the next line starting with `prefix`; other lines are skipped.
pub fn expect_line(rx: &Receiver<String>, prefix: &str, timeout: Duration) -> Result<String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .map_err(|_| format!("no {prefix:?} line from child within {timeout:?}"))?;
        if let Some(rest) = line.strip_prefix(prefix) {
            return Ok(rest.trim().to_string());
        }
    }
}

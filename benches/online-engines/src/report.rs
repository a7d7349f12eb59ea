//! `suite`: runs every measurement for every engine in child processes and
//! writes the Markdown report (median of N repeats where it makes sense).

use crate::engines::{self, Result};
use crate::util::{expect_line, lines, spawn_self};
use crate::Args;
use rand::Rng;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

type Metrics = BTreeMap<String, String>;

const CRASH_COMMIT_TRIALS: usize = 20;
const CALIBRATION_COMMITS: u64 = 3;
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

pub fn suite(args: &Args) -> Result<()> {
    let repeats: usize = args.opt("repeats").unwrap_or("3").parse()?;
    let engine_list: Vec<String> = match args.opt("engines") {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => engines::all_names().into_iter().map(str::to_string).collect(),
    };
    let data = PathBuf::from(args.opt("data").unwrap_or("data"));
    let out = PathBuf::from(args.opt("out").unwrap_or("RESULTS.md"));

    let mut perf: BTreeMap<&str, Vec<Metrics>> = BTreeMap::new();
    for repeat in 1..=repeats {
        for engine in &engine_list {
            eprintln!("perf {engine} run {repeat}/{repeats}");
            perf.entry(engine).or_default().push(run_perf(engine, &fresh(&data, engine, "perf")?)?);
        }
    }
    let mut mp = BTreeMap::new();
    let mut crash = BTreeMap::new();
    for engine in &engine_list {
        eprintln!("multi-process {engine}");
        mp.insert(engine.as_str(), run_multiprocess(engine, &fresh(&data, engine, "mp")?)?);
        eprintln!("crash {engine}");
        crash.insert(engine.as_str(), run_crash(engine, &fresh(&data, engine, "crash")?)?);
    }
    let _ = std::fs::remove_dir_all(&data);

    let report = render(&engine_list, repeats, &perf, &mp, &crash);
    std::fs::write(&out, report)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn fresh(data: &Path, engine: &str, purpose: &str) -> Result<PathBuf> {
    let dir = data.join(format!("{engine}-{purpose}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn run_self(args: &[&str]) -> Result<String> {
    let output = Command::new(std::env::current_exe()?).args(args).output()?;
    if !output.status.success() {
        return Err(format!("{args:?} failed: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(String::from_utf8(output.stdout)?)
}

fn run_perf(engine: &str, dir: &Path) -> Result<Metrics> {
    let stdout = run_self(&["perf", "--engine", engine, "--dir", &dir.to_string_lossy()])?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn run_multiprocess(engine: &str, dir: &Path) -> Result<String> {
    let stdout = run_self(&["mp-writer", "--engine", engine, "--dir", &dir.to_string_lossy()]);
    Ok(match stdout {
        Ok(out) => out.lines().find_map(|l| l.strip_prefix("MP ")).unwrap_or("no summary").to_string(),
        Err(e) => format!("writer failed: {e}"),
    })
}

struct CrashOutcome {
    hold: String,
    commit_us: u128,
    killed_mid_commit: usize,
    kept_old: usize,
    saw_new: usize,
    failures: Vec<String>,
}

/// Spawns a crash-child writing `generation`; kills it per `mode`.
/// Returns (killed before the child reported COMMITTED, commit µs if reported).
fn crash_trial(engine: &str, dir: &str, generation: u64, mode: &str, delay: Option<Duration>) -> Result<(bool, Option<u128>)> {
    let gen_arg = generation.to_string();
    let mut child = spawn_self(&["crash-child", "--engine", engine, "--dir", dir, "--gen", &gen_arg, "--mode", mode])?;
    let rx = lines(child.stdout.take().expect("piped stdout"));
    let outcome = match (mode, delay) {
        ("hold", _) => {
            expect_line(&rx, "HOLDING", CHILD_TIMEOUT)?;
            (true, None)
        }
        (_, Some(delay)) => {
            expect_line(&rx, "COMMITTING", CHILD_TIMEOUT)?;
            std::thread::sleep(delay);
            child.kill()?; // SIGKILL on Unix
            let committed = expect_line(&rx, "COMMITTED", Duration::from_millis(200)).ok();
            (committed.is_none(), committed.and_then(|us| us.parse().ok()))
        }
        _ => {
            let us = expect_line(&rx, "COMMITTED", CHILD_TIMEOUT)?;
            (false, us.parse().ok())
        }
    };
    child.kill()?; // SIGKILL on Unix (no-op error ignored if already dead)
    child.wait()?;
    Ok(outcome)
}

fn verify(engine: &str, dir: &str) -> Result<String> {
    let out = run_self(&["verify", "--engine", engine, "--dir", dir])?;
    Ok(out.lines().find_map(|l| l.strip_prefix("STATE ")).unwrap_or("no state").to_string())
}

fn run_crash(engine: &str, dir: &Path) -> Result<CrashOutcome> {
    let dir = dir.to_string_lossy().into_owned();
    crash_trial(engine, &dir, 1, "clean", None)?;
    if verify(engine, &dir)? != "gen=1" {
        return Err(format!("{engine}: clean load of gen 1 not visible").into());
    }
    // Killed while holding an uncommitted write transaction.
    crash_trial(engine, &dir, 2, "hold", None)?;
    let hold = verify(engine, &dir)?;
    // Calibrate: the fastest of a few undisturbed commits (gens 2, 3, 4).
    let mut commit_us = u128::MAX;
    for generation in 2..2 + CALIBRATION_COMMITS {
        let (_, us) = crash_trial(engine, &dir, generation, "commit", None)?;
        commit_us = commit_us.min(us.unwrap_or(1_000));
        if verify(engine, &dir)? != format!("gen={generation}") {
            return Err(format!("{engine}: undisturbed commit of gen {generation} not visible").into());
        }
    }
    let commit_us = commit_us.max(100);
    let mut current = 1 + CALIBRATION_COMMITS;
    let mut outcome = CrashOutcome { hold, commit_us, killed_mid_commit: 0, kept_old: 0, saw_new: 0, failures: vec![] };
    let mut rng = rand::thread_rng();
    for _ in 0..CRASH_COMMIT_TRIALS {
        let next = current + 1;
        let delay = Duration::from_micros(rng.gen_range(0..=commit_us as u64));
        let (mid_commit, _) = crash_trial(engine, &dir, next, "commit", Some(delay))?;
        outcome.killed_mid_commit += usize::from(mid_commit);
        let state = verify(engine, &dir)?;
        if state == format!("gen={current}") {
            outcome.kept_old += 1;
        } else if state == format!("gen={next}") {
            outcome.saw_new += 1;
            current = next;
        } else {
            outcome.failures.push(state);
        }
    }
    Ok(outcome)
}

// ---------------------------------------------------------------- rendering

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median over repeats of a numeric metric, plus all raw values.
fn stat(runs: &[Metrics], metric: &str) -> (Option<f64>, String) {
    let raw: Vec<&str> = runs.iter().map(|m| m.get(metric).map_or("n/a", String::as_str)).collect();
    let mut numbers: Vec<f64> = raw.iter().filter_map(|v| v.parse().ok()).collect();
    let med = (numbers.len() == raw.len() && !numbers.is_empty()).then(|| median(&mut numbers));
    (med, raw.iter().map(|v| fmt_num(v)).collect::<Vec<_>>().join(" / "))
}

fn fmt_num(v: &str) -> String {
    match v.parse::<f64>() {
        Ok(x) if x >= 100.0 => format!("{x:.0}"),
        Ok(x) => format!("{x:.2}"),
        Err(_) => v.to_string(),
    }
}

fn ratio(value: Option<f64>, best: f64) -> String {
    match value {
        Some(v) if best > 0.0 => format!("{:.1}x", v / best),
        _ => "n/a".into(),
    }
}

/// One column per (metric, title, higher_is_better). "vs best" is always
/// "times worse than the best engine" (1.0x = best), whatever the direction.
fn metric_table(out: &mut String, engines: &[String], perf: &BTreeMap<&str, Vec<Metrics>>, columns: &[(&str, &str, bool)]) {
    let _ = write!(out, "| engine |");
    for (_, title, _) in columns {
        let _ = write!(out, " {title} (median) | vs best | runs |");
    }
    let _ = writeln!(out, "\n|---|{}", "---:|---:|---|".repeat(columns.len()));
    let stats: Vec<Vec<(Option<f64>, String)>> =
        engines.iter().map(|e| columns.iter().map(|(m, _, _)| stat(&perf[e.as_str()], m)).collect()).collect();
    for (row, engine) in engines.iter().enumerate() {
        let _ = write!(out, "| {engine} |");
        for col in 0..columns.len() {
            let higher_is_better = columns[col].2;
            let medians = stats.iter().filter_map(|s| s[col].0);
            let (med, raw) = &stats[row][col];
            let times_worse = if higher_is_better {
                let best = medians.fold(0.0, f64::max);
                ratio(med.map(|m| best / m), 1.0)
            } else {
                ratio(*med, medians.fold(f64::INFINITY, f64::min))
            };
            let shown = med.map_or("n/a".into(), |m| fmt_num(&m.to_string()));
            let _ = write!(out, " {shown} | {times_worse} | {raw} |");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out);
}

fn shell(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd).args(args).output().map_or("?".into(), |o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn crate_versions() -> String {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap_or_default();
    let wanted = ["heed", "lmdb-master-sys", "redb", "fjall", "lsm-tree", "rusqlite", "libsqlite3-sys", "rocksdb", "librocksdb-sys", "hdrhistogram"];
    let mut found = Vec::new();
    let mut name = "";
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"');
        } else if let Some(v) = line.strip_prefix("version = ") {
            if wanted.contains(&name) {
                found.push(format!("{name} {}", v.trim_matches('"')));
            }
        }
    }
    found.join(", ")
}

fn render(
    engines: &[String],
    repeats: usize,
    perf: &BTreeMap<&str, Vec<Metrics>>,
    mp: &BTreeMap<&str, String>,
    crash: &BTreeMap<&str, CrashOutcome>,
) -> String {
    let mut out = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())))
        .unwrap_or_default();
    let command: Vec<String> = std::env::args().collect();
    let _ = writeln!(out, "# Online-store engine benchmark results\n");
    let _ = writeln!(out, "- command: `nice -n 10 {}` (built with `cargo build --release`)", command.join(" "));
    let _ = writeln!(out, "- date: {}", shell("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]));
    let _ = writeln!(out, "- nproc: {}; CPU: {cpu}; kernel {}", shell("nproc", &[]), shell("uname", &["-r"]));
    let _ = writeln!(out, "- {}", shell("rustc", &["--version"]));
    let _ = writeln!(out, "- crates (Cargo.lock): {}", crate_versions());
    let _ = writeln!(out, "- workload: {} entities `MAC000002`..`MAC005561`, {}-byte values; {repeats} repeats, each a fresh process and fresh database; medians shown, raw runs in `runs`; \"vs best\" = how many times worse than the best engine's median (1.0x = best).", crate::workload::ENTITY_COUNT, crate::workload::VALUE_LEN);
    let _ = writeln!(out, "- machine is shared and noisy (2 cores, a concurrent compile); compare ratios, not absolute numbers.\n");

    let _ = writeln!(out, "## 1. Bulk load (one write txn, durable commit)\n");
    metric_table(&mut out, engines, perf, &[("load_ms", "5,560 rows, ms", false), ("naive_3_5m_s", "3.5M overwrites, s", false)]);

    let _ = writeln!(out, "## 2. Point read: one read txn per lookup, value copied to Vec ({} lookups, ns)\n", crate::perf::POINT_LOOKUPS);
    metric_table(&mut out, engines, perf, &[("get_p50_ns", "p50 ns", false), ("get_p99_ns", "p99 ns", false), ("get_throughput_per_s", "lookups/s (1 thread)", true)]);

    let _ = writeln!(out, "## 3. Batch read: {} random keys in one read txn ({} batches, µs)\n", crate::perf::BATCH_SIZE, crate::perf::BATCHES);
    metric_table(&mut out, engines, perf, &[("batch_p50_us", "p50 µs", false), ("batch_p99_us", "p99 µs", false)]);

    let _ = writeln!(out, "## 4. Second process reads while first holds a write txn and commits\n");
    let _ = writeln!(out, "Writer loads gen 1, child opens read-only and reads all rows, writer opens a txn writing gen 2 (child reads again), writer commits (child reads again with a fresh read txn).\n");
    let _ = writeln!(out, "| engine | result |\n|---|---|");
    for engine in engines {
        let _ = writeln!(out, "| {engine} | {} |", mp.get(engine.as_str()).map_or("n/a", String::as_str));
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "## 5. Crash safety (SIGKILL; page cache survives, so process crash, not power loss)\n");
    let _ = writeln!(out, "`hold`: child killed while holding an uncommitted txn that overwrote all rows; expected state after reopen = previous gen. `mid-commit`: {CRASH_COMMIT_TRIALS} trials killed at a random delay in [0, calibrated commit time] (calibration = fastest of {CALIBRATION_COMMITS} undisturbed commits) after the commit call starts; each reopen must show all rows of exactly one generation (old or new).\n");
    let _ = writeln!(out, "| engine | hold -> state after reopen | calibrated commit µs | mid-commit trials: killed before commit returned | kept old | saw new | inconsistent | verdict |\n|---|---|---:|---:|---:|---:|---:|---|");
    for engine in engines {
        match crash.get(engine.as_str()) {
            Some(c) => {
                let pass = c.hold == "gen=1" && c.failures.is_empty();
                let _ = writeln!(
                    out,
                    "| {engine} | {} | {} | {}/{CRASH_COMMIT_TRIALS} | {} | {} | {}{} | {} |",
                    c.hold, c.commit_us, c.killed_mid_commit, c.kept_old, c.saw_new, c.failures.len(),
                    if c.failures.is_empty() { String::new() } else { format!(" ({})", c.failures.join("; ")) }, if pass { "PASS" } else { "FAIL" }
                );
            }
            None => {
                let _ = writeln!(out, "| {engine} | not run | | | | | | |");
            }
        }
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "## 6. Size on disk (bytes; apparent size, and allocated blocks)\n");
    metric_table(&mut out, engines, perf, &[
        ("size_after_load_bytes", "after load", false),
        ("size_after_load_allocated_bytes", "after load, allocated", false),
        ("size_after_naive_bytes", "after 3.5M overwrites", false),
        ("size_after_naive_allocated_bytes", "after 3.5M overwrites, allocated", false),
    ]);
    out
}

//! `mp-writer` / `mp-reader`: can a second process open the database
//! read-only and read while the first one holds a write transaction and commits?
//!
//! Writer: load gen 1 -> spawn reader -> reader opens read-only and reads ->
//! writer opens a write txn with gen 2 -> reader reads during the txn ->
//! writer commits -> reader reads again with a fresh read txn.
//! The writer prints one `MP key=value ...` summary line.

use crate::engines::{self, Access, Result};
use crate::util::{expect_line, lines, read_state, spawn_self};
use crate::workload::{self, WritePlan};
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

const STEP_TIMEOUT: Duration = Duration::from_secs(15);

pub fn writer(engine_name: &str, dir: &Path) -> Result<()> {
    let engine = engines::open(engine_name, dir, Access::ReadWrite)?;
    let keys = workload::keys();
    engine.write(&WritePlan::all_once(&keys, &workload::values(1)), &mut || {})?;

    let dir_arg = dir.to_string_lossy().into_owned();
    let mut child = spawn_self(&["mp-reader", "--engine", engine_name, "--dir", &dir_arg])?;
    let mut to_child = child.stdin.take().expect("piped stdin");
    let from_child = lines(child.stdout.take().expect("piped stdout"));

    let mut report = Vec::new();
    let opened = expect_line(&from_child, "OPEN ", STEP_TIMEOUT).unwrap_or_else(|e| format!("timeout({e})"));
    report.push(format!("open={opened}"));
    if opened == "ok" {
        let before = expect_line(&from_child, "READ ", STEP_TIMEOUT).unwrap_or_else(|e| e.to_string());
        report.push(format!("before_write={before}"));

        let mut during = String::new();
        let next = workload::values(2);
        engine.write(&WritePlan::all_once(&keys, &next), &mut || {
            // The write transaction is open and holds uncommitted gen-2 rows.
            let _ = writeln!(to_child, "WRITE_TXN_OPEN");
            during = expect_line(&from_child, "READ ", STEP_TIMEOUT).unwrap_or_else(|e| e.to_string());
        })?;
        report.push(format!("during_write={during}"));
        writeln!(to_child, "COMMITTED")?;
        let after = expect_line(&from_child, "READ ", STEP_TIMEOUT).unwrap_or_else(|e| e.to_string());
        report.push(format!("after_commit={after}"));
    }
    drop(to_child);
    let _ = child.kill();
    let _ = child.wait();
    println!("MP {}", report.join(" "));
    Ok(())
}

pub fn reader(engine_name: &str, dir: &Path) -> Result<()> {
    let engine = match engines::open(engine_name, dir, Access::ReadOnly) {
        Ok(engine) => engine,
        Err(e) => {
            println!("OPEN error:{}", e.to_string().replace(char::is_whitespace, "_"));
            return Ok(());
        }
    };
    println!("OPEN ok");
    let describe = |engine: &dyn engines::Engine| match read_state(engine) {
        Ok(state) => state.to_string().replace(' ', "_"),
        Err(e) => format!("error:{}", e.to_string().replace(char::is_whitespace, "_")),
    };
    println!("READ {}", describe(&*engine));
    for command in std::io::stdin().lock().lines() {
        match command?.as_str() {
            "WRITE_TXN_OPEN" | "COMMITTED" => println!("READ {}", describe(&*engine)),
            _ => {}
        }
    }
    Ok(())
}

//! Crash safety. A `crash-child` overwrites every entity with generation N in
//! one write transaction and is SIGKILLed by the suite either while holding
//! the uncommitted transaction (`hold`) or at a random instant during commit
//! (`commit`). A fresh `verify` process then reopens the database and reports
//! which generation it sees; anything but "all rows from one generation" fails.
//!
//! SIGKILL keeps the OS page cache, so this tests process crashes, not power loss.

use crate::engines::{self, Access, Result};
use crate::util::read_state;
use crate::workload::{self, WritePlan};
use crate::Args;
use std::time::Instant;

pub fn child(args: &Args) -> Result<()> {
    let dir = args.dir();
    let generation: u64 = args.req("gen").parse()?;
    let mode = args.req("mode");
    let engine = engines::open(args.req("engine"), &dir, Access::ReadWrite)?;
    let keys = workload::keys();
    let rows = workload::values(generation);
    let mut commit_started = None;
    engine.write(&WritePlan::all_once(&keys, &rows), &mut || match mode {
        "hold" => {
            println!("HOLDING");
            loop {
                std::thread::park(); // wait for SIGKILL
            }
        }
        "commit" => {
            println!("COMMITTING");
            commit_started = Some(Instant::now());
        }
        _ => {}
    })?;
    let commit_us = commit_started.map_or(0, |t| t.elapsed().as_micros());
    println!("COMMITTED {commit_us}");
    if mode == "commit" {
        loop {
            std::thread::park(); // the suite kills us either way
        }
    }
    Ok(())
}

pub fn verify(engine_name: &str, dir: &std::path::Path) -> Result<()> {
    match engines::open(engine_name, dir, Access::ReadWrite) {
        Ok(engine) => match read_state(&*engine) {
            Ok(state) => println!("STATE {state}"),
            Err(e) => println!("STATE read-error({e})"),
        },
        Err(e) => println!("STATE open-error({e})"),
    }
    Ok(())
}

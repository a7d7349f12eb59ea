//! Benchmark of embedded key-value engines for Quiver's online store.
//! See README.md. Every database is opened in its own process: the `suite`
//! command only orchestrates and re-invokes this binary with sub-commands.

mod crash;
mod engines;
mod multiprocess;
mod perf;
mod report;
mod util;
mod workload;

use std::path::PathBuf;

const USAGE: &str = "\
usage:
  engine-bench suite [--repeats N] [--engines a,b,..] [--data DIR] [--out FILE]
  engine-bench perf        --engine E --dir DIR
  engine-bench mp-writer   --engine E --dir DIR
  engine-bench mp-reader   --engine E --dir DIR          (spawned by mp-writer)
  engine-bench crash-child --engine E --dir DIR --gen N --mode clean|hold|commit
  engine-bench verify      --engine E --dir DIR
engines: lmdb, redb, redb-singlewriter, fjall, sqlite, sqlite-full, rocksdb (with --features rocksdb)";

pub struct Args {
    flags: Vec<(String, String)>,
}

impl Args {
    fn parse(raw: &[String]) -> Args {
        let flags = raw
            .chunks(2)
            .map(|pair| {
                let name = pair[0].strip_prefix("--").unwrap_or_else(|| fail(&format!("bad argument {:?}", pair[0])));
                let value = pair.get(1).unwrap_or_else(|| fail(&format!("--{name} needs a value")));
                (name.to_string(), value.clone())
            })
            .collect();
        Args { flags }
    }

    pub fn opt(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn req(&self, name: &str) -> &str {
        self.opt(name).unwrap_or_else(|| fail(&format!("missing --{name}")))
    }

    pub fn dir(&self) -> PathBuf {
        PathBuf::from(self.req("dir"))
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}\n{USAGE}");
    std::process::exit(2)
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = raw.split_first() else { fail("missing command") };
    let args = Args::parse(rest);
    let outcome = match command.as_str() {
        "suite" => report::suite(&args),
        "perf" => perf::run(args.req("engine"), &args.dir()),
        "mp-writer" => multiprocess::writer(args.req("engine"), &args.dir()),
        "mp-reader" => multiprocess::reader(args.req("engine"), &args.dir()),
        "crash-child" => crash::child(&args),
        "verify" => crash::verify(args.req("engine"), &args.dir()),
        other => fail(&format!("unknown command {other:?}")),
    };
    if let Err(e) = outcome {
        eprintln!("engine-bench {command}: {e}");
        std::process::exit(1);
    }
}

//! The layout and write-strategy comparisons, with the variants interleaved:
//! on a machine shared with other work the load drifts over minutes, more
//! than some differences measured here, so each round times every variant
//! once, in a changing order, and the medians over the rounds are compared.
//! Not criterion, for that reason; `benches/layout.rs` has the same reads
//! under criterion.
//!
//! Reads: the demo's 5,560 rows (22 floats) stored packed and as hashes,
//! read 1 and 100 ids at a time and decoded, plus the store's own
//! `read_with_layout`. Writes: the demo's rows rewritten in round trips of
//! 1,000 rows, each variant under its own key prefix:
//!
//! - `script_per_row`: one EVALSHA per row, round trips one at a time (the
//!   store's first version);
//! - `script_per_row_concurrent`: the same round trips all sent at once over
//!   the multiplexed connection;
//! - `script_per_N_rows`: one EVALSHA per N rows;
//! - `store`: `RedisStore::write` as it is;
//! - `set_without_check`: plain SETs, no latest-event-time check (the floor).
//!
//! ```text
//! cargo bench -p quiver-online-redis --features integration --bench interleaved
//! ```

mod common;

use common::{HOUSEHOLDS, Layouts, Read, batch, drop_prefix, layout, rows, url};
use quiver_online::{EntityRow, OnlineStore, codec};
use quiver_online_redis::{RedisStore, RedisStoreConfig};
use redis::Value;
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

const ROUNDS: usize = 40;

/// Per row: as the store's first version had it.
const PER_ROW: &str = r"
local stored = redis.call('GET', KEYS[1])
if stored then
  if #stored < 9 or string.byte(stored, 1) ~= 1 then
    return -1
  end
  local sl, sh = struct.unpack('<I4i4', stored, 2)
  local nl, nh = struct.unpack('<I4i4', ARGV[1], 2)
  if sh > nh or (sh == nh and sl > nl) then
    return 0
  end
end
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
";

/// Per several rows: the same check in a loop, one answer per row.
const PER_ROWS: &str = r"
local ttl = ARGV[1]
local answers = {}
for i, key in ipairs(KEYS) do
  local new = ARGV[i + 1]
  local answer = 1
  local stored = redis.call('GET', key)
  if stored then
    if #stored < 9 or string.byte(stored, 1) ~= 1 then
      answer = -1
    else
      local sl, sh = struct.unpack('<I4i4', stored, 2)
      local nl, nh = struct.unpack('<I4i4', new, 2)
      if sh > nh or (sh == nh and sl > nl) then
        answer = 0
      end
    end
  end
  if answer == 1 then
    if ttl == '0' then
      redis.call('SET', key, new)
    else
      redis.call('SET', key, new, 'PX', ttl)
    end
  end
  answers[i] = answer
end
return answers
";

/// Encodes rows under a key prefix into the round trips of one write.
type Build = Box<dyn Fn(&str, &[EntityRow]) -> Vec<redis::Pipeline>>;

/// One variant's name and its time per round.
struct Samples {
    name: String,
    samples: Vec<Duration>,
}

impl Samples {
    fn new(name: impl Into<String>) -> Samples {
        Samples {
            name: name.into(),
            samples: Vec::new(),
        }
    }

    /// The median and the quartiles.
    fn quartiles(&self) -> [Duration; 3] {
        let mut s = self.samples.clone();
        s.sort();
        [s[s.len() / 4], s[s.len() / 2], s[s.len() * 3 / 4]]
    }
}

/// The order of the variants in round `round`: rotated and, every other
/// round, reversed, so that no variant always follows the same one.
fn order(count: usize, round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    order.rotate_left(round % count);
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

fn report(title: &str, unit: &str, per: f64, variants: &[Samples]) {
    println!("{title}");
    let baseline = variants[0].quartiles()[1].as_secs_f64();
    for v in variants {
        let [low, median, high] = v.quartiles().map(|d| d.as_secs_f64());
        let scale = if unit == "ms" { 1e3 } else { 1e6 };
        println!(
            "  {:34} median {:9.1} {unit}  (IQR {:9.1} – {:9.1})  {:>9.0} /s  x{:.2}",
            v.name,
            median * scale,
            low * scale,
            high * scale,
            per / median,
            median / baseline,
        );
    }
}

fn reads() {
    let layouts = Layouts::load();
    let runtime = &layouts.runtime;
    let config = RedisStoreConfig {
        url: url(),
        key_prefix: Some(format!("quiver-bench-interleaved-{}", std::process::id())),
        ..RedisStoreConfig::default()
    };
    let store = RedisStore::open(&config, "bench", HashMap::new()).unwrap();
    runtime
        .block_on(store.write(&layout("energy_features"), &rows(HOUSEHOLDS), None))
        .unwrap();
    for (n, reads_per_sample) in [(1, 400), (100, 40)] {
        let mut variants: Vec<Samples> = Read::ALL.iter().map(|r| Samples::new(r.name())).collect();
        variants.push(Samples::new("store_read_with_layout"));
        let mut round_ids = 0;
        for round in 0..ROUNDS {
            for i in order(variants.len(), round) {
                let started = Instant::now();
                for _ in 0..reads_per_sample {
                    round_ids += 1;
                    let ids = batch(&layouts.ids, n, round_ids);
                    if let Some(read) = Read::ALL.get(i) {
                        black_box(layouts.read(*read, &ids));
                    } else {
                        let (_, rows) = runtime
                            .block_on(store.read_with_layout("energy_features", &ids))
                            .unwrap();
                        assert!(rows.iter().all(Option::is_some));
                        black_box(rows);
                    }
                }
                variants[i]
                    .samples
                    .push(started.elapsed() / reads_per_sample);
            }
        }
        report(
            &format!(
                "read {n} id(s): {ROUNDS} rounds of {reads_per_sample} reads; median per read, rows/s, time relative to packed_mget"
            ),
            "µs",
            n as f64,
            &variants,
        );
    }
    layouts.cleanup();
    drop_prefix(runtime, store.key_prefix());
}

async fn send(connection: &MultiplexedConnection, pipes: Vec<redis::Pipeline>, concurrent: bool) {
    if concurrent {
        let mut tasks = tokio::task::JoinSet::new();
        for pipe in pipes {
            let mut c = connection.clone();
            tasks.spawn(async move { pipe.query_async::<Vec<Value>>(&mut c).await.unwrap() });
        }
        tasks.join_all().await;
    } else {
        for pipe in pipes {
            let mut c = connection.clone();
            let _: Vec<Value> = pipe.query_async(&mut c).await.unwrap();
        }
    }
}

fn key(prefix: &str, id: &str) -> String {
    format!("{prefix}:v:1:{{{id}}}")
}

fn writes() {
    let runtime = common::runtime();
    let connection = common::connect(&runtime);
    let per_row = redis::Script::new(PER_ROW);
    let per_rows = redis::Script::new(PER_ROWS);
    runtime.block_on(async {
        let mut c = connection.clone();
        per_row.prepare_invoke().load_async(&mut c).await.unwrap();
        per_rows.prepare_invoke().load_async(&mut c).await.unwrap();
    });
    let per_row_hash = per_row.get_hash().to_string();
    let per_rows_hash = per_rows.get_hash().to_string();
    let per_row_build = move |prefix: &str, rows: &[EntityRow]| {
        rows.chunks(1_000)
            .map(|chunk| {
                let mut pipe = redis::pipe();
                for row in chunk {
                    pipe.cmd("EVALSHA")
                        .arg(&per_row_hash)
                        .arg(1)
                        .arg(key(prefix, &row.key))
                        .arg(codec::encode(&row.row))
                        .arg(0);
                }
                pipe
            })
            .collect::<Vec<_>>()
    };
    let per_rows_build = |rows_per_script: usize| {
        let hash = per_rows_hash.clone();
        move |prefix: &str, rows: &[EntityRow]| {
            rows.chunks(1_000)
                .map(|chunk| {
                    let mut pipe = redis::pipe();
                    for part in chunk.chunks(rows_per_script) {
                        let cmd = pipe.cmd("EVALSHA");
                        cmd.arg(&hash).arg(part.len());
                        for row in part {
                            cmd.arg(key(prefix, &row.key));
                        }
                        cmd.arg(0);
                        for row in part {
                            cmd.arg(codec::encode(&row.row));
                        }
                    }
                    pipe
                })
                .collect::<Vec<_>>()
        }
    };
    let set_build = |prefix: &str, rows: &[EntityRow]| {
        rows.chunks(1_000)
            .map(|chunk| {
                let mut pipe = redis::pipe();
                for row in chunk {
                    pipe.cmd("SET")
                        .arg(key(prefix, &row.key))
                        .arg(codec::encode(&row.row));
                }
                pipe
            })
            .collect::<Vec<_>>()
    };
    // (name, how to build its round trips, sent concurrently); `None` is the store.
    let raw: Vec<(&str, Option<Build>, bool)> = vec![
        (
            "script_per_row",
            Some(Box::new(per_row_build.clone())),
            false,
        ),
        (
            "script_per_row_concurrent",
            Some(Box::new(per_row_build)),
            true,
        ),
        (
            "script_per_10_rows",
            Some(Box::new(per_rows_build(10))),
            false,
        ),
        (
            "script_per_100_rows",
            Some(Box::new(per_rows_build(100))),
            false,
        ),
        (
            "script_per_100_rows_concurrent",
            Some(Box::new(per_rows_build(100))),
            true,
        ),
        (
            "script_per_1000_rows",
            Some(Box::new(per_rows_build(1_000))),
            false,
        ),
        ("store", None, false),
        ("set_without_check", Some(Box::new(set_build)), false),
    ];
    let prefix = |i: usize| format!("quiver-bench-strategy-{}-{i}", std::process::id());
    let config = RedisStoreConfig {
        url: url(),
        key_prefix: Some(prefix(raw.len())),
        ..RedisStoreConfig::default()
    };
    let store = RedisStore::open(&config, "bench", HashMap::new()).unwrap();
    let rows = rows(HOUSEHOLDS);
    let view = layout("v");
    let write = |i: usize| match &raw[i].1 {
        Some(build) => runtime.block_on(send(&connection, build(&prefix(i), &rows), raw[i].2)),
        None => {
            runtime.block_on(store.write(&view, &rows, None)).unwrap();
        }
    };
    // A first write of each, so every timed write rewrites existing rows.
    for i in 0..raw.len() {
        write(i);
    }
    let mut variants: Vec<Samples> = raw.iter().map(|(name, ..)| Samples::new(*name)).collect();
    for round in 0..ROUNDS {
        for i in order(raw.len(), round) {
            let started = Instant::now();
            write(i);
            variants[i].samples.push(started.elapsed());
        }
    }
    report(
        &format!(
            "write {HOUSEHOLDS} rows (rewrites): {ROUNDS} rounds; median per write, rows/s, time relative to script_per_row"
        ),
        "ms",
        HOUSEHOLDS as f64,
        &variants,
    );
    for i in 0..=raw.len() {
        drop_prefix(&runtime, &prefix(i));
    }
}

fn main() {
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "reads") {
        reads();
    }
    if only.as_deref().is_none_or(|o| o == "writes") {
        writes();
    }
}

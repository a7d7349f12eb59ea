//! How the store should send a write's rows, measured with the variants
//! interleaved: on a shared machine the load drifts over minutes, so each
//! round times every variant once, in a shuffled order, and the medians over
//! the rounds are compared. Not criterion, for that reason.
//!
//! Every variant rewrites the demo's 5,560 rows (22 floats) in round trips of
//! 1,000 rows, each under its own key prefix:
//!
//! - `script_per_row`: one EVALSHA per row, sent one round trip at a time
//!   (what the store did first);
//! - `script_per_row_concurrent`: the same round trips all sent at once over
//!   the multiplexed connection;
//! - `script_per_N_rows`: one EVALSHA per N rows, 1,000 rows per round trip;
//! - `set_without_check`: plain SETs, no latest-event-time check (the floor).
//!
//! ```text
//! cargo bench -p quiver-online-redis --features integration --bench write_strategies
//! ```

use quiver_online::{EntityRow, FeatureRow, FeatureValue, codec};
use redis::Value;
use redis::aio::MultiplexedConnection;
use std::time::{Duration, Instant};

const HOUSEHOLDS: usize = 5_560;
const FEATURES: usize = 22;
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

fn rows() -> Vec<EntityRow> {
    (0..HOUSEHOLDS)
        .map(|i| EntityRow {
            key: format!("MAC{:06}", i + 2),
            row: FeatureRow {
                event_time_micros: 1_393_545_600_000_000,
                values: (0..FEATURES)
                    .map(|f| FeatureValue::Float64((i * FEATURES + f) as f64 * 0.001))
                    .collect(),
            },
        })
        .collect()
}

/// Encodes rows under a key prefix into the round trips of one write.
type Build = Box<dyn Fn(&str, &[EntityRow]) -> Vec<redis::Pipeline>>;

struct Variant {
    name: String,
    /// Builds the round trips (encoding included: it is part of a write).
    build: Build,
    concurrent: bool,
    samples: Vec<Duration>,
}

fn key(prefix: &str, id: &str) -> String {
    format!("{prefix}:v:1:{{{id}}}")
}

async fn run(connection: &MultiplexedConnection, pipes: Vec<redis::Pipeline>, concurrent: bool) {
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

fn main() {
    let url =
        std::env::var("QUIVER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:16379".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let info = redis::IntoConnectionInfo::into_connection_info(url.as_str())
        .unwrap()
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    let connection = runtime
        .block_on(async {
            redis::Client::open(info)?
                .get_multiplexed_async_connection()
                .await
        })
        .unwrap_or_else(|e| {
            panic!("no Redis at {url} ({e}); start it with scripts/services/up.sh")
        });
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
    let variant = |name: &str, build: Build, concurrent| Variant {
        name: name.to_string(),
        build,
        concurrent,
        samples: Vec::new(),
    };
    let mut variants = vec![
        variant("script_per_row", Box::new(per_row_build.clone()), false),
        variant("script_per_row_concurrent", Box::new(per_row_build), true),
        variant("script_per_10_rows", Box::new(per_rows_build(10)), false),
        variant("script_per_100_rows", Box::new(per_rows_build(100)), false),
        variant(
            "script_per_100_rows_concurrent",
            Box::new(per_rows_build(100)),
            true,
        ),
        variant(
            "script_per_1000_rows",
            Box::new(per_rows_build(1_000)),
            false,
        ),
        variant("set_without_check", Box::new(set_build), false),
    ];

    let rows = rows();
    let prefix = |i: usize| format!("quiver-bench-strategy-{}-{i}", std::process::id());
    // A first write of each, so every timed write rewrites existing rows.
    for (i, v) in variants.iter().enumerate() {
        runtime.block_on(run(&connection, (v.build)(&prefix(i), &rows), v.concurrent));
    }
    let mut order: Vec<usize> = (0..variants.len()).collect();
    for round in 0..ROUNDS {
        // A fixed shuffle per round (no rand dependency): rotate and reverse.
        order.rotate_left(round % variants.len());
        if round % 2 == 1 {
            order.reverse();
        }
        for &i in &order {
            let v = &mut variants[i];
            let started = Instant::now();
            let pipes = (v.build)(&prefix(i), &rows);
            runtime.block_on(run(&connection, pipes, v.concurrent));
            v.samples.push(started.elapsed());
        }
    }

    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let baseline = median(&mut variants[0].samples.clone());
    println!(
        "{HOUSEHOLDS} rows x {ROUNDS} interleaved rounds; median per write, rows/s, and time relative to script_per_row"
    );
    for v in &mut variants {
        let (low, high) = {
            let mut s = v.samples.clone();
            s.sort();
            (s[s.len() / 4], s[s.len() * 3 / 4])
        };
        let m = median(&mut v.samples);
        println!(
            "{:32} median {:7.2} ms  (IQR {:6.2}–{:6.2})  {:>8.0} rows/s  x{:.2}",
            v.name,
            m.as_secs_f64() * 1e3,
            low.as_secs_f64() * 1e3,
            high.as_secs_f64() * 1e3,
            HOUSEHOLDS as f64 / m.as_secs_f64(),
            m.as_secs_f64() / baseline.as_secs_f64()
        );
    }

    runtime.block_on(async {
        let mut c = connection.clone();
        for i in 0..variants.len() {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}:*", prefix(i)))
                .query_async(&mut c)
                .await
                .unwrap();
            for chunk in keys.chunks(1_000) {
                let _: () = redis::cmd("UNLINK")
                    .arg(chunk)
                    .query_async(&mut c)
                    .await
                    .unwrap();
            }
        }
    });
}

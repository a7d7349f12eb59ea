//! Which value layout the Redis store uses, decided by measurement: one packed
//! value per entity (the `quiver_online::codec` bytes) against a hash with a
//! field per feature, read 1 and 100 ids at a time, each decoded into a
//! `FeatureRow`; then the store itself, reading and writing.
//!
//! Rows are the demo's: 5,560 households, 22 float features. Needs the Redis
//! at `QUIVER_TEST_REDIS_URL` (default `redis://127.0.0.1:16379`, started by
//! `scripts/services/up.sh`) and leaves nothing behind:
//!
//! ```text
//! cargo bench -p quiver-online-redis --features integration --bench layout
//! ```

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use quiver_core::ValueType;
use quiver_online::{EntityRow, FeatureRow, FeatureValue, OnlineStore, ViewLayout, codec};
use quiver_online_redis::{RedisStore, RedisStoreConfig};
use redis::Value;
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

const HOUSEHOLDS: usize = 5_560;
const FEATURES: usize = 22;
const EVENT_TIME: i64 = 1_393_545_600_000_000;

fn url() -> String {
    std::env::var("QUIVER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:16379".into())
}

fn layout(view: &str) -> ViewLayout {
    ViewLayout {
        view: view.to_string(),
        entity_key: "id".to_string(),
        event_time: "day_date".to_string(),
        features: (0..FEATURES)
            .map(|i| (format!("feature_{i}"), ValueType::Float64))
            .collect(),
    }
}

fn rows(count: usize) -> Vec<EntityRow> {
    (0..count)
        .map(|i| EntityRow {
            key: format!("MAC{:06}", i + 2),
            row: FeatureRow {
                event_time_micros: EVENT_TIME,
                values: (0..FEATURES)
                    .map(|f| FeatureValue::Float64((i * FEATURES + f) as f64 * 0.001))
                    .collect(),
            },
        })
        .collect()
}

/// The hash layout: `t` is the event time, `f0`..`f21` the features, each as
/// 8 little-endian bytes (the codec's per-value encoding without its tag,
/// which a hash would keep in the layout instead).
fn hash_fields(row: &FeatureRow) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut fields = vec![(b"t".to_vec(), row.event_time_micros.to_le_bytes().to_vec())];
    for (i, value) in row.values.iter().enumerate() {
        let FeatureValue::Float64(v) = value else {
            unreachable!()
        };
        fields.push((format!("f{i}").into_bytes(), v.to_le_bytes().to_vec()));
    }
    fields
}

fn decode_hash(values: &[Value]) -> Option<FeatureRow> {
    let bytes = |v: &Value| match v {
        Value::BulkString(b) => Some(<[u8; 8]>::try_from(b.as_slice()).unwrap()),
        Value::Nil => None,
        other => panic!("{other:?}"),
    };
    let event_time_micros = i64::from_le_bytes(bytes(&values[0])?);
    let values = values[1..]
        .iter()
        .map(|v| {
            bytes(v).map_or(FeatureValue::Null, |b| {
                FeatureValue::Float64(f64::from_le_bytes(b))
            })
        })
        .collect();
    Some(FeatureRow {
        event_time_micros,
        values,
    })
}

fn decode_packed(value: &Value) -> Option<FeatureRow> {
    match value {
        Value::BulkString(b) => Some(codec::decode(b).unwrap()),
        Value::Nil => None,
        other => panic!("{other:?}"),
    }
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    connection: MultiplexedConnection,
    prefix: String,
    ids: Vec<String>,
}

impl Fixture {
    fn packed_key(&self, id: &str) -> String {
        format!("{}:packed:1:{{{id}}}", self.prefix)
    }

    fn hash_key(&self, id: &str) -> String {
        format!("{}:hash:1:{{{id}}}", self.prefix)
    }

    fn query<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> T {
        let mut c = self.connection.clone();
        self.runtime
            .block_on(async move { pipe.query_async(&mut c).await })
            .unwrap()
    }

    /// The ids of a batch of `n`, spread over the households.
    fn batch(&self, n: usize, round: usize) -> Vec<&str> {
        (0..n)
            .map(|i| self.ids[(round * 7_919 + i * 53) % self.ids.len()].as_str())
            .collect()
    }

    fn cleanup(&self) {
        let pattern = format!("{}:*", self.prefix);
        let mut c = self.connection.clone();
        self.runtime.block_on(async move {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
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
        });
    }
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = url();
    // TCP_NODELAY, as the store sets it, so both sides of the comparison
    // send small requests alike.
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
    let fixture = Fixture {
        runtime,
        connection,
        prefix: format!("quiver-bench-{}", std::process::id()),
        ids: Vec::new(),
    };
    let rows = rows(HOUSEHOLDS);
    for chunk in rows.chunks(500) {
        let mut pipe = redis::pipe();
        for row in chunk {
            pipe.cmd("SET")
                .arg(fixture.packed_key(&row.key))
                .arg(codec::encode(&row.row))
                .ignore();
            let mut hset = redis::cmd("HSET");
            hset.arg(fixture.hash_key(&row.key));
            for (field, value) in hash_fields(&row.row) {
                hset.arg(field).arg(value);
            }
            pipe.add_command(hset).ignore();
        }
        fixture.query::<()>(&pipe);
    }
    Fixture {
        ids: rows.into_iter().map(|r| r.key).collect(),
        ..fixture
    }
}

fn layouts(c: &mut Criterion) {
    let f = fixture();
    let hash_fields: Vec<String> = std::iter::once("t".to_string())
        .chain((0..FEATURES).map(|i| format!("f{i}")))
        .collect();
    for n in [1, 100] {
        let mut group = c.benchmark_group(format!("read_{n}"));
        group.throughput(Throughput::Elements(n as u64));
        let mut round = 0;
        group.bench_function("packed_mget", |b| {
            b.iter(|| {
                round += 1;
                let mut pipe = redis::pipe();
                let mget = pipe.cmd("MGET");
                for id in f.batch(n, round) {
                    mget.arg(f.packed_key(id));
                }
                let (values,): (Vec<Value>,) = f.query(&pipe);
                let rows: Vec<_> = values.iter().map(decode_packed).collect();
                assert!(rows.iter().all(Option::is_some));
                black_box(rows)
            })
        });
        group.bench_function("packed_get_pipelined", |b| {
            b.iter(|| {
                round += 1;
                let mut pipe = redis::pipe();
                for id in f.batch(n, round) {
                    pipe.cmd("GET").arg(f.packed_key(id));
                }
                let values: Vec<Value> = f.query(&pipe);
                let rows: Vec<_> = values.iter().map(decode_packed).collect();
                assert!(rows.iter().all(Option::is_some));
                black_box(rows)
            })
        });
        group.bench_function("hash_hmget_pipelined", |b| {
            b.iter(|| {
                round += 1;
                let mut pipe = redis::pipe();
                for id in f.batch(n, round) {
                    pipe.cmd("HMGET").arg(f.hash_key(id)).arg(&hash_fields);
                }
                let values: Vec<Vec<Value>> = f.query(&pipe);
                let rows: Vec<_> = values.iter().map(|v| decode_hash(v)).collect();
                assert!(rows.iter().all(Option::is_some));
                black_box(rows)
            })
        });
        group.bench_function("hash_hgetall_pipelined", |b| {
            b.iter(|| {
                round += 1;
                let mut pipe = redis::pipe();
                for id in f.batch(n, round) {
                    pipe.cmd("HGETALL").arg(f.hash_key(id));
                }
                let values: Vec<HashMap<String, Vec<u8>>> = f.query(&pipe);
                let rows: Vec<_> = values
                    .iter()
                    .map(|fields| {
                        let ordered: Vec<Value> = hash_fields
                            .iter()
                            .map(|name| Value::BulkString(fields[name].clone()))
                            .collect();
                        decode_hash(&ordered)
                    })
                    .collect();
                assert!(rows.iter().all(Option::is_some));
                black_box(rows)
            })
        });
        group.finish();
    }
    f.cleanup();
}

fn store(view_rows: usize) -> (tokio::runtime::Runtime, RedisStore, Vec<EntityRow>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = RedisStoreConfig {
        url: url(),
        key_prefix: Some(format!("quiver-bench-store-{}", std::process::id())),
        ..RedisStoreConfig::default()
    };
    let store = RedisStore::open(&config, "bench", HashMap::new()).unwrap();
    (runtime, store, rows(view_rows))
}

fn drop_prefix(runtime: &tokio::runtime::Runtime, prefix: &str) {
    runtime.block_on(async {
        let mut c = redis::Client::open(url().as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
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
    });
}

fn store_reads(c: &mut Criterion) {
    let (runtime, store, rows) = store(HOUSEHOLDS);
    let view = layout("energy_features");
    runtime
        .block_on(store.write(&view, &rows, Some(1)))
        .unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    let mut group = c.benchmark_group("store_read_with_layout");
    for n in [1, 100] {
        group.throughput(Throughput::Elements(n as u64));
        let mut round = 0;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                round += 1;
                let batch: Vec<&str> = (0..n)
                    .map(|i| ids[(round * 7_919 + i * 53) % ids.len()])
                    .collect();
                let (_, rows) = runtime
                    .block_on(store.read_with_layout("energy_features", &batch))
                    .unwrap();
                black_box(rows)
            })
        });
    }
    group.finish();
    drop_prefix(&runtime, store.key_prefix());
}

fn store_writes(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_write");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for n in [HOUSEHOLDS, 100_000] {
        let (runtime, store, rows) = store(n);
        let view = layout(&format!("write_{n}"));
        // A first write creates the keys; the timed ones rewrite them, as a
        // daily rerun of the job does (equal event times replace).
        let started = Instant::now();
        let outcome = runtime
            .block_on(store.write(&view, &rows, Some(1)))
            .unwrap();
        let took = started.elapsed();
        assert_eq!(outcome.written, n);
        println!(
            "store_write/{n}: first write (keys created) {took:.2?}, {:.0} rows/s",
            n as f64 / took.as_secs_f64()
        );
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("rewrite", n), &n, |b, _| {
            b.iter(|| {
                runtime
                    .block_on(store.write(&view, &rows, Some(1)))
                    .unwrap()
            })
        });
        drop_prefix(&runtime, store.key_prefix());
    }
    group.finish();
}

criterion_group!(benches, layouts, store_reads, store_writes);
criterion_main!(benches);

//! Which value layout the Redis store uses, decided by measurement: one packed
//! value per entity (the `quiver_online::codec` bytes) against a hash with a
//! field per feature, read 1 and 100 ids at a time, each decoded into a
//! `FeatureRow`; then the store itself, reading and writing.
//!
//! Rows are the demo's: 5,560 households, 22 float features. Needs the Redis
//! at `QUIVER_TEST_REDIS_URL` (default `redis://127.0.0.1:16379`, started by
//! `scripts/services/up.sh`) and leaves nothing behind. On a machine whose
//! load drifts, compare variants with `benches/interleaved.rs` instead.
//!
//! ```text
//! cargo bench -p quiver-online-redis --features integration --bench layout
//! ```

mod common;

use common::{HOUSEHOLDS, Layouts, Read, batch, drop_prefix, layout, rows, runtime, url};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use quiver_online::OnlineStore;
use quiver_online_redis::{RedisStore, RedisStoreConfig};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn layouts(c: &mut Criterion) {
    let layouts = Layouts::load();
    for n in [1, 100] {
        let mut group = c.benchmark_group(format!("read_{n}"));
        group.throughput(Throughput::Elements(n as u64));
        for read in Read::ALL {
            let mut round = 0;
            group.bench_function(read.name(), |b| {
                b.iter(|| {
                    round += 1;
                    black_box(layouts.read(read, &batch(&layouts.ids, n, round)))
                })
            });
        }
        group.finish();
    }
    layouts.cleanup();
}

fn store() -> RedisStore {
    let config = RedisStoreConfig {
        url: url(),
        key_prefix: Some(format!("quiver-bench-store-{}", std::process::id())),
        ..RedisStoreConfig::default()
    };
    RedisStore::open(&config, "bench", HashMap::new()).unwrap()
}

fn store_reads(c: &mut Criterion) {
    let runtime = runtime();
    let store = store();
    let rows = rows(HOUSEHOLDS);
    runtime
        .block_on(store.write(&layout("energy_features"), &rows, Some(1)))
        .unwrap();
    let ids: Vec<String> = rows.into_iter().map(|r| r.key).collect();
    let mut group = c.benchmark_group("store_read_with_layout");
    for n in [1, 100] {
        group.throughput(Throughput::Elements(n as u64));
        let mut round = 0;
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                round += 1;
                let (_, rows) = runtime
                    .block_on(store.read_with_layout("energy_features", &batch(&ids, n, round)))
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
    let runtime = runtime();
    for n in [HOUSEHOLDS, 100_000] {
        let store = store();
        let rows = rows(n);
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

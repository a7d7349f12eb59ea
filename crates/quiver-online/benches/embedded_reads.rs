//! Point reads from the embedded store, as a server would make them: one
//! entity's 22 features, and 100 entities in one call, over the demo's 5,560
//! households. Run: `cargo bench -p quiver-online --bench embedded_reads`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use quiver_core::ValueType;
use quiver_online::{
    EmbeddedStore, EmbeddedStoreConfig, EntityRow, FeatureRow, FeatureValue, OnlineStore,
    ViewLayout,
};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

const HOUSEHOLDS: usize = 5_560;
const FEATURES: usize = 22;

/// Drives a future that never waits (the embedded store's do not) to completion.
fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("the embedded store never waits"),
    }
}

fn demo_store(dir: &std::path::Path) -> (EmbeddedStore, Vec<String>) {
    let store = EmbeddedStore::open(&EmbeddedStoreConfig::at(dir)).unwrap();
    let layout = ViewLayout {
        view: "energy_features".to_string(),
        entity_key: "id".to_string(),
        event_time: "day_date".to_string(),
        features: (0..FEATURES)
            .map(|i| (format!("feature_{i}"), ValueType::Float64))
            .collect(),
    };
    let ids: Vec<String> = (0..HOUSEHOLDS)
        .map(|i| format!("MAC{:06}", i + 2))
        .collect();
    let rows: Vec<EntityRow> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| EntityRow {
            key: id.clone(),
            row: FeatureRow {
                event_time_micros: 1_393_545_600_000_000,
                values: (0..FEATURES)
                    .map(|f| FeatureValue::Float64((i * FEATURES + f) as f64 * 0.001))
                    .collect(),
            },
        })
        .collect();
    ready(store.write(&layout, &rows, Some(0))).unwrap();
    (store, ids)
}

fn reads(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (store, ids) = demo_store(dir.path());
    let mut group = c.benchmark_group("embedded_read");
    let mut next = 0usize;
    group.bench_function(BenchmarkId::new("one_entity", FEATURES), |b| {
        b.iter(|| {
            // A stride that visits keys out of order, like random traffic.
            next = (next + 2_731) % HOUSEHOLDS;
            let rows = ready(store.read("energy_features", &[ids[next].as_str()])).unwrap();
            black_box(rows)
        })
    });
    group.bench_function(BenchmarkId::new("hundred_entities", FEATURES), |b| {
        b.iter(|| {
            next = (next + 2_731) % HOUSEHOLDS;
            let keys: Vec<&str> = (0..100)
                .map(|i| ids[(next + i * 53) % HOUSEHOLDS].as_str())
                .collect();
            let rows = ready(store.read("energy_features", &keys)).unwrap();
            black_box(rows)
        })
    });
    // 100 ids in no order, as a client's batch comes: each key far from
    // the one before it in the B-tree.
    let shuffled: Vec<Vec<&str>> = (0..64u64)
        .map(|batch| {
            let mut hash = batch.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            (0..100)
                .map(|_| {
                    hash ^= hash << 13;
                    hash ^= hash >> 7;
                    hash ^= hash << 17;
                    ids[(hash % HOUSEHOLDS as u64) as usize].as_str()
                })
                .collect()
        })
        .collect();
    group.bench_function(
        BenchmarkId::new("hundred_entities_unordered", FEATURES),
        |b| {
            b.iter(|| {
                next = (next + 1) % shuffled.len();
                let rows = ready(store.read("energy_features", &shuffled[next])).unwrap();
                black_box(rows)
            })
        },
    );
    group.finish();
}

criterion_group!(benches, reads);
criterion_main!(benches);

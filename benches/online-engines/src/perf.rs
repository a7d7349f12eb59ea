//! `perf`: load, size, point reads, batch reads, naive 3.5M-put overwrite.
//! Prints one `metric value` pair per line for the suite to collect.

use crate::engines::{self, Access, Result};
use crate::util::disk_usage;
use crate::workload::{self, WritePlan, ENTITY_COUNT, VALUE_LEN};
use hdrhistogram::Histogram;
use rand::{rngs::SmallRng, Rng, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};

pub const POINT_LOOKUPS: usize = 1_000_000;
pub const BATCHES: usize = 20_000;
pub const BATCH_SIZE: usize = 100;
pub const NAIVE_PUTS: usize = 3_500_000;
pub const NAIVE_BUDGET: Duration = Duration::from_secs(120);

fn emit(metric: &str, value: impl std::fmt::Display) {
    println!("{metric} {value}");
}

pub fn run(engine_name: &str, dir: &Path) -> Result<()> {
    let engine = engines::open(engine_name, dir, Access::ReadWrite)?;
    let keys = workload::keys();
    let initial = workload::values(1);

    // 1. Bulk load: all entities, one write transaction, durable commit.
    let started = Instant::now();
    engine.write(&WritePlan::all_once(&keys, &initial), &mut || {})?;
    emit("load_ms", started.elapsed().as_secs_f64() * 1e3);

    // 6. Size on disk after the load.
    let (apparent, allocated) = disk_usage(dir);
    emit("size_after_load_bytes", apparent);
    emit("size_after_load_allocated_bytes", allocated);

    // 2. Point reads, one read transaction per lookup, value copied out.
    let mut rng = SmallRng::seed_from_u64(42);
    let picks: Vec<usize> = (0..POINT_LOOKUPS).map(|_| rng.gen_range(0..ENTITY_COUNT)).collect();
    for &i in &picks[..100_000] {
        engine.get(&keys[i])?; // warm-up
    }
    let mut point = Histogram::<u64>::new(3)?;
    let all_started = Instant::now();
    for &i in &picks {
        let started = Instant::now();
        let row = engine.get(&keys[i])?;
        let elapsed = started.elapsed();
        assert_eq!(row.map(|r| r.len()), Some(VALUE_LEN), "wrong row for entity {i}");
        point.record(elapsed.as_nanos() as u64)?;
    }
    let wall = all_started.elapsed();
    emit("get_p50_ns", point.value_at_quantile(0.50));
    emit("get_p99_ns", point.value_at_quantile(0.99));
    emit("get_max_ns", point.max());
    emit("get_throughput_per_s", (POINT_LOOKUPS as f64 / wall.as_secs_f64()) as u64);

    // 3. Batch reads: BATCH_SIZE random keys in one read transaction.
    let mut batch_latency = Histogram::<u64>::new(3)?;
    let mut batch_keys: Vec<&[u8]> = Vec::with_capacity(BATCH_SIZE);
    let mut rows = Vec::with_capacity(BATCH_SIZE);
    for round in 0..BATCHES + 1_000 {
        batch_keys.clear();
        batch_keys.extend((0..BATCH_SIZE).map(|_| keys[rng.gen_range(0..ENTITY_COUNT)].as_slice()));
        rows.clear();
        let started = Instant::now();
        engine.get_many(&batch_keys, &mut rows)?;
        let elapsed = started.elapsed();
        assert!(rows.iter().all(|r| r.as_ref().is_some_and(|r| r.len() == VALUE_LEN)));
        if round >= 1_000 {
            batch_latency.record(elapsed.as_nanos() as u64)?; // first 1,000 are warm-up
        }
    }
    emit("batch_p50_us", batch_latency.value_at_quantile(0.50) as f64 / 1e3);
    emit("batch_p99_us", batch_latency.value_at_quantile(0.99) as f64 / 1e3);

    // 1b. Naive job: 3.5M overwrites of the same entities in one transaction.
    let overwrite = workload::values(2);
    let plan = WritePlan::all_once(&keys, &overwrite).with_budget(NAIVE_PUTS, NAIVE_BUDGET);
    let started = Instant::now();
    match engine.write(&plan, &mut || {}) {
        Ok(()) => emit("naive_3_5m_s", started.elapsed().as_secs_f64()),
        Err(e) if e.is::<workload::DeadlineExceeded>() => emit("naive_3_5m_s", "skipped(>120s)"),
        Err(e) => emit("naive_3_5m_s", format!("error({e})").replace(' ', "_")),
    }
    let (apparent, allocated) = disk_usage(dir);
    emit("size_after_naive_bytes", apparent);
    emit("size_after_naive_allocated_bytes", allocated);
    Ok(())
}

//! The row codec against a serde encoding (postcard, a compact binary serde
//! format) of the same values: encode and decode one demo row of 22 floats.
//! Run: `cargo bench -p quiver-online --bench codec`.

use criterion::{Criterion, criterion_group, criterion_main};
use quiver_online::{FeatureRow, FeatureValue, codec};
use serde::{Deserialize, Serialize};
use std::hint::black_box;

/// The same row, as a serde type would model it.
#[derive(Serialize, Deserialize)]
struct SerdeRow {
    event_time_micros: i64,
    values: Vec<SerdeValue>,
}

#[derive(Serialize, Deserialize)]
enum SerdeValue {
    Null,
    Bool(bool),
    Int64(i64),
    Float64(f64),
    String(String),
    Date(i32),
    Timestamp(i64),
}

fn demo_row() -> FeatureRow {
    FeatureRow {
        event_time_micros: 1_393_545_600_000_000,
        values: (0..22)
            .map(|i| {
                if i == 3 {
                    FeatureValue::Int64(48)
                } else {
                    FeatureValue::Float64(0.1234 * f64::from(i))
                }
            })
            .collect(),
    }
}

fn to_serde(row: &FeatureRow) -> SerdeRow {
    SerdeRow {
        event_time_micros: row.event_time_micros,
        values: row
            .values
            .iter()
            .map(|v| match v {
                FeatureValue::Null => SerdeValue::Null,
                FeatureValue::Bool(b) => SerdeValue::Bool(*b),
                FeatureValue::Int64(i) => SerdeValue::Int64(*i),
                FeatureValue::Float64(f) => SerdeValue::Float64(*f),
                FeatureValue::String(s) => SerdeValue::String(s.clone()),
                FeatureValue::Date(d) => SerdeValue::Date(*d),
                FeatureValue::Timestamp(t) => SerdeValue::Timestamp(*t),
            })
            .collect(),
    }
}

fn codecs(c: &mut Criterion) {
    let row = demo_row();
    let serde_row = to_serde(&row);
    let ours = codec::encode(&row);
    let theirs = postcard::to_allocvec(&serde_row).unwrap();
    eprintln!(
        "encoded size: quiver codec {} bytes, postcard {} bytes",
        ours.len(),
        theirs.len()
    );

    let mut group = c.benchmark_group("row_codec");
    group.bench_function("quiver_encode", |b| {
        b.iter(|| black_box(codec::encode(black_box(&row))))
    });
    group.bench_function("postcard_encode", |b| {
        b.iter(|| black_box(postcard::to_allocvec(black_box(&serde_row)).unwrap()))
    });
    group.bench_function("quiver_decode", |b| {
        b.iter(|| black_box(codec::decode(black_box(&ours)).unwrap()))
    });
    group.bench_function("postcard_decode", |b| {
        b.iter(|| black_box(postcard::from_bytes::<SerdeRow>(black_box(&theirs)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, codecs);
criterion_main!(benches);

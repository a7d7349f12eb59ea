//! The online-store workload: 5,560 entities keyed `MAC000002`..`MAC005561`,
//! each holding one ~220-byte opaque feature row.
//!
//! Values are deterministic functions of (entity index, generation) so that a
//! process can verify, after a crash, exactly which committed state it sees.

use rand::{rngs::SmallRng, Rng, SeedableRng};
use std::time::{Duration, Instant};

pub const ENTITY_COUNT: usize = 5_560;
pub const FIRST_ENTITY_ID: usize = 2;
/// 8-byte header (generation) + 8-byte event timestamp + 22 f64 features
/// + 28 bytes of row metadata (null bitmap, schema id, padding) = 220 bytes.
pub const VALUE_LEN: usize = 220;

pub fn key(index: usize) -> Vec<u8> {
    format!("MAC{:06}", FIRST_ENTITY_ID + index).into_bytes()
}

pub fn keys() -> Vec<Vec<u8>> {
    (0..ENTITY_COUNT).map(key).collect()
}

/// The feature row of entity `index` as written by generation `generation`.
pub fn value(index: usize, generation: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(generation.wrapping_mul(1_000_003) ^ index as u64);
    let mut row = vec![0u8; VALUE_LEN];
    rng.fill(&mut row[..]);
    row[..8].copy_from_slice(&generation.to_le_bytes());
    row
}

pub fn values(generation: u64) -> Vec<Vec<u8>> {
    (0..ENTITY_COUNT).map(|i| value(i, generation)).collect()
}

/// Generation stored in a row's header.
pub fn generation_of(row: &[u8]) -> u64 {
    u64::from_le_bytes(row[..8].try_into().expect("row shorter than header"))
}

/// What one write transaction does: `puts` puts cycling over all entities,
/// aborted with an error once `deadline` passes (checked every 64k puts).
pub struct WritePlan<'a> {
    pub keys: &'a [Vec<u8>],
    pub values: &'a [Vec<u8>],
    pub puts: usize,
    pub deadline: Option<Instant>,
}

#[derive(Debug)]
pub struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("write transaction exceeded its time budget")
    }
}
impl std::error::Error for DeadlineExceeded {}

impl<'a> WritePlan<'a> {
    pub fn all_once(keys: &'a [Vec<u8>], values: &'a [Vec<u8>]) -> Self {
        WritePlan { keys, values, puts: keys.len(), deadline: None }
    }

    pub fn with_budget(mut self, puts: usize, budget: Duration) -> Self {
        self.puts = puts;
        self.deadline = Some(Instant::now() + budget);
        self
    }

    /// Yields (key, value) pairs in put order, or `DeadlineExceeded`.
    pub fn iter(&self) -> impl Iterator<Item = Result<(&'a [u8], &'a [u8]), DeadlineExceeded>> + '_ {
        let n = self.keys.len();
        (0..self.puts).map(move |i| {
            if i % 65_536 == 65_535 && self.deadline.is_some_and(|d| Instant::now() > d) {
                return Err(DeadlineExceeded);
            }
            Ok((self.keys[i % n].as_slice(), self.values[i % n].as_slice()))
        })
    }
}

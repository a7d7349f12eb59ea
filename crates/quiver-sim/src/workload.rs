//! The workload: [`KeySpace`] holds the ids a simulation may ask for, read
//! from the offline table (the same keys the online store holds) or a file;
//! [`IdPicker`] draws them uniformly or Zipf-skewed, one cheap draw per id.

use crate::{KeyDistribution, SimError};
#[cfg(feature = "offline")]
use quiver_core::{FeatureRepo, ValueType};
#[cfg(feature = "offline")]
use quiver_offline::arrow::{
    array::{Array, AsArray},
    compute::cast,
    datatypes::DataType,
};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use rand_pcg::Pcg64Mcg;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// The ids requests are drawn from.
#[derive(Debug, Clone)]
pub struct KeySpace {
    ids: Arc<[String]>,
    numeric: bool,
}

impl KeySpace {
    /// Ids given directly. `numeric` keys (an `int64` entity) are sent as
    /// numbers, the rest as strings.
    pub fn new(ids: Vec<String>, numeric: bool) -> Result<KeySpace, SimError> {
        if ids.is_empty() {
            return Err(SimError::NoKeys("no ids were given".to_string()));
        }
        if ids.len() > u32::MAX as usize {
            return Err(SimError::NoKeys(format!(
                "{} ids are more than the 4,294,967,295 a simulation can draw from",
                ids.len()
            )));
        }
        // A batch holding one entity twice is a request the server refuses,
        // which would be counted against it; for an int64 key, "12" and
        // "012" are the same entity.
        let mut numbers = HashSet::new();
        let mut texts = HashSet::new();
        for id in &ids {
            let first = if numeric {
                let Ok(number) = id.parse::<i64>() else {
                    return Err(SimError::NoKeys(format!(
                        "the entity key is int64 but `{id}` is not a whole number"
                    )));
                };
                numbers.insert(number)
            } else {
                texts.insert(id.as_str())
            };
            if !first {
                return Err(SimError::NoKeys(format!(
                    "`{id}` is listed twice{}; each id must be listed once",
                    if numeric { " (as a number)" } else { "" }
                )));
            }
        }
        Ok(KeySpace {
            ids: ids.into(),
            numeric,
        })
    }

    /// One id per line of `path`; blank lines and lines starting with `#` are skipped.
    pub fn from_file(path: &Path, numeric: bool) -> Result<KeySpace, SimError> {
        let text = std::fs::read_to_string(path).map_err(SimError::io(path))?;
        let ids: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_string)
            .collect();
        if ids.is_empty() {
            return Err(SimError::NoKeys(format!("{} holds no ids", path.display())));
        }
        // Which file holds the bad id.
        KeySpace::new(ids, numeric).map_err(|error| match error {
            SimError::NoKeys(reason) => SimError::NoKeys(format!("{}: {reason}", path.display())),
            other => other,
        })
    }

    /// Every entity of `view` in its offline table (the latest row of each:
    /// exactly the keys a full `quiver run` puts in the online store).
    #[cfg(feature = "offline")]
    pub async fn from_offline(repo: &FeatureRepo, view: &str) -> Result<KeySpace, SimError> {
        let view = repo.feature_view(view)?;
        let entity = repo.entity_of(view);
        let offline = quiver_offline::OfflineStore::for_repo(repo)?;
        let batches = offline
            .latest_rows(view, entity, &quiver_offline::Selection::default())
            .await?
            .batches;
        let mut ids = Vec::new();
        for batch in &batches {
            let keys = cast(batch.column(0), &DataType::Utf8).map_err(|e| {
                SimError::NoKeys(format!(
                    "the key column `{}` of `{}` cannot be read as text: {e}",
                    entity.join_key, view.name
                ))
            })?;
            let keys = keys.as_string::<i32>();
            ids.extend(
                (0..keys.len())
                    .filter(|&i| keys.is_valid(i))
                    .map(|i| keys.value(i).to_string()),
            );
        }
        if ids.is_empty() {
            return Err(SimError::NoKeys(format!(
                "the offline table of `{}` has no rows; run `quiver run {}` first",
                view.name, view.name
            )));
        }
        KeySpace::new(ids, entity.value_type == ValueType::Int64)
    }

    /// The ids.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Never true: a key space holds at least one id.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether ids are sent as numbers.
    pub fn numeric(&self) -> bool {
        self.numeric
    }
}

/// Draws id indexes into a [`KeySpace`]; one per worker, so no locking.
pub struct IdPicker {
    len: u32,
    zipf: Option<Zipf<f64>>,
    /// Zipf rank (0 = most popular) to id index: a seeded shuffle, so the
    /// popular ids are spread over the key space rather than its first rows.
    rank_to_index: Arc<[u32]>,
    rng: Pcg64Mcg,
    /// The ids of the batch being drawn, for batches too large to search
    /// linearly; kept to reuse its allocation.
    drawn: HashSet<u32>,
}

/// Up to this many ids a batch is checked for repeats by a linear search
/// (cheaper than hashing); above, by [`IdPicker::drawn`].
const LINEAR_CHECK_MAX: usize = 16;

impl IdPicker {
    /// Pickers for `workers` workers; worker `w` draws from seed `seed + w`.
    pub fn for_workers(
        keys: &KeySpace,
        distribution: KeyDistribution,
        seed: u64,
        workers: usize,
    ) -> Result<Vec<IdPicker>, SimError> {
        let len = keys.len() as u32;
        let zipf = match distribution {
            KeyDistribution::Uniform => None,
            KeyDistribution::Zipf { exponent } => Some(Zipf::new(len as f64, exponent).map_err(
                |e| SimError::Setting {
                    setting: "--zipf-exponent",
                    problem: e.to_string(),
                },
            )?),
        };
        let mut order: Vec<u32> = (0..len).collect();
        order.shuffle(&mut Pcg64Mcg::seed_from_u64(seed));
        let rank_to_index: Arc<[u32]> = order.into();
        Ok((0..workers as u64)
            .map(|w| IdPicker {
                len,
                zipf,
                rank_to_index: Arc::clone(&rank_to_index),
                rng: Pcg64Mcg::seed_from_u64(seed.wrapping_add(w).wrapping_add(1)),
                drawn: HashSet::new(),
            })
            .collect())
    }

    /// The next id's index.
    pub fn next_index(&mut self) -> u32 {
        match &self.zipf {
            None => self.rng.random_range(0..self.len),
            Some(zipf) => {
                // Zipf draws ranks 1..=len as floats.
                let rank = (zipf.sample(&mut self.rng) as u32).clamp(1, self.len) - 1;
                self.rank_to_index[rank as usize]
            }
        }
    }

    /// Fills `out` with `n` draws, all different: a server refuses an id
    /// asked for twice in one request (Feast's rule, and `quiver serve`'s).
    /// A repeated draw is drawn again; after a few misses (a steep Zipf law)
    /// the next unused index is taken instead. `n` must not exceed the key
    /// space (see [`IdPicker::check_batch`]).
    pub fn fill(&mut self, out: &mut Vec<u32>, n: usize) {
        out.clear();
        debug_assert!(n <= self.len as usize);
        let linear = n <= LINEAR_CHECK_MAX;
        self.drawn.clear();
        for _ in 0..n {
            let mut index = self.next_index();
            let mut misses = 0;
            while if linear {
                out.contains(&index)
            } else {
                self.drawn.contains(&index)
            } {
                misses += 1;
                index = if misses < 8 {
                    self.next_index()
                } else {
                    (index + 1) % self.len
                };
            }
            if !linear {
                self.drawn.insert(index);
            }
            out.push(index);
        }
    }

    /// Refuses a batch larger than the key space: its ids could not all differ.
    pub fn check_batch(keys: &KeySpace, batch_size: usize) -> Result<(), SimError> {
        if batch_size > keys.len() {
            return Err(SimError::Setting {
                setting: "--batch-size",
                problem: format!(
                    "{batch_size} is more than the {} ids to draw from (the ids of one request are all different)",
                    keys.len()
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> KeySpace {
        KeySpace::new((0..n).map(|i| format!("K{i}")).collect(), false).unwrap()
    }

    #[test]
    fn an_id_listed_twice_is_refused() {
        let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let error = KeySpace::new(ids(&["a", "b", "a"]), false)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("`a` is listed twice"), "{error}");
        let error = KeySpace::new(ids(&["12", "7", "012"]), true)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("`012` is listed twice (as a number)"),
            "{error}"
        );
        assert!(KeySpace::new(ids(&["12", "012"]), false).is_ok());
    }

    #[test]
    fn uniform_draws_cover_the_key_space_evenly() {
        let mut picker = IdPicker::for_workers(&keys(10), KeyDistribution::Uniform, 1, 1)
            .unwrap()
            .remove(0);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[picker.next_index() as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_batch_never_repeats_an_id() {
        for distribution in [
            KeyDistribution::Uniform,
            KeyDistribution::Zipf { exponent: 3.0 },
        ] {
            let mut picker = IdPicker::for_workers(&keys(120), distribution, 7, 1)
                .unwrap()
                .remove(0);
            let mut batch = Vec::new();
            // 1 and 16 take the linear check, 100 and 120 the hashed one.
            for n in [1, 16, 100, 120] {
                picker.fill(&mut batch, n);
                let mut distinct = batch.clone();
                distinct.sort_unstable();
                distinct.dedup();
                assert_eq!(distinct.len(), n, "{distribution:?}, batch of {n}");
            }
        }
        assert!(IdPicker::check_batch(&keys(120), 120).is_ok());
        let err = IdPicker::check_batch(&keys(120), 121)
            .unwrap_err()
            .to_string();
        assert!(err.contains("121 is more than the 120 ids"), "{err}");
    }

    #[test]
    fn zipf_draws_favour_a_few_ids() {
        let mut picker =
            IdPicker::for_workers(&keys(1000), KeyDistribution::Zipf { exponent: 1.0 }, 1, 1)
                .unwrap()
                .remove(0);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[picker.next_index() as usize] += 1;
        }
        counts.sort_unstable_by(|a, b| b.cmp(a));
        // Harmonic number H(1000) ≈ 7.49: the top id gets about 13% of draws.
        let top = f64::from(counts[0]) / 100_000.0;
        assert!((0.11..0.16).contains(&top), "top share {top}");
        assert!(counts[999] < 60);
    }

    #[test]
    fn the_same_seed_draws_the_same_ids() {
        let draw = || {
            let mut p = IdPicker::for_workers(&keys(50), KeyDistribution::Uniform, 7, 2).unwrap();
            (0..20).map(|_| p[1].next_index()).collect::<Vec<_>>()
        };
        assert_eq!(draw(), draw());
    }

    #[test]
    fn numeric_keys_must_be_numbers() {
        assert!(KeySpace::new(vec!["12".into(), "x".into()], true).is_err());
        assert!(KeySpace::new(vec![], false).is_err());
    }
}

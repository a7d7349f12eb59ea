//! The energy-meter dataset: one row per household and day.
//!
//! Each household reports a contiguous run of days, starting on its own day
//! between 2011-11-23 and about 13 months later and ending on 2014-02-28 —
//! about 630 days each, so the default 5,560 households make about 3.5
//! million rows, the size of the real dataset. A day's statistics are
//! computed from 48 simulated half-hourly readings (fewer on a few days) that
//! follow the household's own level, a daily profile with morning and evening
//! peaks, and a winter-high seasonal cycle. As in the real data a day with a
//! single reading has no standard deviation, and a few values are missing.

use chrono::{Datelike, NaiveDate};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The CSV header, in column order: the one definition of the energy
/// columns (the template's `[sources.energy_daily.schema]` is checked
/// against it, and test fixtures use it).
pub const HEADER: &str = "household_id,day,energy_median,energy_mean,energy_max,energy_count,energy_std,energy_sum,energy_min";

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnergyConfig {
    /// Number of households (the real dataset has 5,560).
    pub households: usize,
    /// Seed; the same seed always gives the same bytes.
    pub seed: u64,
    /// First day any household may report.
    pub first_day: NaiveDate,
    /// Last day of every household's run.
    pub last_day: NaiveDate,
    /// Latest start, in days after `first_day`.
    pub max_start_offset: u32,
}

impl Default for EnergyConfig {
    fn default() -> Self {
        Self {
            households: 5_560,
            seed: 42,
            first_day: NaiveDate::from_ymd_opt(2011, 11, 23).expect("valid date"),
            last_day: NaiveDate::from_ymd_opt(2014, 2, 28).expect("valid date"),
            max_start_offset: 400,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnergyStats {
    /// Households written.
    pub households: usize,
    /// Data rows written (not counting the header).
    pub rows: usize,
}

/// The id of household number `index` (0-based): `MAC000002`, `MAC000003` …
pub fn household_id(index: usize) -> String {
    format!("MAC{:06}", index + 2)
}

/// Writes the dataset as a CSV file at `path`, making its folder if needed:
/// written beside it first and renamed, so a reader never sees half a file.
pub fn write_csv_file(
    config: &EnergyConfig,
    path: &Path,
    on_household: impl FnMut(usize),
) -> Result<EnergyStats, WriteFileError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| WriteFileError {
            action: "create",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let partial = path.with_extension("csv.partial");
    let failed = |action, source| WriteFileError {
        action,
        path: partial.clone(),
        source,
    };
    let file = std::fs::File::create(&partial).map_err(|e| failed("create", e))?;
    let stats = write_csv(config, file, on_household).map_err(|e| failed("write", e))?;
    std::fs::rename(&partial, path).map_err(|e| failed("rename", e))?;
    Ok(stats)
}

/// A dataset file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct WriteFileError {
    /// `create`, `write` or `rename`.
    pub action: &'static str,
    /// The file or folder.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: io::Error,
}

/// Writes the dataset as CSV to `out`, calling `on_household` after each
/// household (for progress bars).
pub fn write_csv(
    config: &EnergyConfig,
    out: impl Write,
    mut on_household: impl FnMut(usize),
) -> io::Result<EnergyStats> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    writeln!(out, "{HEADER}")?;
    let total_days = (config.last_day - config.first_day).num_days().max(0) as u32;
    let mut stats = EnergyStats::default();
    let mut readings = Vec::with_capacity(48);
    let mut line = String::with_capacity(128);
    for index in 0..config.households {
        // One generator per household: a household's rows do not depend on how
        // many households come before it.
        let mut rng = Pcg64Mcg::seed_from_u64(
            config.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let household = Household::draw(&mut rng);
        let start = rng.random_range(0..=config.max_start_offset.min(total_days));
        let id = household_id(index);
        for offset in start..=total_days {
            let day = config.first_day + chrono::Days::new(u64::from(offset));
            household.readings(&mut rng, day, &mut readings);
            line.clear();
            DayStats::of(&mut readings).write_row(&mut rng, &id, day, &mut line);
            out.write_all(line.as_bytes())?;
            stats.rows += 1;
        }
        stats.households += 1;
        on_household(index);
    }
    out.flush()?;
    Ok(stats)
}

/// A household's habits, drawn once.
struct Household {
    /// Typical half-hourly consumption, kWh.
    level: f64,
    /// How much more it uses in winter (0.1 to 0.6).
    winter_boost: f64,
    /// Spread of the multiplicative noise.
    noise: f64,
}

impl Household {
    fn draw(rng: &mut Pcg64Mcg) -> Household {
        Household {
            level: 0.05 + 0.45 * rng.random::<f64>().powi(2),
            winter_boost: 0.1 + 0.5 * rng.random::<f64>(),
            noise: 0.25 + 0.35 * rng.random::<f64>(),
        }
    }

    /// The day's half-hourly readings; usually 48, on a few days fewer.
    fn readings(&self, rng: &mut Pcg64Mcg, day: NaiveDate, out: &mut Vec<f64>) {
        out.clear();
        let count = match rng.random::<f64>() {
            p if p < 0.0005 => 1,
            p if p < 0.01 => rng.random_range(30..48),
            _ => 48,
        };
        // Peaks in mid-January, lowest in mid-July.
        let season = (std::f64::consts::TAU * (f64::from(day.ordinal()) - 15.0) / 365.25).cos();
        let seasonal = 1.0 + self.winter_boost * season;
        for slot in 0..count {
            let hour = f64::from(slot) / 2.0;
            let profile = 0.55
                + 0.5 * (-((hour - 8.0) / 1.5).powi(2)).exp()
                + 0.9 * (-((hour - 19.0) / 2.5).powi(2)).exp();
            let noise = (self.noise * standard_normal(rng)).exp();
            out.push(self.level * seasonal * profile * noise);
        }
    }
}

/// One standard normal draw (Box–Muller; simple, and fixed forever).
fn standard_normal(rng: &mut Pcg64Mcg) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1], so ln is finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

struct DayStats {
    median: f64,
    mean: f64,
    max: f64,
    count: usize,
    std: Option<f64>,
    sum: f64,
    min: f64,
}

impl DayStats {
    fn of(readings: &mut [f64]) -> DayStats {
        readings.sort_by(f64::total_cmp);
        let n = readings.len();
        let sum: f64 = readings.iter().sum();
        let mean = sum / n as f64;
        let median = if n % 2 == 1 {
            readings[n / 2]
        } else {
            (readings[n / 2 - 1] + readings[n / 2]) / 2.0
        };
        let std = (n > 1).then(|| {
            let ss: f64 = readings.iter().map(|r| (r - mean).powi(2)).sum();
            (ss / (n - 1) as f64).sqrt()
        });
        DayStats {
            median,
            mean,
            max: readings[n - 1],
            count: n,
            std,
            sum,
            min: readings[0],
        }
    }

    /// Appends the CSV row. About one row in 2,000 loses one value, as meter
    /// data does; the missing value is an empty field.
    fn write_row(&self, rng: &mut Pcg64Mcg, id: &str, day: NaiveDate, line: &mut String) {
        use std::fmt::Write as _;
        let missing = if rng.random::<f64>() < 0.0005 {
            rng.random_range(0..7)
        } else {
            usize::MAX
        };
        let _ = write!(line, "{id},{}", day.format("%Y-%m-%d"));
        let values = [
            Some(self.median),
            Some(self.mean),
            Some(self.max),
            None, // count, written as an integer below
            self.std,
            Some(self.sum),
            Some(self.min),
        ];
        for (i, value) in values.iter().enumerate() {
            line.push(',');
            if i == missing {
                continue;
            }
            match (i, value) {
                (3, _) => {
                    let _ = write!(line, "{}", self.count);
                }
                (_, Some(v)) => {
                    let _ = write!(line, "{v:.6}");
                }
                (_, None) => {}
            }
        }
        line.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(config: &EnergyConfig) -> (Vec<u8>, EnergyStats) {
        let mut bytes = Vec::new();
        let stats = write_csv(config, &mut bytes, |_| {}).unwrap();
        (bytes, stats)
    }

    fn small() -> EnergyConfig {
        EnergyConfig {
            households: 20,
            ..EnergyConfig::default()
        }
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let (a, _) = generate(&small());
        let (b, _) = generate(&small());
        assert_eq!(a, b);
        let (c, _) = generate(&EnergyConfig { seed: 7, ..small() });
        assert_ne!(a, c);
    }

    #[test]
    fn a_household_does_not_depend_on_how_many_come_after_it() {
        let (five, _) = generate(&EnergyConfig {
            households: 5,
            ..small()
        });
        let (twenty, _) = generate(&small());
        assert!(twenty.starts_with(&five));
    }

    #[test]
    fn rows_are_contiguous_days_ending_on_the_last_day_with_consistent_stats() {
        let (bytes, stats) = generate(&small());
        let text = String::from_utf8(bytes).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(HEADER));
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), stats.rows);
        assert_eq!(stats.households, 20);
        let mut previous: Option<(&str, NaiveDate)> = None;
        let mut full_rows = 0;
        for row in &rows {
            assert_eq!(row.len(), 9, "{row:?}");
            let day = NaiveDate::parse_from_str(row[1], "%Y-%m-%d").unwrap();
            if let Some((id, prev_day)) = previous {
                if id == row[0] {
                    assert_eq!(day, prev_day + chrono::Days::new(1), "gap in {id}");
                } else {
                    assert_eq!(prev_day, small().last_day, "{id} ends early");
                }
            }
            previous = Some((row[0], day));
            let num = |i: usize| row[i].parse::<f64>().ok();
            if let (Some(median), Some(mean), Some(max), Some(sum), Some(min)) =
                (num(2), num(3), num(4), num(7), num(8))
            {
                let count: f64 = row[5].parse().unwrap();
                assert!(min <= median && median <= max, "{row:?}");
                assert!(min <= mean && mean <= max, "{row:?}");
                assert!((mean * count - sum).abs() < 1e-3, "{row:?}");
                full_rows += 1;
            }
        }
        assert!(full_rows > rows.len() * 99 / 100);
        // About 630 days per household on average.
        let per_household = rows.len() / 20;
        assert!((450..=830).contains(&per_household), "{per_household}");
    }

    #[test]
    fn the_default_size_is_about_the_real_dataset() {
        // Row count only depends on the start offsets; check it without writing.
        let config = EnergyConfig::default();
        let total_days = (config.last_day - config.first_day).num_days() as u32;
        assert_eq!(total_days, 828);
        let rows: u64 = (0..config.households)
            .map(|index| {
                let mut rng = Pcg64Mcg::seed_from_u64(
                    config.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                );
                let _ = Household::draw(&mut rng);
                let start = rng.random_range(0..=config.max_start_offset);
                u64::from(total_days - start + 1)
            })
            .sum();
        assert!((3_300_000..3_700_000).contains(&rows), "{rows}");
    }

    #[test]
    fn seasons_and_missing_values_show_up() {
        let (bytes, _) = generate(&EnergyConfig {
            households: 200,
            ..small()
        });
        let text = String::from_utf8(bytes).unwrap();
        let (mut winter, mut summer) = ((0.0, 0), (0.0, 0));
        let mut empty_fields = 0;
        for line in text.lines().skip(1) {
            let row: Vec<&str> = line.split(',').collect();
            empty_fields += row.iter().filter(|f| f.is_empty()).count();
            let Ok(sum) = row[7].parse::<f64>() else {
                continue;
            };
            if row[1].contains("-01-") {
                winter = (winter.0 + sum, winter.1 + 1);
            } else if row[1].contains("-07-") {
                summer = (summer.0 + sum, summer.1 + 1);
            }
        }
        assert!(winter.0 / winter.1 as f64 > 1.2 * summer.0 / summer.1 as f64);
        assert!(empty_fields > 0, "no missing values at all");
    }

    #[test]
    fn a_file_is_written_whole_into_a_new_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/energy.csv");
        let stats = write_csv_file(&small(), &path, |_| {}).unwrap();
        let (bytes, expected) = generate(&small());
        assert_eq!(stats, expected);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        let files: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(files.len(), 1, "no partial file left");
        let error = write_csv_file(&small(), &path.join("under-a-file.csv"), |_| {}).unwrap_err();
        assert_eq!(error.action, "create");
    }
}

//! [`TestRepo`]: a feature repository in its own temporary folder.

use std::path::{Path, PathBuf};

/// The energy demo repository, scaffolded by `quiver init`'s code into a
/// fresh temporary folder, with the CSV a test gives it.
pub struct TestRepo {
    dir: tempfile::TempDir,
}

/// The energy CSV's header: the generator's, which owns the columns.
pub use quiver_datagen::energy::HEADER as ENERGY_HEADER;

impl TestRepo {
    /// A new energy repository whose source holds `csv` (header included),
    /// on the online store `QUIVER_TEST_ONLINE_STORE` names
    /// ([`servers`](crate::servers)), the embedded one by default.
    pub fn energy(csv: &str) -> TestRepo {
        let dir = tempfile::tempdir().expect("a temporary folder");
        quiver_core::scaffold::init_energy_repo(dir.path()).expect("the template is written");
        let repo = TestRepo { dir };
        repo.write_source(csv);
        // The embedded store, unless the run names a test server.
        if let Some(settings) = crate::servers::online_store_under_test() {
            repo.set_online_store(&settings);
        }
        repo
    }

    /// The repository folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The source CSV file.
    pub fn source_file(&self) -> PathBuf {
        self.path().join(quiver_core::scaffold::ENERGY_SOURCE_FILE)
    }

    /// Replaces the source CSV.
    pub fn write_source(&self, csv: &str) {
        std::fs::create_dir_all(self.source_file().parent().unwrap()).unwrap();
        std::fs::write(self.source_file(), csv).unwrap();
    }

    /// Rewrites `quiver.toml` through `edit`.
    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let path = self.path().join(quiver_core::CONFIG_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, edit(text)).unwrap();
    }

    /// Replaces the `[online_store]` table (the template's last) with one
    /// holding `settings`, TOML lines such as `type = "redis"`.
    pub fn set_online_store(&self, settings: &str) {
        self.edit_config(|text| {
            let start = text
                .find("\n[online_store]\n")
                .expect("the template ends with its [online_store] table");
            format!("{}\n[online_store]\n{settings}\n", &text[..start])
        });
    }

    /// Rewrites the view's SQL file through `edit`.
    pub fn edit_sql(&self, edit: impl FnOnce(String) -> String) {
        let path = self.path().join("features/energy_features.sql");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, edit(text)).unwrap();
    }

    /// Every file of both stores with its bytes: a fingerprint
    /// to prove a failed job changed nothing.
    pub fn data_snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        collect(&self.path().join("data/offline"), &mut files);
        collect(&self.path().join("data/online"), &mut files);
        files.sort();
        files
            .into_iter()
            // The lock file changes whenever a reader opens the store: not data.
            .filter(|p| !p.ends_with("lock.mdb"))
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect()
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// One CSV line of the energy source; `None` is an empty (missing) field.
#[allow(
    clippy::too_many_arguments,
    reason = "one argument per CSV column, in the header's order"
)]
pub fn energy_line(
    id: &str,
    day: &str,
    sum: Option<f64>,
    count: Option<i64>,
    max: Option<f64>,
    mean: Option<f64>,
) -> String {
    let f = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    format!(
        "{id},{day},{median},{mean},{max},{count},{std},{sum},{min}",
        median = f(mean),
        mean = f(mean),
        max = f(max),
        count = count.map(|c| c.to_string()).unwrap_or_default(),
        std = "0.1",
        sum = f(sum),
        min = "0.01",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The template declares the generator's columns, in its order: the
    /// job reads CSV columns by position, so a drift would swap values.
    #[test]
    fn the_template_declares_the_columns_the_generator_writes() {
        let repo = TestRepo::energy(&format!("{ENERGY_HEADER}\n"));
        let repo = quiver_core::FeatureRepo::load(repo.path()).unwrap();
        let view = repo
            .feature_view(quiver_core::scaffold::ENERGY_VIEW)
            .unwrap();
        let declared: Vec<&str> = repo
            .source_of(view)
            .schema
            .as_ref()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(declared, ENERGY_HEADER.split(',').collect::<Vec<_>>());
        let line = energy_line("MAC000002", "2014-01-01", Some(1.0), Some(48), None, None);
        assert_eq!(line.split(',').count(), declared.len(), "{line}");
    }
}

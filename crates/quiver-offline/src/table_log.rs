//! A table's versions as people ask about them: when each was committed, by
//! what, doing what, and how many rows it added and removed (`quiver log`);
//! and which version a time-travel read (`--as-of-version`, `--as-of`) sees.
//!
//! Read straight from the commit files of the Delta log, so it describes
//! commits made by any engine (Spark writes the same actions). Rows come from
//! each `add` action's statistics; a `remove` carries no statistics, so its
//! rows are those of the `add` that brought the file in.

use chrono::{DateTime, Utc};
use deltalake::{DeltaTable, DeltaTableError};
use serde_json::Value;
use std::collections::HashMap;

/// The commit-info key Quiver's own commits carry, so `quiver log` can say
/// which Quiver wrote a version.
pub(crate) const QUIVER_VERSION_KEY: &str = "quiverVersion";

/// Which version of a table a read sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AsOf {
    /// The newest version.
    #[default]
    Latest,
    /// Exactly this version (`--as-of-version N`).
    Version(u64),
    /// The newest version committed at or before this instant (`--as-of T`).
    Time(DateTime<Utc>),
}

impl From<Option<u64>> for AsOf {
    fn from(version: Option<u64>) -> AsOf {
        version.map_or(AsOf::Latest, AsOf::Version)
    }
}

impl std::fmt::Display for AsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AsOf::Latest => f.write_str("latest version"),
            AsOf::Version(v) => write!(f, "version {v}"),
            AsOf::Time(t) => write!(f, "version as of {}", t.to_rfc3339()),
        }
    }
}

/// One version of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCommit {
    /// The table version this commit made.
    pub version: u64,
    /// When it was committed (the commit's own timestamp).
    pub timestamp: Option<DateTime<Utc>>,
    /// The Delta operation: `CREATE TABLE`, `WRITE`, `DELETE`, `OPTIMIZE`, ….
    pub operation: String,
    /// The operation's parameters as the writer recorded them (mode, predicate…).
    pub parameters: String,
    /// Rows in the files the commit added (`None` if a file had no statistics).
    pub rows_added: Option<u64>,
    /// Rows in the files the commit removed (`None` if unknown).
    pub rows_removed: Option<u64>,
    /// Data files added.
    pub files_added: usize,
    /// Data files removed.
    pub files_removed: usize,
    /// What wrote it: `quiver 0.1.0`, `Apache-Spark/3.5.3 Delta-Lake/3.2.1`, ….
    pub writer: String,
}

/// Every commit of `table` still in its log, oldest first.
pub(crate) async fn read_log(table: &DeltaTable) -> Result<Vec<TableCommit>, DeltaTableError> {
    let latest = table.version().ok_or(DeltaTableError::NotInitialized)?;
    let log_store = table.log_store();
    let mut rows_of_file: HashMap<String, Option<u64>> = HashMap::new();
    let mut commits = Vec::new();
    for version in 0..=latest {
        // Versions before the oldest kept commit file (after a checkpoint
        // and log clean-up) are gone; their files' rows then stay unknown.
        let Some(bytes) = log_store.read_commit_entry(version).await? else {
            continue;
        };
        commits.push(parse_commit(version, &bytes, &mut rows_of_file)?);
    }
    Ok(commits)
}

/// The newest version committed at or before `time`, or an error naming the
/// first version's time when `time` is before the table existed.
pub(crate) fn version_at(
    commits: &[TableCommit],
    time: DateTime<Utc>,
) -> Result<u64, Option<DateTime<Utc>>> {
    commits
        .iter()
        .filter(|c| c.timestamp.is_some_and(|t| t <= time))
        .map(|c| c.version)
        .max()
        .ok_or_else(|| commits.first().and_then(|c| c.timestamp))
}

fn parse_commit(
    version: u64,
    bytes: &[u8],
    rows_of_file: &mut HashMap<String, Option<u64>>,
) -> Result<TableCommit, DeltaTableError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DeltaTableError::Generic(format!("commit {version} is not UTF-8: {e}")))?;
    let mut commit = TableCommit {
        version,
        timestamp: None,
        operation: String::new(),
        parameters: String::new(),
        rows_added: Some(0),
        rows_removed: Some(0),
        files_added: 0,
        files_removed: 0,
        writer: String::new(),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let action: Value = serde_json::from_str(line).map_err(|e| {
            DeltaTableError::Generic(format!("commit {version} has a malformed line: {e}"))
        })?;
        if let Some(add) = action.get("add") {
            let rows = add
                .get("stats")
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|stats| stats.get("numRecords").and_then(Value::as_u64));
            commit.files_added += 1;
            // Another engine's statistics are not trusted to add up.
            commit.rows_added = commit
                .rows_added
                .zip(rows)
                .map(|(a, b)| a.saturating_add(b));
            if let Some(path) = add.get("path").and_then(Value::as_str) {
                rows_of_file.insert(path.to_string(), rows);
            }
        } else if let Some(remove) = action.get("remove") {
            let rows = remove
                .get("path")
                .and_then(Value::as_str)
                .and_then(|path| rows_of_file.remove(path))
                .flatten();
            commit.files_removed += 1;
            commit.rows_removed = commit
                .rows_removed
                .zip(rows)
                .map(|(a, b)| a.saturating_add(b));
        } else if let Some(info) = action.get("commitInfo") {
            commit.timestamp = info
                .get("inCommitTimestamp")
                .or_else(|| info.get("timestamp"))
                .and_then(Value::as_i64)
                .and_then(DateTime::from_timestamp_millis);
            commit.operation = info
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            // A table creation's parameters repeat the whole schema and
            // protocol; the rest (mode, predicate, …) are what people read.
            commit.parameters = info
                .get("operationParameters")
                .and_then(Value::as_object)
                .map(|params| {
                    params
                        .iter()
                        .filter(|(key, _)| !["metadata", "protocol"].contains(&key.as_str()))
                        .map(|(key, value)| (key.clone(), value.clone()))
                        .collect::<serde_json::Map<_, _>>()
                })
                .filter(|params| !params.is_empty())
                .map(|params| Value::Object(params).to_string())
                .unwrap_or_default();
            commit.writer = match info.get(QUIVER_VERSION_KEY).and_then(Value::as_str) {
                Some(quiver) => format!("quiver {quiver}"),
                None => ["engineInfo", "clientVersion"]
                    .iter()
                    .find_map(|key| info.get(*key).and_then(Value::as_str))
                    .unwrap_or("unknown")
                    .to_string(),
            };
        }
    }
    Ok(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_removed_are_those_the_file_was_added_with() {
        let mut files = HashMap::new();
        let first = br#"{"commitInfo":{"timestamp":1700000000000,"operation":"CREATE TABLE","engineInfo":"Apache-Spark/3.5.3 Delta-Lake/3.2.1"}}
{"add":{"path":"a.parquet","stats":"{\"numRecords\":3}"}}
{"add":{"path":"b.parquet","stats":"{\"numRecords\":4}"}}"#;
        let second = br#"{"commitInfo":{"timestamp":1700000060000,"operation":"WRITE","operationParameters":{"mode":"Overwrite"},"quiverVersion":"0.1.0"}}
{"remove":{"path":"a.parquet"}}
{"add":{"path":"c.parquet","stats":"{\"numRecords\":5}"}}"#;
        let v0 = parse_commit(0, first, &mut files).unwrap();
        let v1 = parse_commit(1, second, &mut files).unwrap();
        assert_eq!(
            (v0.rows_added, v0.rows_removed, v0.files_added),
            (Some(7), Some(0), 2)
        );
        assert_eq!(v0.writer, "Apache-Spark/3.5.3 Delta-Lake/3.2.1");
        assert_eq!(
            (v1.rows_added, v1.rows_removed, v1.files_removed),
            (Some(5), Some(3), 1)
        );
        assert_eq!(v1.writer, "quiver 0.1.0");
        assert_eq!(v1.parameters, r#"{"mode":"Overwrite"}"#);

        let commits = [v0, v1];
        let at = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        assert_eq!(version_at(&commits, at(1700000030000)), Ok(0));
        assert_eq!(version_at(&commits, at(1700000060000)), Ok(1));
        assert_eq!(
            version_at(&commits, at(1600000000000)),
            Err(Some(at(1700000000000)))
        );
    }

    #[test]
    fn a_file_without_statistics_makes_the_count_unknown() {
        let mut files = HashMap::new();
        let commit = br#"{"add":{"path":"a.parquet"}}
{"remove":{"path":"never-seen.parquet"}}"#;
        let parsed = parse_commit(3, commit, &mut files).unwrap();
        assert_eq!((parsed.rows_added, parsed.rows_removed), (None, None));
        assert_eq!(parsed.writer, "");
    }
}

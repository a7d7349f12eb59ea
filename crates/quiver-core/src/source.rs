//! A batch source is a table of raw events a feature view reads: a CSV file,
//! Parquet files or a Delta table.

use crate::ValueType;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// A table of raw data, read in full by the feature job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSource {
    /// Name used by feature views, and the SQL table name their queries read.
    pub name: String,
    /// File format.
    pub format: SourceFormat,
    /// Where the data is.
    pub location: SourceLocation,
    /// The column holding each row's event time, if the source has one.
    pub timestamp_field: Option<String>,
    /// Declared column types. Required for CSV so that a wrong value is an
    /// error naming its line instead of a silently different inferred type.
    pub schema: Option<IndexMap<String, ValueType>>,
    /// Free text for people.
    pub description: String,
}

/// The formats a batch source can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// Comma-separated values with a header row; an empty field is null.
    Csv,
    /// One Parquet file, or a folder of them.
    Parquet,
    /// A Delta Lake table.
    Delta,
}

impl SourceFormat {
    /// The name used in `quiver.toml`.
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Csv => "csv",
            SourceFormat::Parquet => "parquet",
            SourceFormat::Delta => "delta",
        }
    }
}

/// Where a source's data lives. Written in `quiver.toml` as a path relative to
/// the repository or as a URI; relative paths are resolved when the repository loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceLocation {
    /// An absolute local path.
    Local(PathBuf),
    /// A URI with a scheme other than `file`, kept as written.
    Uri(String),
}

impl SourceLocation {
    /// Resolves `text` (a path or a URI) against the repository root.
    pub fn resolve(text: &str, root: &std::path::Path) -> SourceLocation {
        if let Some(path) = text.strip_prefix("file://") {
            SourceLocation::Local(PathBuf::from(path))
        } else if text.contains("://") {
            SourceLocation::Uri(text.to_string())
        } else {
            SourceLocation::Local(root.join(text))
        }
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceLocation::Local(path) => write!(f, "{}", path.display()),
            SourceLocation::Uri(uri) => f.write_str(uri),
        }
    }
}

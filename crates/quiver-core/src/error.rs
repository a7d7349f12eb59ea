//! Errors in a feature repository's definitions. Each names the file and the
//! TOML key (or the view and column) so the fix is obvious.

use std::path::PathBuf;

/// A definition that cannot be loaded or does not hold together.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The TOML does not parse or does not match the expected shape.
    /// The inner message carries line and column.
    #[error("{}: {source}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's report, with line, column and the offending text.
        source: Box<toml::de::Error>,
    },
    /// A value is present but wrong.
    #[error("{}: `{key}`: {reason}", file.display())]
    Invalid {
        /// The file holding the definition.
        file: PathBuf,
        /// Dotted TOML path of the value, such as `feature_views.energy.ttl`.
        key: String,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// A definition refers to a name that is not defined.
    #[error("{}: `{key}`: unknown {kind} `{name}`; defined {kind}s: {}", file.display(), list(known))]
    UnknownName {
        /// The file holding the reference.
        file: PathBuf,
        /// Dotted TOML path of the reference.
        key: String,
        /// What kind of thing was named (`source`, `entity`, `feature view` …).
        kind: &'static str,
        /// The name that was not found.
        name: String,
        /// The names that do exist.
        known: Vec<String>,
    },
    /// The same name is used for two things that share a namespace.
    #[error("{}: the name `{name}` is used twice: by {first} and by {second}", file.display())]
    DuplicateName {
        /// The file.
        file: PathBuf,
        /// The name.
        name: String,
        /// The first user, such as `source energy`.
        first: String,
        /// The second user.
        second: String,
    },
    /// A feature view's SQL does not parse or plan.
    #[error("{}: feature view `{view}`: SQL error: {reason}", file.display())]
    Sql {
        /// The file holding the SQL (the TOML file or the `.sql` file).
        file: PathBuf,
        /// The view.
        view: String,
        /// DataFusion's report.
        reason: String,
    },
    /// A column of a feature view's output disagrees with its declaration.
    #[error("{}: feature view `{view}`, column `{column}`: {reason}", file.display())]
    Column {
        /// The file holding the view.
        file: PathBuf,
        /// The view.
        view: String,
        /// The column.
        column: String,
        /// What was expected and what was found.
        reason: String,
    },
    /// `quiver apply` has not been run, or the registry is unreadable.
    #[error("no registry at {}: run `quiver apply` in the repository first", path.display())]
    NotApplied {
        /// Where the registry was expected.
        path: PathBuf,
    },
    /// The registry file exists but is damaged.
    #[error("registry {} is damaged ({reason}); run `quiver apply` to rewrite it", path.display())]
    BadRegistry {
        /// The registry file.
        path: PathBuf,
        /// What the JSON parser said.
        reason: String,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

//! Errors in a feature repository's definitions. Each names the file and the
//! TOML key (or the view and column) so the fix is obvious.
//!
//! A message says only its own level: where a variant wraps a cause (an I/O
//! or TOML error) it is the `source`, not repeated in the text, and is shown
//! by printing the chain (`{:#}` of an `anyhow::Error`, or [`error_chain`]).
//! [`Foreign`] ends a chain at another library's error that already repeats
//! its causes.

use std::path::PathBuf;

/// A definition that cannot be loaded or does not hold together.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The TOML does not parse or does not match the expected shape.
    /// The cause carries line and column.
    #[error("{}", path.display())]
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
    /// `quiver init` found a repository where it was to write one.
    #[error("a repository already exists at {}; `quiver init` will not overwrite it", path.display())]
    AlreadyExists {
        /// The existing definitions file.
        path: PathBuf,
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

/// An error and its causes, `: ` between each, as one line: for logs and
/// answers that carry one string (a driver often nests the useful part
/// deep). The same text as anyhow's `{:#}`, for code that holds no
/// `anyhow::Error`; Quiver's errors say only their own level, so nothing is
/// repeated and nothing is skipped.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An error of another library (DataFusion, delta-rs, a database driver)
/// whose message already includes its own causes, as the last link of a
/// Quiver error's chain: it is shown by its message and reports no further
/// `source`, so a printed chain says each cause once. Only for libraries that
/// repeat their causes in their messages; an error that does not (an I/O
/// error, hyper's) is chained as it is.
pub struct Foreign(Box<dyn std::error::Error + Send + Sync + 'static>);

impl Foreign {
    /// Wraps `error`, whose message says all there is to say.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Foreign {
        Foreign(Box::new(error))
    }

    /// The library's error, to match on.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl std::fmt::Debug for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

/// No `source`: the message already says it (see the type's doc).
impl std::error::Error for Foreign {}

/// Names for a message: each in backticks, comma-separated; `none` for none.
pub(crate) fn list(names: &[String]) -> String {
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

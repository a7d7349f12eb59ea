//! Errors of the offline store.

/// Something the offline store could not do. Each names the table.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The view has no offline table yet.
    #[error("feature view `{view}` has no offline table at {table} yet; run `quiver run {view}`")]
    NoTable {
        /// The view.
        view: String,
        /// Where its table would be.
        table: String,
    },
    /// delta-rs failed to read or write the table.
    #[error("offline table {table}")]
    Delta {
        /// The table's URL.
        table: String,
        /// delta-rs's report.
        #[source]
        source: quiver_core::Foreign,
    },
    /// A query over the table failed.
    #[error("offline table {table}: query failed")]
    Query {
        /// The table's URL.
        table: String,
        /// DataFusion's report.
        #[source]
        source: quiver_core::Foreign,
    },
    /// The configured location cannot hold tables.
    #[error("offline store location `{location}`: {reason}")]
    Location {
        /// The location as configured.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A time-travel read asked for a version the table does not have.
    #[error("offline table {table} has no {asked}{}", describe_versions(*.newest, *.first_commit))]
    NoSuchVersion {
        /// The table's URL.
        table: String,
        /// What was asked for.
        asked: crate::AsOf,
        /// The table's newest version.
        newest: u64,
        /// When its first kept version was committed (for a time asked).
        first_commit: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The entity file of a training set is unusable.
    #[error("entity file {path} {problem}")]
    EntityFile {
        /// The file.
        path: String,
        /// What is wrong, with the row and value where there is one.
        problem: String,
    },
    /// A feature a request named is not one of the view's.
    #[error(transparent)]
    Reference(#[from] quiver_core::ReferenceError),
    /// Two requested features would be one output column.
    #[error(
        "feature `{name}` comes from both `{first}` and `{second}`; pass --full-feature-names to name them view__feature"
    )]
    FeatureNameClash {
        /// The column name.
        name: String,
        /// The first view.
        first: String,
        /// The second view.
        second: String,
    },
    /// An entity id given on the command line does not fit the key's type.
    #[error("`{id}` is not a valid {key_type} key for entity `{entity}`")]
    BadKey {
        /// The id.
        id: String,
        /// The entity.
        entity: String,
        /// The key's type.
        key_type: quiver_core::ValueType,
    },
}

fn describe_versions(newest: u64, first_commit: Option<chrono::DateTime<chrono::Utc>>) -> String {
    match first_commit {
        Some(first) => format!(
            ": its first version was committed at {}, later than that (`quiver log` lists them)",
            first.to_rfc3339()
        ),
        None => format!(": it has versions 0 to {newest} (`quiver log` lists them)"),
    }
}

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
    #[error("offline table {table}: {source}")]
    Delta {
        /// The table's URL.
        table: String,
        /// delta-rs's report.
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    /// A query over the table failed.
    #[error("offline table {table}: query failed: {source}")]
    Query {
        /// The table's URL.
        table: String,
        /// DataFusion's report.
        #[source]
        source: Box<deltalake::datafusion::error::DataFusionError>,
    },
    /// The configured location cannot hold tables.
    #[error("offline store location `{location}`: {reason}")]
    Location {
        /// The location as configured.
        location: String,
        /// What is wrong with it.
        reason: String,
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

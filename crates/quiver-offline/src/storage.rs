//! Where tables and files live: a local folder or an S3 bucket, and the
//! settings the object store needs to reach it.
//!
//! S3 goes through delta-rs's S3 support (object_store underneath). It takes
//! the usual AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`)
//! and the repository's `[offline_store] storage_options`, which win over
//! the environment. Commits use S3's conditional put (`If-None-Match: *`),
//! which AWS S3 and most S3-compatible stores support: of two jobs writing
//! the same version, one wins and the other retries on top of it, so no
//! DynamoDB lock table is needed (docs/DESIGN.md, "Safe commits on S3").

use deltalake::logstore::ObjectStoreRef;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use std::collections::HashMap;
use std::sync::Once;
use url::Url;

/// The URL schemes a location may have besides a local path.
pub const SUPPORTED_SCHEMES: [&str; 3] = ["s3", "s3a", "file"];

/// Teaches delta-rs the `s3://` scheme; harmless to call more than once.
pub fn register_cloud_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

/// How to reach one location: its URL and the object-store options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageOptions {
    options: HashMap<String, String>,
}

impl StorageOptions {
    /// Options as written in the repository (the environment adds the rest).
    pub fn new(options: impl IntoIterator<Item = (String, String)>) -> StorageOptions {
        register_cloud_handlers();
        StorageOptions {
            options: options.into_iter().collect(),
        }
    }

    /// A builder for the table at `url`, with these options.
    pub fn table_builder(&self, url: &Url) -> Result<DeltaTableBuilder, DeltaTableError> {
        register_cloud_handlers();
        Ok(DeltaTableBuilder::from_url(url.clone())?.with_storage_options(self.options.clone()))
    }

    /// An unloaded table handle at `url` (for creating a table).
    pub fn table(&self, url: &Url) -> Result<DeltaTable, DeltaTableError> {
        self.table_builder(url)?.build()
    }

    /// The object store holding `url` (its bucket, for `s3://`), to register
    /// in a DataFusion session that reads plain files there.
    pub fn object_store(&self, url: &Url) -> Result<(Url, ObjectStoreRef), DeltaTableError> {
        let mut root = url.clone();
        root.set_path("/");
        let log_store = self.table_builder(&root)?.build_storage()?;
        Ok((root, log_store.root_object_store(None)))
    }
}

/// Whether `url` is on the local file system.
pub fn is_local(url: &Url) -> bool {
    url.scheme() == "file"
}

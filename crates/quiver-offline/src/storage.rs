//! Where tables and files live: a local folder or an S3 bucket, and the
//! settings the object store needs to reach it.
//!
//! S3 goes through object_store's own S3 client, registered with delta-rs for
//! the `s3://` and `s3a://` schemes. It takes the usual AWS variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, and the web-identity,
//! container and instance credentials object_store finds itself) and the
//! repository's `[offline_store] storage_options`, which win over the
//! environment. Commits use S3's conditional put (`If-None-Match: *`), which
//! AWS S3 and most S3-compatible stores support: of two jobs writing the same
//! version, one wins and the other retries on top of it, so no lock table is
//! needed (docs/DESIGN.md, "Safe commits on S3"). delta-rs's own AWS crate is
//! not used: since delta-rs 1.0 it adds nothing to the commit protocol, and
//! its AWS SDK (profile and SSO credentials) was 4 % of the first build's
//! compiling (docs/DESIGN.md, "The first build").

use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore,
    logstore_factories, object_store_factories,
};
use deltalake::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStoreScheme;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Once};
use url::Url;

/// The URL schemes a location may have besides a local path.
pub const SUPPORTED_SCHEMES: [&str; 3] = ["s3", "s3a", "file"];

/// Teaches delta-rs the `s3://` and `s3a://` schemes; harmless to call more
/// than once.
pub fn register_cloud_handlers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["s3://", "s3a://"] {
            let url = Url::parse(scheme).expect("a scheme alone is a valid URL");
            object_store_factories().insert(url.clone(), Arc::new(S3Stores));
            logstore_factories().insert(url, Arc::new(S3Stores));
        }
    });
}

/// Builds the S3 client for a bucket, and the log store over it.
struct S3Stores;

impl ObjectStoreFactory for S3Stores {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        // The environment first, then the repository's options over it.
        let mut builder = AmazonS3Builder::from_env()
            .with_url(url.as_str())
            .with_retry(config.retry.clone());
        for (key, value) in &config.raw {
            if let Ok(key) = AmazonS3ConfigKey::from_str(&key.to_ascii_lowercase()) {
                builder = builder.with_config(key, value.clone());
            }
        }
        let (_, prefix) = ObjectStoreScheme::parse(url)
            .map_err(|error| DeltaTableError::InvalidTableLocation(format!("{url}: {error}")))?;
        Ok((Arc::new(builder.build()?), prefix))
    }
}

impl LogStoreFactory for S3Stores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        // delta-rs's default log store commits with a conditional put.
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
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

/// A hint for an S3 error about credentials: the environment names an AWS
/// profile but holds no keys, and this client reads no `~/.aws` profiles.
pub(crate) fn profile_hint() -> Option<String> {
    profile_hint_for(
        std::env::var("AWS_PROFILE").ok().as_deref(),
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
    )
}

fn profile_hint_for(profile: Option<&str>, keys_in_environment: bool) -> Option<String> {
    match profile {
        Some(profile) if !profile.is_empty() && !keys_in_environment => Some(format!(
            "AWS_PROFILE is `{profile}`, but Quiver does not read ~/.aws profiles: export \
             its credentials first with `eval \"$(aws configure export-credentials --format env)\"`"
        )),
        _ => None,
    }
}

/// Whether `url` is on the local file system.
pub fn is_local(url: &Url) -> bool {
    url.scheme() == "file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_without_keys_gets_a_hint_naming_it() {
        let hint = profile_hint_for(Some("analytics"), false).expect("a hint");
        assert!(hint.contains("`analytics`"), "{hint}");
        assert!(hint.contains("aws configure export-credentials"), "{hint}");
    }

    #[test]
    fn keys_in_the_environment_or_no_profile_need_no_hint() {
        assert_eq!(profile_hint_for(Some("analytics"), true), None);
        assert_eq!(profile_hint_for(None, false), None);
        assert_eq!(profile_hint_for(Some(""), false), None);
    }
}

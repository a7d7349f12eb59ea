//! The embedded store against the shared OnlineStore conformance suite.

use quiver_online::{EmbeddedStore, EmbeddedStoreConfig};

/// A store in its own temporary folder, kept alive as long as the store.
pub struct TempStore {
    store: EmbeddedStore,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TempStore {
    type Target = EmbeddedStore;
    fn deref(&self) -> &EmbeddedStore {
        &self.store
    }
}

pub async fn fresh_store() -> TempStore {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&EmbeddedStoreConfig::at(dir.path().join("online"))).unwrap();
    TempStore { store, _dir: dir }
}

quiver_test::online_store_conformance!(fresh_store());

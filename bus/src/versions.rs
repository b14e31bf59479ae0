//! Function versions on the bus: one [`VersionRecord`] per kept version in
//! the [`versions`](protocol::JetStreamNames::versions) key-value bucket,
//! under `<bucket>.<function>.<digest>`.
//!
//! Only the dispatcher writes it (at upload, on a version's or a function's
//! deletion, and for retention), and it waits for every live
//! [`VersionWatch`] to apply a write before it answers, as it does for the
//! registry: once an upload answered, `Faas-Version: <its digest>` resolves
//! on every executor, from memory.

use std::sync::Arc;
use std::time::Duration;

use protocol::versions::{self, VersionRecord, version_key, version_key_prefix};
use protocol::{BucketName, ErrorBody, FunctionRef};

use crate::definitions::{DefinitionError, DefinitionStore};
use crate::followed_map::FollowedMap;

/// Every kept version of every function.
#[derive(Clone)]
pub struct VersionStore {
    records: DefinitionStore<VersionRecord>,
}

impl VersionStore {
    /// Opens the store, creating it on first use.
    pub async fn open(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
    ) -> Result<Self, DefinitionError> {
        let records = DefinitionStore::open_capped(
            client,
            layout,
            &layout.names.versions(),
            "version",
            crate::StoreQuotas::DEFAULT.versions,
        )
        .await?;
        Ok(Self { records })
    }

    /// Opens the store, waiting for JetStream.
    pub async fn open_when_ready(client: &async_nats::Client, layout: &crate::JetStreamLayout) -> Self {
        crate::retry("version store", || Self::open(client, layout)).await
    }

    /// The record of `function`'s version `digest`, if kept.
    pub async fn get(
        &self,
        function: &FunctionRef,
        digest: &str,
    ) -> Result<Option<VersionRecord>, DefinitionError> {
        match self.records.get(&version_key(function, digest)).await {
            Ok(record) => Ok(Some(record)),
            Err(DefinitionError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Records a version of `function`; returns the revision to wait for.
    pub async fn put(&self, function: &FunctionRef, record: &VersionRecord) -> Result<u64, DefinitionError> {
        self.records.put(&version_key(function, &record.digest), record).await
    }

    /// Every kept version of `function`, newest upload first.
    pub async fn list(&self, function: &FunctionRef) -> Result<Vec<VersionRecord>, DefinitionError> {
        let mut records: Vec<VersionRecord> = self
            .records
            .list_under(&version_key_prefix(function))
            .await?
            .into_iter()
            .map(|(_, record)| record)
            .collect();
        records.sort_by(|a, b| b.uploaded_at_ms.cmp(&a.uploaded_at_ms).then_with(|| a.digest.cmp(&b.digest)));
        Ok(records)
    }

    /// Forgets `function`'s version `digest`; the revision to wait for, if it was kept.
    pub async fn remove(&self, function: &FunctionRef, digest: &str) -> Result<Option<u64>, DefinitionError> {
        match self.records.delete(&version_key(function, digest)).await {
            Ok(revision) => Ok(Some(revision)),
            Err(DefinitionError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Forgets every version of `function`; the last revision to wait for.
    pub async fn remove_function(&self, function: &FunctionRef) -> Result<Option<u64>, DefinitionError> {
        self.remove_under(&version_key_prefix(function)).await
    }

    /// Forgets every version of every function of `bucket`.
    pub async fn remove_bucket(&self, bucket: &BucketName) -> Result<Option<u64>, DefinitionError> {
        self.remove_under(&format!("{bucket}.")).await
    }

    async fn remove_under(&self, prefix: &str) -> Result<Option<u64>, DefinitionError> {
        let mut last = None;
        for (key, _) in self.records.list_under(prefix).await? {
            match self.records.delete(&key).await {
                Ok(revision) => last = Some(revision),
                Err(DefinitionError::NotFound { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(last)
    }

    /// Every digest some kept version has: what the artifact sweep keeps
    /// besides the current ones.
    pub async fn digests(&self) -> Result<std::collections::HashSet<String>, DefinitionError> {
        Ok(self.records.list().await?.into_iter().map(|(_, record)| record.digest).collect())
    }

    /// Waits until every live [`VersionWatch`] has applied `revision`.
    pub async fn wait_for_followers(&self, revision: u64, timeout: Duration) -> Result<(), DefinitionError> {
        self.records.wait_for_followers(revision, timeout).await
    }

    /// Starts following the versions; see [`VersionWatch`].
    pub async fn watch(&self, client: &async_nats::Client) -> Result<VersionWatch, DefinitionError> {
        let map = FollowedMap::start(self.records.follow(client).await?);
        Ok(VersionWatch { map, store: self.clone() })
    }
}

/// An executor's live copy of every kept version.
#[derive(Clone)]
pub struct VersionWatch {
    map: FollowedMap<VersionRecord>,
    store: VersionStore,
}

impl VersionWatch {
    /// The digest of `function`'s version that `selector` names (a digest
    /// or a unique prefix of at least 8 hex characters): from memory, or
    /// from the store while the copy is not known current.
    /// `version_not_found`, or `bad_request` for a malformed or ambiguous
    /// selector; `unavailable` when the store cannot be read.
    pub async fn resolve(&self, function: &FunctionRef, selector: &str) -> Result<String, ErrorBody> {
        let selector = versions::check_selector(selector)?;
        let prefix = format!("{}{selector}", version_key_prefix(function));
        let records: Vec<Arc<VersionRecord>> = match self.map.under(&prefix) {
            Some(found) => found.into_iter().map(|(_, record)| record).collect(),
            // Boxed: the store's read would otherwise size every pinned
            // call's future, though the followed map answers almost all.
            None => Box::pin(self.store.list(function))
                .await
                .map_err(|e| ErrorBody::new(e.code(), e.to_string()))?
                .into_iter()
                .map(Arc::new)
                .collect(),
        };
        versions::resolve(function, &selector, records.iter().map(|record| record.digest.as_str()))
    }
}

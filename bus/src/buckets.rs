//! Bucket settings on the bus: one [`BucketSettings`] per bucket in the
//! [`bucket_settings`](protocol::JetStreamNames::bucket_settings) key-value bucket, a definition store of its own.
//!
//! Dispatchers write them (creating, configuring and deleting buckets) and
//! wait for every live [`BucketSettingsWatch`] to apply a write before they
//! answer, so once `PATCH /bucket/{b}` turns `public_invoke` off, no api
//! lets a caller without a token in any more. Every api follows the bucket,
//! so checking a request is a map read.

use std::collections::HashMap;
use std::time::Duration;

use protocol::BucketName;
use protocol::buckets::BucketSettings;

use crate::definitions::{DefinitionError, DefinitionStore};
use crate::followed_map::{FollowedMap, MapLookup};

/// The settings of every bucket that has any.
#[derive(Clone)]
pub struct BucketSettingsStore {
    definitions: DefinitionStore<BucketSettings>,
}

impl BucketSettingsStore {
    /// Opens the store, creating it on first use.
    pub async fn open(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
    ) -> Result<Self, DefinitionError> {
        let definitions =
            DefinitionStore::open(client, layout, &layout.names.bucket_settings(), "bucket-settings").await?;
        Ok(Self { definitions })
    }

    /// Opens the store, waiting for JetStream.
    pub async fn open_when_ready(client: &async_nats::Client, layout: &crate::JetStreamLayout) -> Self {
        crate::retry("bucket settings store", || Self::open(client, layout)).await
    }

    /// `bucket`'s settings, read from the store; the defaults if it has none.
    pub async fn get(&self, bucket: &BucketName) -> Result<BucketSettings, DefinitionError> {
        // Boxed, as the registry's read: it is the rare path of its callers.
        match Box::pin(self.definitions.get(bucket.as_str())).await {
            Err(DefinitionError::NotFound { .. }) => Ok(BucketSettings::default()),
            found => found,
        }
    }

    /// Every bucket's settings that has any, by bucket name.
    pub async fn list(&self) -> Result<HashMap<String, BucketSettings>, DefinitionError> {
        Ok(self.definitions.list().await?.into_iter().collect())
    }

    /// Stores `bucket`'s settings; returns the revision to wait for.
    pub async fn put(&self, bucket: &BucketName, settings: &BucketSettings) -> Result<u64, DefinitionError> {
        self.definitions.put(bucket.as_str(), settings).await
    }

    /// Forgets `bucket`'s settings; the revision to wait for, if it had any.
    pub async fn remove(&self, bucket: &BucketName) -> Result<Option<u64>, DefinitionError> {
        match self.definitions.delete(bucket.as_str()).await {
            Ok(revision) => Ok(Some(revision)),
            Err(DefinitionError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Waits until every live [`BucketSettingsWatch`] has applied `revision`.
    pub async fn wait_for_followers(&self, revision: u64, timeout: Duration) -> Result<(), DefinitionError> {
        self.definitions.wait_for_followers(revision, timeout).await
    }

    /// Starts following the settings; see [`BucketSettingsWatch`].
    pub async fn watch(&self, client: &async_nats::Client) -> Result<BucketSettingsWatch, DefinitionError> {
        Ok(BucketSettingsWatch { map: FollowedMap::start(self.definitions.follow(client).await?) })
    }
}

/// An api's live copy of every bucket's settings.
#[derive(Clone)]
pub struct BucketSettingsWatch {
    map: FollowedMap<BucketSettings>,
}

impl BucketSettingsWatch {
    /// `bucket`'s settings; `None` while the copy is not known current
    /// (then read the store).
    pub fn settings(&self, bucket: &BucketName) -> Option<BucketSettings> {
        match self.map.lookup(bucket.as_str()) {
            MapLookup::Found(settings) => Some((*settings).clone()),
            MapLookup::Absent => Some(BucketSettings::default()),
            MapLookup::Unknown => None,
        }
    }
}

//! Pipeline definitions, followed: the runner's copy of
//! [`pipelines`](protocol::JetStreamNames::pipelines), so a run reads its
//! definition from memory instead of the bucket.
//!
//! The copy is an acked follower ([`crate::follower`]) applied into a
//! [`FollowedMap`], and the dispatcher's `put_pipeline` / `delete_pipeline`
//! wait for every live [`PipelineWatch`] to apply their write before they
//! answer: once a PUT or DELETE answered, the next run anywhere uses the new
//! definition or finds none (an exact invalidation, not a time to live).
//! While the copy is not known current (starting, or reconnected and not
//! caught up) a run reads the bucket, as runs did before the copy existed.

use std::sync::Arc;

use protocol::PipelineSpec;

use crate::definitions::{DefinitionError, DefinitionStore};
use crate::followed_map::{FollowedMap, MapLookup};

/// The `kind` of the pipeline store: names its followers' consumers
/// (`faas-pipeline-follower-*`) and maps a missing one to `pipeline_not_found`.
pub const PIPELINE_KIND: &str = "pipeline";

/// Opens the pipeline definitions, waiting for JetStream.
pub async fn open_pipelines(
    client: &async_nats::Client,
    layout: &crate::JetStreamLayout,
) -> DefinitionStore<PipelineSpec> {
    DefinitionStore::open_when_ready(client, layout, &layout.names.pipelines(), PIPELINE_KIND).await
}

/// A pipeline runner's live copy of every pipeline definition.
#[derive(Clone)]
pub struct PipelineWatch {
    map: FollowedMap<PipelineSpec>,
    store: DefinitionStore<PipelineSpec>,
}

impl PipelineWatch {
    /// Starts following `store`.
    pub async fn start(
        store: DefinitionStore<PipelineSpec>,
        client: &async_nats::Client,
    ) -> Result<Self, DefinitionError> {
        let map = FollowedMap::start(store.follow(client).await?);
        Ok(Self { map, store })
    }

    /// The definition of `name`: from memory, or from the bucket while the
    /// copy is not known current; `NotFound` (`pipeline_not_found`) when
    /// there is none.
    pub async fn get(&self, name: &str) -> Result<Arc<PipelineSpec>, DefinitionError> {
        match self.map.lookup(name) {
            MapLookup::Found(spec) => Ok(spec),
            MapLookup::Absent => {
                Err(DefinitionError::NotFound { kind: PIPELINE_KIND, name: name.to_owned() })
            }
            MapLookup::Unknown => Ok(Arc::new(self.store.get(name).await?)),
        }
    }
}

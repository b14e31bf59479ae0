//! The transfer object store: how components cross the bus.
//!
//! A component can be tens of MB while a stock nats-server takes 1 MB per
//! message. So bytes never ride in request messages: the sender stages them in
//! a JetStream object store (which chunks them) and sends the object's name;
//! the receiver reads the object and deletes it. Objects left behind by a
//! crashed peer expire after [`TRANSFER_TTL`].

use std::time::Duration;

use async_nats::jetstream::{self, object_store};
use bytes::Bytes;
use protocol::StagedObject;

use crate::stores::JetStreamLayout;
use tokio::io::AsyncReadExt;

/// How long a staged object may wait for its receiver.
pub const TRANSFER_TTL: Duration = Duration::from_secs(15 * 60);

/// A transfer failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// JetStream is not enabled or not reachable.
    #[error("the transfer store is unavailable (is JetStream enabled?): {0}")]
    Unavailable(String),
    /// The store is at its byte cap: too many transfers at once.
    #[error(transparent)]
    Full(crate::StoreError),
    /// The staged object is gone (expired or already taken).
    #[error("staged object {0} not found")]
    Missing(String),
    /// The object is larger than the receiver accepts.
    #[error("object of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Object size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

/// Handle on the transfer object store.
#[derive(Clone)]
pub struct TransferStore {
    store: object_store::ObjectStore,
    name: String,
}

impl TransferStore {
    /// Opens the store, creating it on first use.
    pub async fn open(client: &async_nats::Client, layout: &JetStreamLayout) -> Result<Self, TransferError> {
        let config = object_store::Config {
            bucket: layout.names.transfer_store(),
            description: Some("wasm-faas: components in transit between api and dispatcher".into()),
            max_age: TRANSFER_TTL,
            max_bytes: crate::StoreQuotas::DEFAULT.transfer,
            ..Default::default()
        };
        let store = crate::open_or_create(&jetstream::new(client.clone()), layout.replicas, config)
            .await
            .map_err(|e| TransferError::Unavailable(e.reason))?;
        Ok(Self { store, name: layout.names.transfer_store() })
    }

    /// Opens the store, waiting for JetStream: when every service starts at
    /// once, NATS may not be up yet.
    pub async fn open_when_ready(client: &async_nats::Client, layout: &JetStreamLayout) -> Self {
        crate::retry("transfer store", || Self::open(client, layout)).await
    }

    /// Stages `bytes` under a fresh name.
    pub async fn stage(&self, bytes: Bytes) -> Result<StagedObject, TransferError> {
        let name = uuid::Uuid::new_v4().to_string();
        let size = bytes.len() as u64;
        if let Err(err) = self.store.put(name.as_str(), &mut bytes.as_ref()).await {
            // Chunks stored before the refusal would wait for the TTL.
            let _ = self.store.delete(name.as_str()).await;
            return Err(match crate::StoreError::from_reason(&self.name, err) {
                full @ crate::StoreError::Full { .. } => TransferError::Full(full),
                crate::StoreError::Unavailable { reason, .. } => TransferError::Unavailable(reason),
            });
        }
        Ok(StagedObject { name, size })
    }

    /// Reads a staged object and deletes it, refusing objects over `limit`.
    pub async fn take(&self, staged: &StagedObject, limit: u64) -> Result<Bytes, TransferError> {
        if staged.size > limit {
            self.discard(staged).await;
            return Err(TransferError::TooLarge { size: staged.size, limit });
        }
        let mut object =
            self.store.get(&staged.name).await.map_err(|_| TransferError::Missing(staged.name.clone()))?;
        let mut bytes = Vec::with_capacity(staged.size as usize);
        (&mut object)
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| TransferError::Unavailable(e.to_string()))?;
        self.discard(staged).await;
        if bytes.len() as u64 > limit {
            return Err(TransferError::TooLarge { size: bytes.len() as u64, limit });
        }
        Ok(Bytes::from(bytes))
    }

    /// Deletes a staged object; a failure only leaves it to expire.
    pub async fn discard(&self, staged: &StagedObject) {
        let _ = self.store.delete(&staged.name).await;
    }

    /// Reads the staged object `name` as a stream of chunks, without
    /// holding it all in memory, and deletes it once read to its end (a
    /// reader that stops early, such as a client that went away, leaves
    /// it to expire). For bodies whose size the sender already bounded.
    pub async fn take_stream(
        &self,
        name: &str,
    ) -> Result<impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static, TransferError> {
        let object = self.store.get(name).await.map_err(|_| TransferError::Missing(name.to_owned()))?;
        let store = self.clone();
        let staged = StagedObject { name: name.to_owned(), size: 0 };
        Ok(futures::stream::unfold(Some(object), move |object| {
            let (store, staged) = (store.clone(), staged.clone());
            async move {
                let mut object = object?;
                let mut chunk = bytes::BytesMut::with_capacity(STREAM_CHUNK);
                match object.read_buf(&mut chunk).await {
                    Ok(0) => {
                        store.discard(&staged).await;
                        None
                    }
                    Ok(_) => Some((Ok(chunk.freeze()), Some(object))),
                    Err(err) => Some((Err(err), None)),
                }
            }
        }))
    }
}

/// How much of a staged object [`TransferStore::take_stream`] reads at once.
const STREAM_CHUNK: usize = 128 << 10;

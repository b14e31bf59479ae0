//! When each api token was last used, shared by every api: one entry per
//! token id in the [`token_usage`](protocol::JetStreamNames::token_usage) key-value bucket, holding Unix
//! milliseconds.
//!
//! Not a security record (nothing is decided from it), so each api writes
//! it itself, from a background task, at most once per token per flush
//! interval: what `GET /tokens` shows is at most that interval old for a
//! use seen by another api.

use std::collections::HashMap;

use async_nats::jetstream::{self, kv};

use crate::tokens::TokenStoreError;

/// Handle on the token usage bucket.
#[derive(Clone)]
pub struct TokenUsage {
    kv: kv::Store,
}

impl TokenUsage {
    /// Opens the bucket, creating it on first use.
    pub async fn open(
        client: &async_nats::Client,
        layout: &crate::JetStreamLayout,
    ) -> Result<Self, TokenStoreError> {
        let config = kv::Config {
            bucket: layout.names.token_usage(),
            description: "wasm-faas: when each api token was last used (unix ms)".into(),
            history: 1,
            max_bytes: crate::StoreQuotas::DEFAULT.definitions,
            ..Default::default()
        };
        let kv = crate::open_or_create(&jetstream::new(client.clone()), layout.replicas, config)
            .await
            .map_err(|e| TokenStoreError::Unavailable(e.reason))?;
        Ok(Self { kv })
    }

    /// Records that token `id` was last used at `at_ms`.
    pub async fn record(&self, id: &str, at_ms: u64) -> Result<(), TokenStoreError> {
        self.kv.put(id, at_ms.to_string().into()).await.map_err(unavailable)?;
        Ok(())
    }

    /// Forgets token `id`'s last use (it was revoked).
    pub async fn forget(&self, id: &str) -> Result<(), TokenStoreError> {
        self.kv.purge(id).await.map_err(unavailable)
    }

    /// The last use of every token that has one.
    pub async fn all(&self) -> Result<HashMap<String, u64>, TokenStoreError> {
        let values = crate::snapshot::current_values(&self.kv).await.map_err(TokenStoreError::Unavailable)?;
        Ok(values
            .into_iter()
            .filter_map(|(id, value)| Some((id, std::str::from_utf8(&value).ok()?.parse().ok()?)))
            .collect())
    }
}

fn unavailable(err: impl std::fmt::Display) -> TokenStoreError {
    TokenStoreError::Unavailable(err.to_string())
}

//! Event budgets: how many functions one event's chain of triggers may run,
//! every branch of a fan-out counted.
//!
//! The hop count an event carries bounds a chain's depth, not its width: K
//! triggers on each side of a two-subject cycle would run K^hops functions.
//! So every trigger event spends one unit of a counter shared by all
//! dispatchers, keyed by the event's root request id (which every link of a
//! chain carries on), in the key-value bucket
//! [`event_budgets`](protocol::JetStreamNames::event_budgets); an event that finds the counter at
//! the budget is refused. The counter is incremented with compare-and-set,
//! so concurrent branches on several dispatchers never overspend, and it
//! expires a window after its last use (the bucket's max age).

use std::time::Duration;

use async_nats::jetstream::{self, kv};

use crate::stores::{JetStreamLayout, StoreError, StoreQuota};

/// Compare-and-set rounds before a spend gives up; only many branches of
/// one event racing on one counter lose this often.
const SPEND_ROUNDS: usize = 32;

/// Why an event may not run.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// Its chain has run `budget` functions already.
    #[error("this event's chain of triggers has run {budget} functions, its budget (FAAS_EVENT_BUDGET)")]
    Exceeded {
        /// The budget.
        budget: u32,
    },
    /// The counter could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Handle on the shared counters.
#[derive(Clone)]
pub struct EventBudgets {
    kv: kv::Store,
    budget: u32,
}

impl EventBudgets {
    /// Opens the counters (created on first use, expiring `window` after
    /// their last use); each root request may run `budget` functions.
    pub async fn open(
        client: &async_nats::Client,
        layout: &JetStreamLayout,
        budget: u32,
        window: Duration,
        quota: StoreQuota,
    ) -> Result<Self, StoreError> {
        let config = kv::Config {
            bucket: layout.names.event_budgets(),
            description: "wasm-faas: functions run per root request id by chains of triggers".into(),
            history: 1,
            max_age: window,
            max_bytes: quota.max_bytes,
            ..Default::default()
        };
        let kv = crate::open_or_create(&jetstream::new(client.clone()), layout.replicas, config).await?;
        Ok(Self { kv, budget })
    }

    /// Spends one unit of `request_id`'s budget; returns the units spent so far.
    pub async fn spend(&self, request_id: &str) -> Result<u32, BudgetError> {
        // Request ids are any header value; keys are a narrow alphabet.
        let key = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, request_id.as_bytes()).simple().to_string();
        for _ in 0..SPEND_ROUNDS {
            let entry = self.kv.entry(key.as_str()).await.map_err(|e| self.error(e))?;
            let current = entry.filter(|e| e.operation == kv::Operation::Put);
            let Some(current) = current else {
                match self.kv.create(key.as_str(), "1".into()).await {
                    Ok(_) => return Ok(1),
                    Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => continue,
                    Err(err) => return Err(self.error(err).into()),
                }
            };
            let spent: u32 =
                std::str::from_utf8(&current.value).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
            if spent >= self.budget {
                return Err(BudgetError::Exceeded { budget: self.budget });
            }
            let next = (spent + 1).to_string();
            match self.kv.update(key.as_str(), next.into(), current.revision).await {
                Ok(_) => return Ok(spent + 1),
                Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Err(err) => return Err(self.error(err).into()),
            }
        }
        Err(StoreError::Unavailable {
            store: self.kv.name.clone(),
            reason: format!("the counter changed under {SPEND_ROUNDS} attempts to update it"),
        }
        .into())
    }

    fn error(&self, err: impl std::fmt::Display) -> StoreError {
        StoreError::from_reason(&self.kv.name, err)
    }
}

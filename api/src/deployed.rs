//! Whether a function is deployed, for job submissions, without a round
//! trip: the api's live copy of the function registry
//! ([`bus::RegistryWatch`], the acked follower executors keep too; the
//! dispatcher answers a deploy, a deletion or an alias move only once every
//! live copy has applied it, so the copy is exact), read from the registry
//! itself while the copy is not known current. The copy is started by the
//! first job submission, so an api that never takes a job follows nothing.

use std::sync::{Arc, Once, OnceLock};

use bus::{FunctionRegistry, JetStreamLayout, RegistryWatch};
use protocol::{FunctionRef, FunctionVersion};

use crate::error::ApiError;
use crate::state::AppState;

/// The api's copy of the registry, once started.
pub struct Deployed {
    /// Set by the task that opens it.
    watch: Arc<OnceLock<RegistryWatch>>,
    started: Once,
}

impl Default for Deployed {
    fn default() -> Self {
        Self { watch: Arc::default(), started: Once::new() }
    }
}

impl Deployed {
    /// `function`'s registry entry (`None`: not deployed).
    pub async fn entry(
        &self,
        state: &AppState,
        function: &FunctionRef,
    ) -> Result<Option<Arc<FunctionVersion>>, ApiError> {
        if let Some(entry) = self.watch.get().and_then(|watch| watch.entry(function)) {
            return Ok(entry);
        }
        self.start(&state.client, &state.layout);
        Ok(state.registry().await?.get(function).await?.map(Arc::new))
    }

    /// Starts following the registry from a task of its own, once.
    fn start(&self, client: &async_nats::Client, layout: &JetStreamLayout) {
        self.started.call_once(|| {
            let (client, layout) = (client.clone(), layout.clone());
            let cell = Arc::downgrade(&self.watch);
            tokio::spawn(async move {
                let watch = bus::retry("function registry watch", || async {
                    FunctionRegistry::open(&client, &layout).await?.watch(&client).await
                })
                .await;
                if let Some(cell) = cell.upgrade() {
                    let _ = cell.set(watch);
                }
            });
        });
    }
}

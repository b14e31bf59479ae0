//! Which version a call runs when aliases are involved.
//!
//! A call names its version by `Faas-Version` (a digest prefix or an alias
//! name, told apart by shape: an alias always holds a non-hex character) or
//! not at all (the alias `current`). Aliases and `current`'s weights live in
//! the function's registry entry, which this executor follows with the
//! same acked watch as the current digest, so a moved alias applies to the
//! next call here as soon as the dispatcher answered. A weighted alias
//! picks per call: by the hash of `Faas-Route-Key` when the caller sent
//! one (sticky), else at random.

use std::sync::Arc;

use bus::{FunctionRegistry, RegistryWatch, VersionWatch};
use protocol::aliases;
use protocol::{ErrorBody, ErrorCode, FunctionRef, FunctionVersion, headers};

use crate::components::Components;
use crate::error::ExecError;
use crate::loader::Loaded;

/// The registry and this executor's copy of it, read for aliases.
#[derive(Clone)]
pub struct AliasRoutes {
    registry: FunctionRegistry,
    watch: RegistryWatch,
}

impl AliasRoutes {
    /// Routes over `registry`, read through `watch` while it is current.
    pub fn new(registry: FunctionRegistry, watch: RegistryWatch) -> Self {
        Self { registry, watch }
    }

    /// The component a call to `function` runs, given the request's
    /// `Faas-Version` and `Faas-Route-Key`.
    pub async fn load(
        &self,
        versions: &VersionWatch,
        components: &Components,
        function: &FunctionRef,
        message: &async_nats::Message,
    ) -> Result<Loaded, ExecError> {
        let point = || match bus::header(message, headers::ROUTE_KEY) {
            Some(key) => aliases::route_point(key),
            None => uuid::Uuid::new_v4().as_u128() as u32,
        };
        let selector = bus::header(message, headers::VERSION);
        let picked = match selector {
            Some(selector) if !aliases::is_alias_shaped(selector) => {
                let digest = versions.resolve(function, selector).await.map_err(ExecError::Version)?;
                return components.load_version(function, &digest).await;
            }
            None | Some(aliases::CURRENT) => {
                // Unreadable registry: no weights to apply, and the loader's
                // own fallback (S3) still serves the plain name.
                let entry = self.entry(function).await.ok().flatten();
                // No weights, nothing to draw: the random point (a getrandom
                // syscall) is paid only by calls that pick.
                entry
                    .filter(|entry| !entry.aliases.weights.is_empty())
                    .and_then(|entry| aliases::pick(&entry.aliases.weights, point()).map(str::to_owned))
            }
            Some(alias) => {
                let entry = self.entry(function).await?;
                let digest = entry.as_deref().and_then(|entry| entry.run_through(alias, point()));
                Some(
                    digest.ok_or_else(|| ExecError::Version(aliases::not_found(function, alias)))?.to_owned(),
                )
            }
        };
        match picked {
            Some(digest) => components.load_version(function, &digest).await,
            None => components.load(function).await,
        }
    }

    async fn entry(&self, function: &FunctionRef) -> Result<Option<Arc<FunctionVersion>>, ExecError> {
        if let Some(known) = self.watch.entry(function) {
            return Ok(known);
        }
        // Starting or reconnected: the registry itself answers.
        let entry = self.registry.get(function).await.map_err(|err| {
            ExecError::Version(ErrorBody::new(ErrorCode::Unavailable, format!("function registry: {err}")))
        })?;
        Ok(entry.map(Arc::new))
    }
}

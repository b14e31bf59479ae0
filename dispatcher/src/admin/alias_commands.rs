//! Aliases, weights and rollback: every change is one write of the
//! function's registry entry ([`protocol::aliases`]), answered once every
//! executor's registry watch applied it, so moving an alias is exact the
//! way an upload is. When `current` moves, the function's S3 object is
//! then rewritten with the new target's bytes ([`AdminHandler::settle_current_object`]),
//! so `GET /file/{b}/{f}` and plain S3 tools keep seeing what the function's name runs.

use std::collections::BTreeMap;

use bus::{ReadAt, RegistryError};
use protocol::admin::{DeleteAlias, Done, ListAliases, PutAlias, Rollback};
use protocol::aliases::{self, AliasList, AliasRecord, AliasTarget, CURRENT};
use protocol::audit::Principal;
use protocol::{ErrorBody, ErrorCode, FunctionRef, FunctionVersion};

use tracing::warn;

use super::handler::AdminHandler;

/// How often a change of a function's entry is redone when other writes
/// keep coming between its read and its write.
pub(crate) const CHANGE_ATTEMPTS: usize = 8;

/// `unavailable`: the function's entry changed under every attempt.
pub(crate) fn kept_changing(function: &FunctionRef) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Unavailable,
        format!("{function} kept changing while this change was being written; retry"),
    )
}

impl AdminHandler {
    pub(crate) async fn put_alias(
        &self,
        PutAlias { function, alias, version, weights }: PutAlias,
        principal: &Principal,
    ) -> Result<AliasRecord, ErrorBody> {
        aliases::check_name(&alias)?;
        let mut resolved = BTreeMap::new();
        for (selector, share) in weights {
            let digest = self.resolve_version(&function, &selector).await?;
            if resolved.insert(digest.clone(), share).is_some() {
                return Err(ErrorBody::new(
                    ErrorCode::BadRequest,
                    format!("weights name version {digest} twice"),
                ));
            }
        }
        for _ in 0..CHANGE_ATTEMPTS {
            let (mut entry, seen) = self.entry_at(&function).await?;
            let target = self.alias_target(&function, &entry, &version).await?;
            if !resolved.is_empty() && !resolved.contains_key(&target) {
                return Err(ErrorBody::new(
                    ErrorCode::BadRequest,
                    format!("weights must give the target version {target} a share"),
                ));
            }
            let updated_by = principal.label();
            let now = protocol::jobs::now_ms();
            if alias == CURRENT {
                if target != entry.digest {
                    self.make_current(&function, &mut entry, &target).await?;
                }
                entry.aliases.weights = resolved.clone();
                entry.aliases.updated_at_ms = now;
                entry.aliases.updated_by = updated_by;
            } else {
                if !entry.aliases.named.contains_key(&alias)
                    && entry.aliases.named.len() >= aliases::MAX_ALIASES
                {
                    return Err(ErrorBody::new(
                        ErrorCode::BadRequest,
                        format!(
                            "{function} has {} aliases already, the most it may have",
                            aliases::MAX_ALIASES
                        ),
                    ));
                }
                let weights = resolved.clone();
                let named = AliasTarget { digest: target, weights, updated_at_ms: now, updated_by };
                entry.aliases.named.insert(alias.clone(), named);
            }
            if self.write_entry(&function, &entry, seen).await? {
                return Ok(record_of(&entry, &alias).expect("the alias was just written"));
            }
        }
        Err(kept_changing(&function))
    }

    pub(crate) async fn list_aliases(
        &self,
        ListAliases { function }: ListAliases,
    ) -> Result<AliasList, ErrorBody> {
        let entry = self.registry_entry(&function).await?;
        let mut listed = vec![AliasRecord::current(&entry.digest, &entry.aliases)];
        listed.extend(entry.aliases.named.iter().map(|(name, target)| AliasRecord::named(name, target)));
        Ok(AliasList { function: function.to_string(), aliases: listed })
    }

    pub(crate) async fn delete_alias(
        &self,
        DeleteAlias { function, alias }: DeleteAlias,
    ) -> Result<Done, ErrorBody> {
        if alias == CURRENT {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                "current cannot be deleted: it is what the function's name runs (move it, or roll back)",
            ));
        }
        aliases::check_name(&alias)?;
        for _ in 0..CHANGE_ATTEMPTS {
            let (mut entry, seen) = self.entry_at(&function).await?;
            if entry.aliases.named.remove(&alias).is_none() {
                return Err(aliases::not_found(&function, &alias));
            }
            if self.write_entry(&function, &entry, seen).await? {
                return Ok(Done {});
            }
        }
        Err(kept_changing(&function))
    }

    pub(crate) async fn rollback(
        &self,
        Rollback { function }: Rollback,
        principal: &Principal,
    ) -> Result<AliasRecord, ErrorBody> {
        for _ in 0..CHANGE_ATTEMPTS {
            let (mut entry, seen) = self.entry_at(&function).await?;
            // Earlier targets whose version retention or a deletion removed are skipped.
            let kept = self.versions.list(&function).await?;
            let previous = loop {
                if entry.aliases.history.is_empty() {
                    return Err(ErrorBody::new(
                        ErrorCode::NoRollbackTarget,
                        format!("{function} has no earlier version of current still kept to roll back to"),
                    ));
                }
                let candidate = entry.aliases.history.remove(0);
                if candidate != entry.digest && kept.iter().any(|record| record.digest == candidate) {
                    break candidate;
                }
            };
            // Rolling back is an undo: the version left is not pushed, so a
            // second rollback goes one further back.
            let history = std::mem::take(&mut entry.aliases.history);
            self.make_current(&function, &mut entry, &previous).await?;
            entry.aliases.history = history;
            entry.aliases.updated_at_ms = protocol::jobs::now_ms();
            entry.aliases.updated_by = principal.label();
            if self.write_entry(&function, &entry, seen).await? {
                return Ok(AliasRecord::current(&entry.digest, &entry.aliases));
            }
        }
        Err(kept_changing(&function))
    }

    /// The function's registry entry; `function_not_found` without one.
    pub(crate) async fn registry_entry(&self, function: &FunctionRef) -> Result<FunctionVersion, ErrorBody> {
        Ok(self.entry_at(function).await?.0)
    }

    /// The function's registry entry and the revision it was read at, for
    /// [`Self::write_entry`]; `function_not_found` without one.
    async fn entry_at(&self, function: &FunctionRef) -> Result<(FunctionVersion, ReadAt), ErrorBody> {
        match self.registry.get_at(function).await? {
            (Some(entry), seen) => Ok((entry, seen)),
            (None, _) => Err(ErrorBody::new(
                ErrorCode::FunctionNotFound,
                format!("function {function} does not exist"),
            )),
        }
    }

    /// The digest `version` names: another alias (resolved once, now) or
    /// a digest prefix.
    async fn alias_target(
        &self,
        function: &FunctionRef,
        entry: &FunctionVersion,
        version: &str,
    ) -> Result<String, ErrorBody> {
        if !aliases::is_alias_shaped(version) {
            return self.resolve_version(function, version).await;
        }
        if version == CURRENT {
            return Ok(entry.digest.clone());
        }
        match entry.aliases.named.get(version) {
            Some(target) => Ok(target.digest.clone()),
            None => Err(aliases::not_found(function, version)),
        }
    }

    /// Points `entry`'s `current` at the kept version `digest`: the old
    /// target goes on the history, and the old weights end. The object
    /// follows once the entry is written (`settle_current_object`).
    async fn make_current(
        &self,
        function: &FunctionRef,
        entry: &mut FunctionVersion,
        digest: &str,
    ) -> Result<(), ErrorBody> {
        let record = self
            .versions
            .get(function, digest)
            .await?
            .ok_or_else(|| protocol::versions::not_found(function, digest))?;
        let previous = std::mem::replace(&mut entry.digest, digest.to_owned());
        entry.aliases.push_history(&previous);
        entry.size = record.size;
        entry.world = record.world;
        Ok(())
    }

    /// Writes `entry` over the revision `seen` and answers once every
    /// executor applied it; `false` when another write (an upload, another
    /// dispatcher's alias change) came first: the caller reads and redoes.
    async fn write_entry(
        &self,
        function: &FunctionRef,
        entry: &FunctionVersion,
        seen: ReadAt,
    ) -> Result<bool, ErrorBody> {
        match self.registry.replace(function, entry, seen).await {
            Ok(revision) => {
                self.wait_for_executors(revision).await;
                self.settle_current_object(function).await;
                Ok(true)
            }
            Err(RegistryError::Changed(_)) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }
}

impl AdminHandler {
    /// Makes the function's S3 object hold the version its registry entry
    /// names. The revision check orders registry writes, not S3 writes: an
    /// upload that wrote its bytes first can win the registry after another
    /// one wrote its own bytes later. So every writer, once its registry
    /// write is in, rewrites the object until a read of the registry made
    /// after a read of the object agrees with it; the last writer to
    /// finish leaves them in step. A failure is logged: the registry (what
    /// runs) stands, and the next change settles the object.
    pub(crate) async fn settle_current_object(&self, function: &FunctionRef) {
        for _ in 0..CHANGE_ATTEMPTS {
            match self.current_object_settled(function).await {
                Ok(true) => return,
                Ok(false) => {}
                Err(err) => {
                    warn!(%function, error = %err.message, "could not bring the function's object in step with its current version");
                    return;
                }
            }
        }
        warn!(%function, "the function's object kept changing; the next change settles it");
    }

    /// One round of [`Self::settle_current_object`]: `true` once in step.
    async fn current_object_settled(&self, function: &FunctionRef) -> Result<bool, ErrorBody> {
        let Some(entry) = self.registry.get(function).await? else {
            return Ok(true);
        };
        if self.store.stored_digest(function).await?.as_deref() == Some(entry.digest.as_str()) {
            let now = self.registry.get(function).await?;
            return Ok(now.is_none_or(|now| now.digest == entry.digest));
        }
        let bytes = self.store.get_version(function, &entry.digest).await?;
        self.store.put_function(function, bytes, &entry.digest).await?;
        Ok(false)
    }
}

/// The record of `alias` in `entry`.
fn record_of(entry: &FunctionVersion, alias: &str) -> Option<AliasRecord> {
    if alias == CURRENT {
        return Some(AliasRecord::current(&entry.digest, &entry.aliases));
    }
    entry.aliases.named.get(alias).map(|target| AliasRecord::named(alias, target))
}

/// `<id> (<name>)` of a known principal.
impl AdminHandler {
    /// Checks that a pipeline step's `f@version` names a kept version or an
    /// existing alias of `function`.
    pub(crate) async fn check_pin(&self, function: &FunctionRef, version: &str) -> Result<(), ErrorBody> {
        if !aliases::is_alias_shaped(version) {
            return self.resolve_version(function, version).await.map(drop);
        }
        let entry = self.registry_entry(function).await?;
        self.alias_target(function, &entry, version).await.map(drop)
    }

    /// The digests of `function` that pipeline steps and triggers pin by
    /// digest or prefix (`f@<digest>`), among `kept`: retention keeps them
    /// and `delete_version` refuses them. One naming an alias pins nothing
    /// itself: the alias pins its target.
    pub(crate) async fn pipeline_pins(
        &self,
        function: &FunctionRef,
        kept: &[protocol::versions::VersionRecord],
    ) -> Result<Vec<String>, ErrorBody> {
        let mut pinned = Vec::new();
        for (_, spec) in self.flows.pipelines.list().await? {
            for (index, step) in spec.steps.iter().enumerate() {
                let Some(version) = spec.version(index).filter(|v| !aliases::is_alias_shaped(v)) else {
                    continue;
                };
                if step == function {
                    let named = kept.iter().filter(|record| record.digest.starts_with(version));
                    pinned.extend(named.map(|record| record.digest.clone()));
                }
            }
        }
        for (_, spec) in self.flows.triggers.list().await? {
            if let Some(version) = spec.version.as_deref().filter(|v| !aliases::is_alias_shaped(v))
                && spec.function == *function
            {
                let named = kept.iter().filter(|record| record.digest.starts_with(version));
                pinned.extend(named.map(|record| record.digest.clone()));
            }
        }
        Ok(pinned)
    }
}

//! Function versions: every upload recorded as a version (its bytes kept
//! content-addressed in S3, its record in `faas-versions`), listing them,
//! naming one by digest or unique prefix, deleting one, and the retention
//! that keeps the newest `FAAS_KEEP_VERSIONS` of each function.
//!
//! The precompiled artifacts follow the versions' lifetime through the
//! sweep, which keeps every digest a kept version names (an artifact is
//! shared by every function with the same bytes, so deleting it here could
//! take it from another function).

use bus::ReadAt;
use protocol::admin::{DeleteVersion, Done, ListVersions};
use protocol::aliases::Aliases;
use protocol::versions::{self, VersionInfo, VersionList, VersionRecord};
use protocol::{ErrorBody, ErrorCode, FunctionRef, FunctionVersion, World};
use tracing::{error, info, warn};

use super::handler::{AdminHandler, WATCHER_WAIT};

impl AdminHandler {
    pub(crate) async fn list_versions(
        &self,
        ListVersions { function }: ListVersions,
    ) -> Result<VersionList, ErrorBody> {
        let (records, current) = futures::join!(self.versions.list(&function), self.registry.get(&function));
        let (records, current) = (records?, current?);
        if records.is_empty() && current.is_none() {
            return Err(self.missing(&function).await);
        }
        let versions = records
            .into_iter()
            .map(|record| {
                let is_current = current.as_ref().is_some_and(|entry| entry.digest == record.digest);
                let aliases = current
                    .as_ref()
                    .map(|entry| entry.aliases.pointing_at(&entry.digest, &record.digest))
                    .unwrap_or_default();
                VersionInfo { aliases, ..VersionInfo::of(record, is_current) }
            })
            .collect();
        Ok(VersionList { function: function.to_string(), versions })
    }

    pub(crate) async fn delete_version(
        &self,
        DeleteVersion { function, version }: DeleteVersion,
    ) -> Result<Done, ErrorBody> {
        let digest = self.resolve_version(&function, &version).await?;
        if let Some(entry) = self.registry.get(&function).await? {
            let aliases = entry.aliases.pointing_at(&entry.digest, &digest);
            if !aliases.is_empty() {
                return Err(ErrorBody::new(
                    ErrorCode::VersionInUse,
                    format!(
                        "{digest} of {function} is in use by the alias(es) {}: move them first",
                        aliases.join(", ")
                    ),
                ));
            }
        }
        let kept = self.versions.list(&function).await?;
        if self.pipeline_pins(&function, &kept).await?.contains(&digest) {
            return Err(ErrorBody::new(
                ErrorCode::VersionInUse,
                format!(
                    "{digest} of {function} is pinned by a pipeline step ({function}@<digest>): change it first"
                ),
            ));
        }
        if self.shadowed_with(&function, &digest).await? {
            return Err(ErrorBody::new(
                ErrorCode::VersionInUse,
                format!("{function} is shadowed with {digest}: stop the shadowing first (DELETE .../shadow)"),
            ));
        }
        self.forget_version(&function, &digest).await?;
        Ok(Done {})
    }

    /// The digest of `function`'s version `selector` names (a digest or a
    /// unique prefix).
    pub(crate) async fn resolve_version(
        &self,
        function: &FunctionRef,
        selector: &str,
    ) -> Result<String, ErrorBody> {
        let selector = versions::check_selector(selector)?;
        let records = self.versions.list(function).await?;
        versions::resolve(function, &selector, records.iter().map(|record| record.digest.as_str()))
    }

    /// Records the upload of `digest` as a version of `function`, unless
    /// it is kept already (an identical re-upload adds no record); the
    /// revision to wait for, if it wrote one. Upload times increase per
    /// function, so "newest first" is the upload order even within a
    /// millisecond.
    pub(crate) async fn record_version(
        &self,
        function: &FunctionRef,
        digest: &str,
        size: u64,
        world: World,
        uploader: Option<String>,
        description: Option<String>,
    ) -> Result<Option<u64>, ErrorBody> {
        let records = self.versions.list(function).await?;
        if records.iter().any(|record| record.digest == digest) {
            return Ok(None);
        }
        let newest = records.iter().map(|record| record.uploaded_at_ms).max().unwrap_or(0);
        let record = VersionRecord {
            digest: digest.to_owned(),
            size,
            world,
            uploaded_at_ms: protocol::jobs::now_ms().max(newest + 1),
            uploader,
            description,
        };
        Ok(Some(self.versions.put(function, &record).await?))
    }

    /// The registry entry an upload of `digest` writes: the function's
    /// aliases stay, and the version it replaces goes on `current`'s
    /// history (for rollback); `current`'s weights end, since the upload
    /// names what the function's name runs now. With the revision it read,
    /// which the registry write must still find.
    pub(crate) async fn uploaded_entry(
        &self,
        function: &FunctionRef,
        digest: &str,
        size: u64,
        world: World,
    ) -> Result<(FunctionVersion, ReadAt), ErrorBody> {
        let mut aliases = Aliases::default();
        let (previous, seen) = self.registry.get_at(function).await?;
        if let Some(previous) = previous {
            aliases = previous.aliases;
            if previous.digest != digest {
                aliases.push_history(&previous.digest);
            }
        }
        Ok((FunctionVersion { digest: digest.to_owned(), size, world, aliases }, seen))
    }

    /// Deletes the versions of `function` past the newest
    /// `FAAS_KEEP_VERSIONS`, never one an alias points at (`current`
    /// included, see [`Aliases::pinned`]), a pipeline step or trigger pins,
    /// or the function is shadowed with. The upload stands whatever
    /// happens here: a failure is logged and the next upload tries again.
    pub(crate) async fn apply_retention(&self, function: &FunctionRef) {
        // Read now, not passed in: an alias moved while the upload waited
        // for the executors pins its target too.
        let entry = match self.registry.get(function).await {
            Ok(Some(entry)) => entry,
            Ok(None) => return,
            Err(err) => {
                warn!(%err, %function, "could not read the registry for retention; next upload retries");
                return;
            }
        };
        let records = match self.versions.list(function).await {
            Ok(records) => records,
            Err(err) => {
                warn!(%err, %function, "could not list versions for retention; next upload retries");
                return;
            }
        };
        // Pipeline steps' `f@<digest>` pin too; unknown pins keep everything.
        let pipeline_pins = match self.pipeline_pins(function, &records).await {
            Ok(pins) => pins,
            Err(err) => {
                warn!(error = %err.message, %function, "could not read the pipelines' pins; retention waits");
                return;
            }
        };
        let mut pinned: std::collections::HashSet<&str> = entry.aliases.pinned(&entry.digest).collect();
        pinned.extend(pipeline_pins.iter().map(String::as_str));
        // A shadow candidate is pinned: it must outlive its shadowing.
        let shadowed = match self.shadow.get(function).await {
            Ok(config) => config.map(|config| config.candidate),
            Err(err) => {
                warn!(%err, %function, "could not read the function's shadowing; retention waits");
                return;
            }
        };
        pinned.extend(shadowed.as_deref());
        let doomed =
            records.iter().skip(self.keep_versions).filter(|record| !pinned.contains(record.digest.as_str()));
        for record in doomed {
            match self.forget_version(function, &record.digest).await {
                Ok(()) => {
                    info!(%function, digest = %record.digest, "old version deleted (FAAS_KEEP_VERSIONS)")
                }
                Err(err) => {
                    warn!(%function, digest = %record.digest, error = %err.message, "could not delete an old version")
                }
            }
        }
    }

    /// Deletes a version's bytes, then its record, and waits for the executors.
    async fn forget_version(&self, function: &FunctionRef, digest: &str) -> Result<(), ErrorBody> {
        self.store.delete_version(function, digest).await?;
        if let Some(revision) = self.versions.remove(function, digest).await? {
            self.wait_for_version_followers(revision).await;
        }
        Ok(())
    }

    /// `function_not_found`, or `bucket_not_found` when its bucket is missing.
    async fn missing(&self, function: &FunctionRef) -> ErrorBody {
        match self.store.bucket_exists(&function.bucket).await {
            Ok(false) => ErrorBody::new(
                ErrorCode::BucketNotFound,
                format!("bucket {} does not exist", function.bucket),
            ),
            Ok(true) => {
                ErrorBody::new(ErrorCode::FunctionNotFound, format!("function {function} does not exist"))
            }
            Err(err) => err.into(),
        }
    }

    /// Answers only once every running executor applied a version write,
    /// so `<function>@<version>` resolves everywhere after an upload. A
    /// stuck executor must not block deploys: after [`WATCHER_WAIT`] the
    /// answer goes out anyway, loudly.
    pub(crate) async fn wait_for_version_followers(&self, revision: u64) {
        if let Err(err) = self.versions.wait_for_followers(revision, WATCHER_WAIT).await {
            error!(%err, "answering although some executors may not resolve the new version yet");
        }
    }
}

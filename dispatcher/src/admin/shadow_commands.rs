//! Shadow traffic: starting, showing and stopping a function's shadowing
//! (the `faas-shadow` key-value bucket, written only here and followed by
//! every executor), and the report made of its outcomes (the stream
//! `FAAS_SHADOW_OUTCOMES`, which executors publish to).
//!
//! The candidate is named like any version (digest or unique prefix),
//! resolved here to its full digest and checked to be of the function's
//! current world; it is pinned while shadowed: retention skips it and
//! deleting it is `version_in_use`.

use protocol::admin::{DeleteShadow, Done, GetShadow, GetShadowReport, PutShadow};
use protocol::audit::Principal;
use protocol::shadow::{self, DEFAULT_MAX_PER_SEC, ShadowConfig, ShadowReport};
use protocol::{ErrorBody, ErrorCode, FunctionRef};
use tracing::{error, warn};

use super::handler::{AdminHandler, WATCHER_WAIT};

impl AdminHandler {
    pub(crate) async fn put_shadow(
        &self,
        PutShadow { function, spec }: PutShadow,
        principal: &Principal,
    ) -> Result<ShadowConfig, ErrorBody> {
        spec.validate()?;
        let Some(current) = self.registry.get(&function).await? else {
            return Err(ErrorBody::new(
                ErrorCode::FunctionNotFound,
                format!("function {function} does not exist"),
            ));
        };
        let candidate = self.resolve_version(&function, &spec.version).await?;
        let record = self
            .versions
            .get(&function, &candidate)
            .await?
            .ok_or_else(|| protocol::versions::not_found(&function, &spec.version))?;
        if record.world != current.world {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                format!(
                    "version {candidate} is a {} function but {function} is a {} function: \
                     a candidate must answer the same calls",
                    record.world.as_str(),
                    current.world.as_str()
                ),
            ));
        }
        let config = ShadowConfig {
            function: function.to_string(),
            candidate,
            sample: spec.sample.0,
            max_per_sec: spec.max_per_sec.unwrap_or(DEFAULT_MAX_PER_SEC),
            started_at_ms: protocol::jobs::now_ms(),
            started_by: principal.label(),
        };
        // A fresh report window: the previous shadowing's outcomes go first,
        // so none of them is counted against this candidate.
        self.shadow_outcomes.purge(&function).await.map_err(|e| ErrorBody::new(e.code(), e.to_string()))?;
        let revision = self.shadow.put(&function, &config).await?;
        self.wait_for_shadow_followers(revision).await;
        // What an executor still running the previous shadowing published
        // after the first purge.
        if let Err(err) = self.shadow_outcomes.purge(&function).await {
            warn!(%err, %function, "could not purge the previous shadowing's late outcomes");
        }
        Ok(config)
    }

    pub(crate) async fn get_shadow(
        &self,
        GetShadow { function }: GetShadow,
    ) -> Result<ShadowConfig, ErrorBody> {
        self.shadow.get(&function).await?.ok_or_else(|| not_shadowed(&function))
    }

    pub(crate) async fn delete_shadow(
        &self,
        DeleteShadow { function }: DeleteShadow,
    ) -> Result<Done, ErrorBody> {
        let revision = self.shadow.remove(&function).await?.ok_or_else(|| not_shadowed(&function))?;
        self.wait_for_shadow_followers(revision).await;
        Ok(Done {})
    }

    pub(crate) async fn get_shadow_report(
        &self,
        GetShadowReport { function }: GetShadowReport,
    ) -> Result<ShadowReport, ErrorBody> {
        let config = self.shadow.get(&function).await?;
        let outcomes = self
            .shadow_outcomes
            .recent(&function, shadow::REPORT_MAX_OUTCOMES)
            .await
            .map_err(|e| ErrorBody::new(e.code(), e.to_string()))?;
        if config.is_none() && outcomes.is_empty() {
            return Err(not_shadowed(&function));
        }
        // The purges at `put_shadow` open the window; this closes its gaps:
        // a pair of an earlier candidate still running then lands late.
        let outcomes = match &config {
            Some(config) => outcomes
                .into_iter()
                .filter(|o| o.candidate.digest == config.candidate && o.at_ms >= config.started_at_ms)
                .collect(),
            None => outcomes,
        };
        Ok(shadow::summarise(&function, config, &outcomes))
    }

    /// Whether `digest` is a candidate `function` is shadowed with: such a
    /// version is kept (retention) and cannot be deleted.
    pub(crate) async fn shadowed_with(
        &self,
        function: &FunctionRef,
        digest: &str,
    ) -> Result<bool, ErrorBody> {
        Ok(self.shadow.get(function).await?.is_some_and(|config| config.candidate == digest))
    }

    /// Stops shadowing a deleted function, so a new function of the name
    /// does not inherit it.
    pub(crate) async fn forget_shadow(&self, function: &FunctionRef) -> Result<(), ErrorBody> {
        if let Some(revision) = self.shadow.remove(function).await? {
            self.wait_for_shadow_followers(revision).await;
        }
        // Its report too: a new function of the name starts with none.
        if let Err(err) = self.shadow_outcomes.purge(function).await {
            warn!(%err, %function, "could not forget the deleted function's shadow outcomes");
        }
        Ok(())
    }

    /// Stops shadowing every function of a deleted bucket.
    pub(crate) async fn forget_bucket_shadows(&self, bucket: &protocol::BucketName) -> Result<(), ErrorBody> {
        if let Some(revision) = self.shadow.remove_bucket(bucket).await? {
            self.wait_for_shadow_followers(revision).await;
        }
        if let Err(err) = self.shadow_outcomes.purge_bucket(bucket).await {
            warn!(%err, %bucket, "could not forget the deleted bucket's shadow outcomes");
        }
        Ok(())
    }

    /// Answers only once every running executor applied a shadow write:
    /// after `PUT` every executor shadows, after `DELETE` none starts a
    /// shadow run. A stuck executor must not block it: after
    /// [`WATCHER_WAIT`] the answer goes out anyway, loudly.
    async fn wait_for_shadow_followers(&self, revision: u64) {
        if let Err(err) = self.shadow.wait_for_followers(revision, WATCHER_WAIT).await {
            error!(%err, "answering although some executors may not have applied the shadow change yet");
        }
    }
}

fn not_shadowed(function: &FunctionRef) -> ErrorBody {
    ErrorBody::new(ErrorCode::ShadowNotFound, format!("{function} is not being shadowed"))
}

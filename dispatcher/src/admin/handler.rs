//! What each admin command does (the trigger, pipeline and token commands
//! have modules of their own).

use std::sync::Arc;
use std::time::Duration;

use bus::{
    BucketSettingsStore, DefinitionError, DefinitionStore, FunctionConfigStore, FunctionRegistry,
    KeyValueData, KeyValueError, RegistryError, ShadowOutcomes, ShadowStore, TokenStore, TransferStore,
    VersionStore,
};
use engine::ArtifactStore;
use protocol::admin::{
    BucketList, ConfigureBucket, CreateBucket, DeleteBucket, DeleteFunction, Done, FunctionList, GetFunction,
    ListFunctions, PutFunction, Stored,
};
use protocol::audit::Principal;
use protocol::buckets::BucketSettings;
use protocol::{
    AdminCommand, AdminRequest, ErrorBody, ErrorCode, FunctionRef, PipelineSpec, StagedObject, Subjects,
    TriggerSpec, TriggerSubjectPolicy,
};
use storage::FunctionStore;

use super::alias_commands::CHANGE_ATTEMPTS;
use tracing::{error, warn};

/// How long a registry write waits for the executors to apply it.
pub(crate) const WATCHER_WAIT: Duration = Duration::from_secs(5);

use engine::{CompilePool, ComponentValidator, ValidComponent};

/// Executes admin commands against S3, keeping the function registry and
/// the shared artifacts in step with it.
#[derive(Clone)]
pub struct AdminHandler {
    pub(crate) store: FunctionStore,
    transfer: TransferStore,
    pub(crate) registry: FunctionRegistry,
    bucket_settings: BucketSettingsStore,
    pub(crate) function_config: FunctionConfigStore,
    pub(crate) flows: FlowStores,
    pub(crate) tokens: TokenStore,
    keyvalue: KeyValueData,
    pub(crate) versions: VersionStore,
    /// The functions being shadowed, followed by every executor.
    pub(crate) shadow: ShadowStore,
    /// The shadow pairs' outcomes, for reports.
    pub(crate) shadow_outcomes: ShadowOutcomes,
    /// Versions kept per function (`FAAS_KEEP_VERSIONS`), the current one always.
    pub(crate) keep_versions: usize,
    artifacts: Option<ArtifactStore>,
    validator: ComponentValidator,
    compiles: CompilePool,
    max_component_bytes: u64,
}

/// The stores an [`AdminHandler`] works on.
pub struct Stores {
    /// Where functions live.
    pub functions: FunctionStore,
    /// Where uploads and downloads are staged.
    pub transfer: TransferStore,
    /// Current digest of each function.
    pub registry: FunctionRegistry,
    /// Each bucket's settings, followed by every api.
    pub bucket_settings: BucketSettingsStore,
    /// Each function's configuration, followed by every executor.
    pub function_config: FunctionConfigStore,
    /// Shared precompiled artifacts, when a key is configured.
    pub artifacts: Option<ArtifactStore>,
    /// Triggers and pipelines.
    pub flows: FlowStores,
    /// The api tokens.
    pub tokens: TokenStore,
    /// Functions' `wasi:keyvalue` data, deleted with their bucket.
    pub keyvalue: KeyValueData,
    /// Every kept version of every function, followed by every executor.
    pub versions: VersionStore,
    /// The functions being shadowed and their outcomes.
    pub shadow: (ShadowStore, ShadowOutcomes),
}

/// Where triggers and pipelines are defined, and the subject rules they follow.
#[derive(Clone)]
pub struct FlowStores {
    /// Trigger definitions, followed by every dispatcher.
    pub triggers: DefinitionStore<TriggerSpec>,
    /// Pipeline definitions, followed by the executors that run them.
    pub pipelines: DefinitionStore<PipelineSpec>,
    /// The platform's subjects, which triggers may not use.
    pub subjects: Subjects,
    /// The subjects the operator lets triggers use.
    pub policy: TriggerSubjectPolicy,
    /// Triggers at most, all together.
    pub max_triggers: usize,
    /// Triggers at most whose subjects can match one event.
    pub max_triggers_per_subject: usize,
}

impl AdminHandler {
    /// A handler over these stores, compiling with `validator` on the
    /// bounded pool `compiles`.
    pub fn new(
        stores: Stores,
        validator: ComponentValidator,
        compiles: CompilePool,
        max_component_bytes: u64,
    ) -> Self {
        let Stores {
            functions,
            transfer,
            registry,
            bucket_settings,
            function_config,
            artifacts,
            flows,
            tokens,
            keyvalue,
            versions,
            shadow: (shadow, shadow_outcomes),
        } = stores;
        Self {
            versions,
            shadow,
            shadow_outcomes,
            keep_versions: protocol::versions::DEFAULT_KEEP_VERSIONS,
            store: functions,
            transfer,
            registry,
            bucket_settings,
            function_config,
            flows,
            tokens,
            keyvalue,
            artifacts,
            validator,
            compiles,
            max_component_bytes,
        }
    }

    /// The same handler, keeping `keep` versions per function.
    pub fn with_keep_versions(mut self, keep: usize) -> Self {
        self.keep_versions = keep.max(1);
        self
    }

    /// Runs one command sent by `principal`; the answer is the command's
    /// own reply type, as JSON.
    pub async fn handle(
        &self,
        request: AdminRequest,
        principal: &Principal,
    ) -> Result<serde_json::Value, ErrorBody> {
        match request {
            AdminRequest::ListBuckets(command) => answer(command, |_| self.list_buckets()).await,
            AdminRequest::CreateBucket(command) => answer(command, |c| self.create_bucket(c)).await,
            AdminRequest::ListFunctions(command) => answer(command, |c| self.list_functions(c)).await,
            AdminRequest::DeleteBucket(command) => answer(command, |c| self.delete_bucket(c)).await,
            AdminRequest::PutFunction(command) => answer(command, |c| self.put_function(c, principal)).await,
            AdminRequest::GetFunction(command) => answer(command, |c| self.get_function(c)).await,
            AdminRequest::DeleteFunction(command) => answer(command, |c| self.delete_function(c)).await,
            AdminRequest::ListVersions(command) => answer(command, |c| self.list_versions(c)).await,
            AdminRequest::DeleteVersion(command) => answer(command, |c| self.delete_version(c)).await,
            AdminRequest::PutShadow(command) => answer(command, |c| self.put_shadow(c, principal)).await,
            AdminRequest::GetShadow(command) => answer(command, |c| self.get_shadow(c)).await,
            AdminRequest::DeleteShadow(command) => answer(command, |c| self.delete_shadow(c)).await,
            AdminRequest::GetShadowReport(command) => answer(command, |c| self.get_shadow_report(c)).await,
            AdminRequest::PutAlias(command) => answer(command, |c| self.put_alias(c, principal)).await,
            AdminRequest::ListAliases(command) => answer(command, |c| self.list_aliases(c)).await,
            AdminRequest::DeleteAlias(command) => answer(command, |c| self.delete_alias(c)).await,
            AdminRequest::Rollback(command) => answer(command, |c| self.rollback(c, principal)).await,
            AdminRequest::PutTrigger(command) => answer(command, |c| self.put_trigger(c)).await,
            AdminRequest::GetTrigger(command) => answer(command, |c| self.get_trigger(c)).await,
            AdminRequest::ListTriggers(command) => answer(command, |_| self.list_triggers()).await,
            AdminRequest::DeleteTrigger(command) => answer(command, |c| self.delete_trigger(c)).await,
            AdminRequest::PutPipeline(command) => answer(command, |c| self.put_pipeline(c)).await,
            AdminRequest::GetPipeline(command) => answer(command, |c| self.get_pipeline(c)).await,
            AdminRequest::ListPipelines(command) => answer(command, |_| self.list_pipelines()).await,
            AdminRequest::DeletePipeline(command) => answer(command, |c| self.delete_pipeline(c)).await,
            AdminRequest::CreateToken(command) => answer(command, |c| self.create_token(c)).await,
            AdminRequest::RevokeToken(command) => answer(command, |c| self.revoke_token(c)).await,
            AdminRequest::ConfigureBucket(command) => answer(command, |c| self.configure_bucket(c)).await,
            AdminRequest::PutFunctionConfig(command) => {
                answer(command, |c| self.put_function_config(c)).await
            }
            AdminRequest::GetFunctionConfig(command) => {
                answer(command, |c| self.get_function_config(c)).await
            }
            AdminRequest::DeleteFunctionConfig(command) => {
                answer(command, |c| self.delete_function_config(c)).await
            }
        }
    }

    async fn list_buckets(&self) -> Result<BucketList, ErrorBody> {
        let mut buckets = self.store.list_buckets().await?;
        let settings = self.bucket_settings.list().await?;
        for bucket in &mut buckets {
            bucket.settings = settings.get(&bucket.name).cloned().unwrap_or_default();
        }
        Ok(BucketList { buckets })
    }

    async fn create_bucket(
        &self,
        CreateBucket { bucket, settings }: CreateBucket,
    ) -> Result<Done, ErrorBody> {
        if let Some(grants) = &settings.capabilities {
            grants.validate().map_err(|e| ErrorBody::new(ErrorCode::BadRequest, e))?;
        }
        self.store.create_bucket(&bucket).await?;
        // Always written, so a deleted bucket's settings (should removing
        // them have failed) never pass to a new bucket of the same name.
        let revision = self.bucket_settings.put(&bucket, &settings).await.map_err(settings_error)?;
        self.wait_for_settings_followers(revision).await;
        Ok(Done {})
    }

    async fn list_functions(
        &self,
        ListFunctions { bucket }: ListFunctions,
    ) -> Result<FunctionList, ErrorBody> {
        let mut functions = self.store.list_functions(&bucket).await?;
        // The world is the registry's: S3 holds only the bytes.
        let worlds = futures::future::join_all(functions.iter().map(|info| async {
            let function = FunctionRef::new(bucket.as_str(), &info.name).ok()?;
            self.registry.get(&function).await.ok().flatten().map(|version| version.world)
        }))
        .await;
        for (info, world) in functions.iter_mut().zip(worlds) {
            info.world = world.unwrap_or_default();
        }
        Ok(FunctionList { functions, settings: self.bucket_settings.get(&bucket).await? })
    }

    async fn delete_bucket(&self, DeleteBucket { bucket, force }: DeleteBucket) -> Result<Done, ErrorBody> {
        // Key-value data makes a bucket "not empty" like functions do; with
        // force it goes first, so a failure leaves the bucket there to retry.
        if force {
            self.keyvalue.purge_bucket(&bucket).await.map_err(keyvalue_error)?;
        } else if self.keyvalue.holds_data(&bucket).await.map_err(keyvalue_error)? {
            return Err(ErrorBody::new(
                ErrorCode::BucketNotEmpty,
                format!(
                    "bucket {bucket} is not empty: it holds key-value data (wasi:keyvalue); \
                     pass force=true to delete it with its data"
                ),
            ));
        }
        self.store.delete_bucket(&bucket, force).await?;
        let revision = self.registry.remove_bucket(&bucket).await.map_err(registry_error)?;
        self.wait_for_executors(revision).await;
        // Again once no executor starts its calls: what a call still
        // running wrote meanwhile must not pass to a new bucket of the name.
        if force && let Err(err) = self.keyvalue.purge_bucket(&bucket).await {
            warn!(%err, %bucket, "could not purge the deleted bucket's key-value data a second time");
        }
        if let Some(revision) = self.versions.remove_bucket(&bucket).await? {
            self.wait_for_version_followers(revision).await;
        }
        if let Some(revision) = self.function_config.remove_bucket(&bucket).await? {
            self.wait_for_config_followers(revision).await;
        }
        self.forget_bucket_shadows(&bucket).await?;
        if let Some(revision) = self.bucket_settings.remove(&bucket).await.map_err(settings_error)? {
            self.wait_for_settings_followers(revision).await;
        }
        Ok(Done {})
    }

    async fn configure_bucket(
        &self,
        ConfigureBucket { bucket, change }: ConfigureBucket,
    ) -> Result<BucketSettings, ErrorBody> {
        // The api checks too; a command sent on NATS directly is checked here.
        change.validate().map_err(|e| ErrorBody::new(ErrorCode::BadRequest, e))?;
        if !self.store.bucket_exists(&bucket).await? {
            return Err(ErrorBody::new(ErrorCode::BucketNotFound, format!("bucket {bucket} does not exist")));
        }
        let settings = self.bucket_settings.get(&bucket).await?.changed(change);
        let revision = self.bucket_settings.put(&bucket, &settings).await?;
        self.wait_for_settings_followers(revision).await;
        Ok(settings)
    }

    async fn get_function(
        &self,
        GetFunction { function, version }: GetFunction,
    ) -> Result<StagedObject, ErrorBody> {
        let bytes = match version {
            None => self.store.get_function(&function).await?,
            Some(selector) => {
                let digest = self.resolve_version(&function, &selector).await?;
                self.store.get_version(&function, &digest).await.map_err(|err| match err.code() {
                    // The record outlived its bytes (deleted behind the platform's back).
                    ErrorCode::FunctionNotFound => protocol::versions::not_found(&function, &selector),
                    _ => err.into(),
                })?
            }
        };
        Ok(self.transfer.stage(bytes).await?)
    }

    async fn delete_function(&self, DeleteFunction { function }: DeleteFunction) -> Result<Done, ErrorBody> {
        self.store.delete_function(&function).await?;
        let revision = self.registry.remove(&function).await.map_err(registry_error)?;
        self.wait_for_executors(revision).await;
        if let Some(revision) = self.versions.remove_function(&function).await? {
            self.wait_for_version_followers(revision).await;
        }
        self.forget_function_config(&function).await?;
        self.forget_shadow(&function).await?;
        Ok(Done {})
    }

    async fn put_function(
        &self,
        PutFunction { function, staged, description }: PutFunction,
        principal: &Principal,
    ) -> Result<Stored, ErrorBody> {
        if let Some(description) = &description
            && let Err(err) = protocol::versions::check_description(description)
        {
            self.transfer.discard(&staged).await;
            return Err(err);
        }
        // Cheap checks first: no point compiling for a bucket that is not there.
        if !self.store.bucket_exists(&function.bucket).await? {
            self.transfer.discard(&staged).await;
            return Err(ErrorBody::new(
                ErrorCode::BucketNotFound,
                format!("bucket {} does not exist", function.bucket),
            ));
        }
        let bytes = self.transfer.take(&staged, self.max_component_bytes).await?;
        let validator = Arc::new(self.validator.clone());
        let checked = bytes.clone();
        let share = self.artifacts.is_some();
        // Compiling takes CPU time proportional to the upload: on the
        // bounded compile pool, so a pathological upload gets an answer
        // (422 `compile_limit_exceeded`) and many cannot take every core.
        let validation = self.compiles.run(bytes.len() as u64, move || {
            validator.validate(&checked).map(|ValidComponent { digest, world, component }| {
                let artifact = share.then(|| component.serialize().ok()).flatten();
                (digest, world, artifact)
            })
        });
        let (digest, world, artifact) = validation.await??;
        let size = bytes.len() as u64;
        let mut function_info = self.store.put_function(&function, bytes.clone(), &digest).await?;
        function_info.world = world;
        // The version's bytes, content-addressed (written only if absent).
        self.store.put_version(&function, bytes, &digest).await?;
        // Before the registry names the new digest, so that the first call
        // on any executor finds the artifact instead of compiling.
        if let (Some(artifacts), Some(artifact)) = (&self.artifacts, artifact)
            && let Err(err) = artifacts.put(&digest, &artifact).await
        {
            warn!(%err, %digest, "could not share the precompiled artifact; executors will compile");
        }
        // Before the registry too: the version an upload made current is
        // always one that can be named.
        let uploader = principal.label();
        let recorded = self.record_version(&function, &digest, size, world, uploader, description).await?;
        // Last: from here on every call runs the new version. The aliases
        // stay; the version it replaces goes on `current`'s history.
        let mut attempts = 0;
        let revision = loop {
            let (version, seen) = self.uploaded_entry(&function, &digest, size, world).await?;
            match self.registry.replace(&function, &version, seen).await {
                Ok(revision) => break revision,
                // Another upload or alias change came in between: redo
                // the entry over it (the object is settled below).
                Err(RegistryError::Changed(_)) if attempts < CHANGE_ATTEMPTS => attempts += 1,
                Err(err) => return Err(registry_error(err)),
            }
        };
        self.settle_current_object(&function).await;
        let (_, ()) = futures::join!(self.wait_for_executors(revision), async {
            if let Some(revision) = recorded {
                self.wait_for_version_followers(revision).await;
            }
        });
        self.apply_retention(&function).await;
        Ok(Stored { function: function_info, digest })
    }

    /// Answers only once every running executor applied the registry write,
    /// which is what makes the next call run the new version everywhere.
    /// An executor that is alive but stuck must not block every deploy, so
    /// after [`WATCHER_WAIT`] the answer goes out anyway, loudly.
    pub(crate) async fn wait_for_executors(&self, revision: u64) {
        if let Err(err) = self.registry.wait_for_watchers(revision, WATCHER_WAIT).await {
            error!(%err, "answering although some executors may still run the previous version");
        }
    }

    /// Answers only once every running api and executor applied a settings
    /// write: from then on, turning `public_invoke` off holds on every api
    /// and a bucket's default grants on every executor. A stuck follower
    /// must not block every bucket change, so after [`WATCHER_WAIT`] the
    /// answer goes out anyway, loudly.
    async fn wait_for_settings_followers(&self, revision: u64) {
        if let Err(err) = self.bucket_settings.wait_for_followers(revision, WATCHER_WAIT).await {
            error!(%err, "answering although some apis may still apply the previous bucket settings");
        }
    }
}

/// Runs `command` through `work` and encodes the answer, which the types
/// hold to the command's own reply type.
async fn answer<C: AdminCommand, F: Future<Output = Result<C::Reply, ErrorBody>>>(
    command: C,
    work: impl FnOnce(C) -> F,
) -> Result<serde_json::Value, ErrorBody> {
    let reply = work(command).await?;
    Ok(serde_json::to_value(reply).expect("admin replies always serialise"))
}

/// The bucket was created or deleted in S3, but its settings were not
/// written: the caller must hear about it.
fn settings_error(err: DefinitionError) -> ErrorBody {
    ErrorBody::new(
        err.code(),
        format!("done in S3, but the bucket's settings were not updated ({err}); check them"),
    )
}

/// Reading or purging functions' key-value data failed.
fn keyvalue_error(err: KeyValueError) -> ErrorBody {
    let code = match &err {
        KeyValueError::Store(store) => store.code(),
        _ => ErrorCode::Internal,
    };
    ErrorBody::new(code, format!("the bucket's key-value data: {err}"))
}

/// The component is in S3 but executors may still run the previous version:
/// the caller must hear about it and retry.
fn registry_error(err: RegistryError) -> ErrorBody {
    ErrorBody::new(
        err.code(),
        format!("stored, but the function registry was not updated ({err}); retry the request"),
    )
}

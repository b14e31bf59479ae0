//! What each admin command does.

use std::sync::Arc;
use std::time::Duration;

use bus::{DefinitionStore, FunctionRegistry, RegistryError, TransferError, TransferStore};
use engine::ArtifactStore;
use protocol::{
    AdminRequest, AdminResponse, ErrorBody, ErrorCode, FunctionRef, FunctionVersion, PipelineSpec,
    StagedObject, Subjects, TriggerSpec,
};
use storage::FunctionStore;
use tracing::{error, warn};

/// How long a registry write waits for the executors to apply it.
const WATCHER_WAIT: Duration = Duration::from_secs(5);

use engine::{ComponentValidator, ValidComponent};

/// Executes admin commands against S3, keeping the function registry and
/// the shared artifacts in step with it.
#[derive(Clone)]
pub struct AdminHandler {
    pub(crate) store: FunctionStore,
    transfer: TransferStore,
    pub(crate) registry: FunctionRegistry,
    pub(crate) flows: FlowStores,
    artifacts: Option<ArtifactStore>,
    validator: ComponentValidator,
    max_component_bytes: u64,
    validate_timeout: Duration,
}

/// The stores an [`AdminHandler`] works on.
pub struct Stores {
    /// Where functions live.
    pub functions: FunctionStore,
    /// Where uploads and downloads are staged.
    pub transfer: TransferStore,
    /// Current digest of each function.
    pub registry: FunctionRegistry,
    /// Shared precompiled artifacts, when a key is configured.
    pub artifacts: Option<ArtifactStore>,
    /// Triggers and pipelines.
    pub flows: FlowStores,
}

/// Where triggers and pipelines are defined, and the subject rules they follow.
#[derive(Clone)]
pub struct FlowStores {
    /// Trigger definitions, followed by every dispatcher.
    pub triggers: DefinitionStore<TriggerSpec>,
    /// Pipeline definitions, read per run.
    pub pipelines: DefinitionStore<PipelineSpec>,
    /// The platform's subjects, which triggers may not use.
    pub subjects: Subjects,
}

impl AdminHandler {
    /// A handler over these stores, compiling with `validator`.
    pub fn new(
        stores: Stores,
        validator: ComponentValidator,
        max_component_bytes: u64,
        validate_timeout: Duration,
    ) -> Self {
        let Stores { functions, transfer, registry, artifacts, flows } = stores;
        Self {
            store: functions,
            transfer,
            registry,
            flows,
            artifacts,
            validator,
            max_component_bytes,
            validate_timeout,
        }
    }

    /// Runs one command.
    pub async fn handle(&self, request: AdminRequest) -> Result<AdminResponse, ErrorBody> {
        match request {
            AdminRequest::ListBuckets => {
                Ok(AdminResponse::Buckets { buckets: self.store.list_buckets().await? })
            }
            AdminRequest::CreateBucket { bucket } => {
                self.store.create_bucket(&bucket).await?;
                Ok(AdminResponse::Done)
            }
            AdminRequest::ListFunctions { bucket } => {
                Ok(AdminResponse::Functions { functions: self.store.list_functions(&bucket).await? })
            }
            AdminRequest::DeleteBucket { bucket, force } => {
                self.store.delete_bucket(&bucket, force).await?;
                let revision = self.registry.remove_bucket(&bucket).await.map_err(registry_error)?;
                self.wait_for_executors(revision).await;
                Ok(AdminResponse::Done)
            }
            AdminRequest::PutFunction { function, staged } => self.put_function(&function, &staged).await,
            AdminRequest::GetFunction { function } => {
                let bytes = self.store.get_function(&function).await?;
                let staged = self.transfer.stage(bytes).await.map_err(transfer_error)?;
                Ok(AdminResponse::Staged { staged })
            }
            AdminRequest::DeleteFunction { function } => {
                self.store.delete_function(&function).await?;
                let revision = self.registry.remove(&function).await.map_err(registry_error)?;
                self.wait_for_executors(revision).await;
                Ok(AdminResponse::Done)
            }
            AdminRequest::PutTrigger { name, spec } => self.put_trigger(name, spec).await,
            AdminRequest::GetTrigger { name } => self.get_trigger(name).await,
            AdminRequest::ListTriggers => self.list_triggers().await,
            AdminRequest::DeleteTrigger { name } => self.delete_trigger(name).await,
            AdminRequest::PutPipeline { name, spec } => self.put_pipeline(name, spec).await,
            AdminRequest::GetPipeline { name } => self.get_pipeline(name).await,
            AdminRequest::ListPipelines => self.list_pipelines().await,
            AdminRequest::DeletePipeline { name } => self.delete_pipeline(name).await,
        }
    }

    async fn put_function(
        &self,
        function: &FunctionRef,
        staged: &StagedObject,
    ) -> Result<AdminResponse, ErrorBody> {
        // Cheap checks first: no point compiling for a bucket that is not there.
        if !self.store.bucket_exists(&function.bucket).await? {
            self.transfer.discard(staged).await;
            return Err(ErrorBody::new(
                ErrorCode::BucketNotFound,
                format!("bucket {} does not exist", function.bucket),
            ));
        }
        let bytes = self.transfer.take(staged, self.max_component_bytes).await.map_err(transfer_error)?;
        let validator = Arc::new(self.validator.clone());
        let checked = bytes.clone();
        let share = self.artifacts.is_some();
        // Compiling takes CPU time proportional to the upload: off the async
        // workers, and bounded so a pathological upload gets an answer.
        let validation = tokio::task::spawn_blocking(move || {
            validator.validate(&checked).map(|ValidComponent { digest, component }| {
                let artifact = share.then(|| component.serialize().ok()).flatten();
                (digest, artifact)
            })
        });
        let (digest, artifact) = match tokio::time::timeout(self.validate_timeout, validation).await {
            Err(_) => {
                return Err(ErrorBody::new(
                    ErrorCode::InvalidComponent,
                    format!("the component did not compile within {} s", self.validate_timeout.as_secs()),
                ));
            }
            Ok(Err(join)) => {
                return Err(ErrorBody::new(ErrorCode::Internal, format!("validation task: {join}")));
            }
            Ok(Ok(Err(invalid))) => {
                return Err(ErrorBody::new(ErrorCode::InvalidComponent, invalid.to_string()));
            }
            Ok(Ok(Ok(valid))) => valid,
        };
        let size = bytes.len() as u64;
        let function_info = self.store.put_function(function, bytes, &digest).await?;
        // Before the registry names the new digest, so that the first call
        // on any executor finds the artifact instead of compiling.
        if let (Some(artifacts), Some(artifact)) = (&self.artifacts, artifact)
            && let Err(err) = artifacts.put(&digest, &artifact).await
        {
            warn!(%err, %digest, "could not share the precompiled artifact; executors will compile");
        }
        // Last: from here on every call runs the new version.
        let version = FunctionVersion { digest: digest.clone(), size };
        let revision = self.registry.set(function, &version).await.map_err(registry_error)?;
        self.wait_for_executors(revision).await;
        Ok(AdminResponse::Stored { function: function_info, digest })
    }

    /// Answers only once every running executor applied the registry write,
    /// which is what makes the next call run the new version everywhere.
    /// An executor that is alive but stuck must not block every deploy, so
    /// after [`WATCHER_WAIT`] the answer goes out anyway, loudly.
    async fn wait_for_executors(&self, revision: u64) {
        if let Err(err) = self.registry.wait_for_watchers(revision, WATCHER_WAIT).await {
            error!(%err, "answering although some executors may still run the previous version");
        }
    }
}

/// The component is in S3 but executors may still run the previous version:
/// the caller must hear about it and retry.
fn registry_error(err: RegistryError) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Unavailable,
        format!("stored, but the function registry was not updated ({err}); retry the request"),
    )
}

fn transfer_error(err: TransferError) -> ErrorBody {
    let code = match err {
        TransferError::TooLarge { .. } => ErrorCode::PayloadTooLarge,
        TransferError::Missing(_) => ErrorCode::BadRequest,
        TransferError::Unavailable(_) => ErrorCode::Unavailable,
    };
    ErrorBody::new(code, err.to_string())
}

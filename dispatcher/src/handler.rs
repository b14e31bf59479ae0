//! What each admin command does.

use std::sync::Arc;
use std::time::Duration;

use bus::{TransferError, TransferStore};
use protocol::{AdminRequest, AdminResponse, ErrorBody, ErrorCode, FunctionRef, StagedObject};
use storage::FunctionStore;

use crate::validate::ComponentValidator;

/// Executes admin commands against S3.
#[derive(Clone)]
pub struct AdminHandler {
    store: FunctionStore,
    transfer: TransferStore,
    validator: ComponentValidator,
    max_component_bytes: u64,
    validate_timeout: Duration,
}

impl AdminHandler {
    /// A handler over these stores.
    pub fn new(
        store: FunctionStore,
        transfer: TransferStore,
        max_component_bytes: u64,
        validate_timeout: Duration,
    ) -> Self {
        Self { store, transfer, validator: ComponentValidator::new(), max_component_bytes, validate_timeout }
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
                Ok(AdminResponse::Done)
            }
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
        // Compiling takes CPU time proportional to the upload: off the async
        // workers, and bounded so a pathological upload gets an answer.
        let validation = tokio::task::spawn_blocking(move || validator.validate(&checked));
        let digest = match tokio::time::timeout(self.validate_timeout, validation).await {
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
            Ok(Ok(Ok(digest))) => digest,
        };
        let function_info = self.store.put_function(function, bytes, &digest).await?;
        Ok(AdminResponse::Stored { function: function_info, digest })
    }
}

fn transfer_error(err: TransferError) -> ErrorBody {
    let code = match err {
        TransferError::TooLarge { .. } => ErrorCode::PayloadTooLarge,
        TransferError::Missing(_) => ErrorCode::BadRequest,
        TransferError::Unavailable(_) => ErrorCode::Unavailable,
    };
    ErrorBody::new(code, err.to_string())
}

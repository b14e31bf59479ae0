//! Bucket and function operations on S3, with errors a caller can act on.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use protocol::{BucketInfo, BucketName, ErrorBody, ErrorCode, FunctionInfo, FunctionRef};

use crate::S3Config;

/// S3 metadata key under which the component's sha256 is recorded at upload.
const DIGEST_METADATA: &str = "sha256";

/// A storage failure, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The bucket does not exist.
    #[error("bucket {0} does not exist")]
    BucketNotFound(String),
    /// The function does not exist in an existing bucket.
    #[error("function {0} does not exist")]
    FunctionNotFound(String),
    /// The bucket to create exists already.
    #[error("bucket {0} already exists")]
    BucketExists(String),
    /// The bucket still holds functions.
    #[error("bucket {0} is not empty: delete its functions first or pass force=true")]
    BucketNotEmpty(String),
    /// S3 could not be reached or answered with an unexpected error.
    #[error("object storage failed: {0}")]
    Unavailable(String),
}

impl StorageError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BucketNotFound(_) => ErrorCode::BucketNotFound,
            Self::FunctionNotFound(_) => ErrorCode::FunctionNotFound,
            Self::BucketExists(_) => ErrorCode::BucketExists,
            Self::BucketNotEmpty(_) => ErrorCode::BucketNotEmpty,
            Self::Unavailable(_) => ErrorCode::StorageError,
        }
    }
}

impl From<StorageError> for ErrorBody {
    fn from(err: StorageError) -> Self {
        ErrorBody::new(err.code(), err.to_string())
    }
}

/// What S3 said, reduced to the cases this crate distinguishes.
enum S3Failure {
    NoSuchBucket,
    NoSuchKey,
    BucketExists,
    BucketNotEmpty,
    Other(String),
}

fn classify<E, R>(err: SdkError<E, R>) -> S3Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.as_service_error().and_then(|e| e.code()).map(str::to_owned);
    match code.as_deref() {
        Some("NoSuchBucket") => S3Failure::NoSuchBucket,
        Some("NoSuchKey" | "NotFound") => S3Failure::NoSuchKey,
        Some("BucketAlreadyExists" | "BucketAlreadyOwnedByYou") => S3Failure::BucketExists,
        Some("BucketNotEmpty") => S3Failure::BucketNotEmpty,
        _ => S3Failure::Other(error_chain(&err)),
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn rfc3339(time: Option<&aws_sdk_s3::primitives::DateTime>) -> Option<String> {
    time.and_then(|t| t.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok())
}

/// Functions stored as objects: one bucket per [`BucketName`], one key per function.
#[derive(Debug, Clone)]
pub struct FunctionStore {
    s3: aws_sdk_s3::Client,
}

impl FunctionStore {
    /// A store over the S3 service described by `config`.
    pub fn new(config: &S3Config) -> Self {
        Self { s3: config.client() }
    }

    /// Every bucket.
    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>, StorageError> {
        let out = self.s3.list_buckets().send().await.map_err(|e| other(classify(e)))?;
        Ok(out
            .buckets()
            .iter()
            .filter_map(|b| {
                Some(BucketInfo { name: b.name()?.to_owned(), created: rfc3339(b.creation_date()) })
            })
            .collect())
    }

    /// Creates `bucket`.
    pub async fn create_bucket(&self, bucket: &BucketName) -> Result<(), StorageError> {
        match self.s3.create_bucket().bucket(bucket.as_str()).send().await {
            Ok(_) => Ok(()),
            Err(err) => Err(match classify(err) {
                S3Failure::BucketExists => StorageError::BucketExists(bucket.to_string()),
                failure => other(failure),
            }),
        }
    }

    /// Whether `bucket` exists.
    pub async fn bucket_exists(&self, bucket: &BucketName) -> Result<bool, StorageError> {
        match self.s3.head_bucket().bucket(bucket.as_str()).send().await {
            Ok(_) => Ok(true),
            Err(err) => match classify(err) {
                S3Failure::NoSuchBucket | S3Failure::NoSuchKey => Ok(false),
                failure => Err(other(failure)),
            },
        }
    }

    /// The functions in `bucket`, all pages.
    pub async fn list_functions(&self, bucket: &BucketName) -> Result<Vec<FunctionInfo>, StorageError> {
        let mut functions = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket.as_str())
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.bucket_failure(bucket, classify(e)))?;
            functions.extend(page.contents().iter().filter_map(|o| {
                Some(FunctionInfo {
                    name: o.key()?.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().map(|e| e.trim_matches('"').to_owned()),
                    last_modified: rfc3339(o.last_modified()),
                })
            }));
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        // Some S3 servers (s3s-fs among them) leave ETag out of listings.
        for function in functions.iter_mut().filter(|f| f.etag.is_none()) {
            let head = self.s3.head_object().bucket(bucket.as_str()).key(&function.name).send().await;
            function.etag = head.ok().and_then(|h| h.e_tag().map(|e| e.trim_matches('"').to_owned()));
        }
        Ok(functions)
    }

    /// Deletes `bucket`; with `force`, deletes its functions first.
    pub async fn delete_bucket(&self, bucket: &BucketName, force: bool) -> Result<(), StorageError> {
        let functions = self.list_functions(bucket).await?;
        if !functions.is_empty() {
            if !force {
                return Err(StorageError::BucketNotEmpty(bucket.to_string()));
            }
            for function in functions {
                self.s3
                    .delete_object()
                    .bucket(bucket.as_str())
                    .key(&function.name)
                    .send()
                    .await
                    .map_err(|e| other(classify(e)))?;
            }
        }
        match self.s3.delete_bucket().bucket(bucket.as_str()).send().await {
            Ok(_) => Ok(()),
            Err(err) => Err(match classify(err) {
                S3Failure::BucketNotEmpty => StorageError::BucketNotEmpty(bucket.to_string()),
                failure => self.bucket_failure(bucket, failure),
            }),
        }
    }

    /// Stores `component` as `function`, recording its sha256 `digest`.
    pub async fn put_function(
        &self,
        function: &FunctionRef,
        component: Bytes,
        digest: &str,
    ) -> Result<FunctionInfo, StorageError> {
        let size = component.len() as u64;
        let out = self
            .s3
            .put_object()
            .bucket(function.bucket.as_str())
            .key(function.function.as_str())
            .content_type("application/wasm")
            .metadata(DIGEST_METADATA, digest)
            .body(ByteStream::from(component))
            .send()
            .await
            .map_err(|e| self.bucket_failure(&function.bucket, classify(e)))?;
        let head = self
            .s3
            .head_object()
            .bucket(function.bucket.as_str())
            .key(function.function.as_str())
            .send()
            .await;
        Ok(FunctionInfo {
            name: function.function.to_string(),
            size,
            etag: out.e_tag().map(|e| e.trim_matches('"').to_owned()),
            last_modified: head.ok().and_then(|h| rfc3339(h.last_modified())),
        })
    }

    /// The component bytes of `function`.
    pub async fn get_function(&self, function: &FunctionRef) -> Result<Bytes, StorageError> {
        let out = self
            .s3
            .get_object()
            .bucket(function.bucket.as_str())
            .key(function.function.as_str())
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(err) => return Err(self.function_failure(function, classify(err)).await),
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Unavailable(format!("reading {function}: {e}")))?;
        Ok(body.into_bytes())
    }

    /// Deletes `function`; a missing one is an error, not a silent success.
    pub async fn delete_function(&self, function: &FunctionRef) -> Result<(), StorageError> {
        let head = self
            .s3
            .head_object()
            .bucket(function.bucket.as_str())
            .key(function.function.as_str())
            .send()
            .await;
        if let Err(err) = head {
            return Err(self.function_failure(function, classify(err)).await);
        }
        self.s3
            .delete_object()
            .bucket(function.bucket.as_str())
            .key(function.function.as_str())
            .send()
            .await
            .map_err(|e| other(classify(e)))?;
        Ok(())
    }

    fn bucket_failure(&self, bucket: &BucketName, failure: S3Failure) -> StorageError {
        match failure {
            S3Failure::NoSuchBucket => StorageError::BucketNotFound(bucket.to_string()),
            failure => other(failure),
        }
    }

    /// A 404 on an object does not say whether the bucket or the key is
    /// missing (HEAD has no body), so ask about the bucket.
    async fn function_failure(&self, function: &FunctionRef, failure: S3Failure) -> StorageError {
        match failure {
            S3Failure::NoSuchBucket => StorageError::BucketNotFound(function.bucket.to_string()),
            S3Failure::NoSuchKey => match self.bucket_exists(&function.bucket).await {
                Ok(false) => StorageError::BucketNotFound(function.bucket.to_string()),
                Ok(true) => StorageError::FunctionNotFound(function.to_string()),
                Err(err) => err,
            },
            failure => other(failure),
        }
    }
}

fn other(failure: S3Failure) -> StorageError {
    match failure {
        S3Failure::Other(message) => StorageError::Unavailable(message),
        S3Failure::NoSuchBucket => StorageError::Unavailable("unexpected NoSuchBucket".into()),
        S3Failure::NoSuchKey => StorageError::Unavailable("unexpected NoSuchKey".into()),
        S3Failure::BucketExists => StorageError::Unavailable("unexpected BucketAlreadyExists".into()),
        S3Failure::BucketNotEmpty => StorageError::Unavailable("unexpected BucketNotEmpty".into()),
    }
}

//! Bucket and function operations on S3, with errors a caller can act on.
//!
//! S3 servers differ where the platform needs one answer: RustFS and AWS
//! (us-east-1) accept a second create of a bucket you own, and a versioned
//! bucket keeps old versions and delete markers that a plain listing does not
//! show. This module gives every server the same semantics: a create of an
//! existing bucket is [`StorageError::BucketExists`], and deleting a function
//! or a bucket removes every version of what it deletes.
//!
//! The platform's own objects in a bucket live under `.faas/`, which no
//! function name can start with: the creation claim, and the
//! content-addressed version history (`.faas/versions/<function>/<digest>`,
//! each written only if absent, so identical uploads share one object). S3
//! object versions of a function's key are not that history: they live
//! only as long as the function, and no bucket versioning is needed.
//! One part of `.faas/` is the functions' data, not the platform's:
//! `.faas/blobs/` (`wasi:blobstore` objects), which keeps a bucket from a
//! delete without force just as a function does.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;
use protocol::capabilities::BLOB_PREFIX;
use protocol::{BucketInfo, BucketName, ErrorBody, ErrorCode, FunctionInfo, FunctionRef};

use crate::S3Config;

/// S3 metadata key under which the component's sha256 is recorded at upload.
const DIGEST_METADATA: &str = "sha256";

/// Key prefix of the objects the platform keeps for itself in a bucket. A
/// function name has no `.` or `/`, so no function is ever under it, and
/// listings of functions leave it out.
const PLATFORM_PREFIX: &str = ".faas/";

/// The object whose conditional create decides which of two racing bucket
/// creates made the bucket (see [`FunctionStore::create_bucket`]).
const CREATION_CLAIM: &str = ".faas/bucket";

/// Where the bytes of every version of a function are kept, content
/// addressed: `.faas/versions/<function>/<digest>`.
const VERSIONS_PREFIX: &str = ".faas/versions/";

/// DeleteObjects takes at most this many keys per request.
const DELETE_BATCH: usize = 1000;

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
    /// The bucket holds its functions' blob data (`wasi:blobstore` objects).
    #[error(
        "bucket {0} is not empty: it holds blob data its functions wrote through wasi:blobstore; \
         delete it with force=true (which deletes the blobs too) or delete the blobs first"
    )]
    HoldsBlobs(String),
    /// S3 could not be reached or answered with an unexpected error.
    #[error("object storage failed: {0}")]
    Unavailable(String),
    /// The stored object is larger than this store reads.
    #[error("{function} is more than the {limit} bytes this store reads")]
    TooLarge {
        /// The function.
        function: String,
        /// The read limit in bytes.
        limit: u64,
    },
}

impl StorageError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BucketNotFound(_) => ErrorCode::BucketNotFound,
            Self::FunctionNotFound(_) => ErrorCode::FunctionNotFound,
            Self::BucketExists(_) => ErrorCode::BucketExists,
            Self::BucketNotEmpty(_) | Self::HoldsBlobs(_) => ErrorCode::BucketNotEmpty,
            Self::Unavailable(_) => ErrorCode::StorageError,
            Self::TooLarge { .. } => ErrorCode::PayloadTooLarge,
        }
    }
}

impl From<StorageError> for ErrorBody {
    fn from(err: StorageError) -> Self {
        ErrorBody::new(err.code(), err.to_string())
    }
}

/// What S3 said, reduced to the cases this crate distinguishes.
#[derive(Debug)]
enum S3Failure {
    NoSuchBucket,
    NoSuchKey,
    BucketExists,
    BucketNotEmpty,
    /// A conditional write lost: the object exists (or another conditional
    /// write on it is in flight, AWS's `ConditionalRequestConflict`).
    PreconditionFailed,
    /// The server does not implement the operation (s3s-fs and versions).
    NotImplemented,
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
        Some("PreconditionFailed" | "ConditionalRequestConflict") => S3Failure::PreconditionFailed,
        Some("NotImplemented") => S3Failure::NotImplemented,
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
    read_limit: u64,
}

impl FunctionStore {
    /// Most bytes of one function read, unless set otherwise
    /// ([`FunctionStore::with_read_limit`]): the platform's default
    /// component limit.
    pub const DEFAULT_READ_LIMIT: u64 = 64 << 20;

    /// A store over the S3 service described by `config`.
    pub fn new(config: &S3Config) -> Self {
        Self { s3: config.client(), read_limit: Self::DEFAULT_READ_LIMIT }
    }

    /// The same store, reading at most `bytes` of a function: a larger
    /// object (put there behind the platform's back) is refused as
    /// [`StorageError::TooLarge`] without being read into memory.
    pub fn with_read_limit(mut self, bytes: u64) -> Self {
        self.read_limit = bytes;
        self
    }

    /// Every bucket.
    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>, StorageError> {
        let out = self.s3.list_buckets().send().await.map_err(|e| other(classify(e)))?;
        Ok(out
            .buckets()
            .iter()
            .filter_map(|b| {
                // Settings are not S3's business: the dispatcher adds them.
                Some(BucketInfo {
                    name: b.name()?.to_owned(),
                    created: rfc3339(b.creation_date()),
                    settings: Default::default(),
                })
            })
            .collect())
    }

    /// Creates `bucket`; [`StorageError::BucketExists`] if it exists, on
    /// every server, and for exactly one of two racing creates.
    pub async fn create_bucket(&self, bucket: &BucketName) -> Result<(), StorageError> {
        // RustFS and AWS (us-east-1) answer a create of a bucket we own with
        // success, so only asking first tells that it existed. A HEAD error
        // (AWS answers 403 for another account's bucket) is left to the
        // create, which names it.
        if let Ok(true) = self.bucket_exists(bucket).await {
            return Err(StorageError::BucketExists(bucket.to_string()));
        }
        if let Err(err) = self.s3.create_bucket().bucket(bucket.as_str()).send().await {
            return Err(match classify(err) {
                S3Failure::BucketExists => StorageError::BucketExists(bucket.to_string()),
                failure => other(failure),
            });
        }
        // Two creates that both passed the HEAD both succeed on those
        // servers. Creating the claim only if it does not exist is atomic
        // (If-None-Match: *), so it picks the one that made the bucket. A
        // server that ignores the condition lets both succeed, as before.
        let claim = self
            .s3
            .put_object()
            .bucket(bucket.as_str())
            .key(CREATION_CLAIM)
            .if_none_match("*")
            .body(ByteStream::from_static(b""))
            .send()
            .await;
        match claim {
            Ok(_) => Ok(()),
            Err(err) => Err(match classify(err) {
                S3Failure::PreconditionFailed => StorageError::BucketExists(bucket.to_string()),
                failure => self.bucket_failure(bucket, failure),
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
                let key = o.key().filter(|key| !key.starts_with(PLATFORM_PREFIX))?;
                Some(FunctionInfo {
                    name: key.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().map(|e| e.trim_matches('"').to_owned()),
                    last_modified: rfc3339(o.last_modified()),
                    // S3 does not know; the dispatcher reads it from the registry.
                    world: protocol::World::default(),
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

    /// Deletes `bucket`. Without `force` it must hold no function and no
    /// blob data; with `force`, every object version and delete marker in
    /// it goes first (blobs included), so a versioned bucket goes too.
    pub async fn delete_bucket(&self, bucket: &BucketName, force: bool) -> Result<(), StorageError> {
        if force {
            self.delete_versions(bucket, Keys::Prefix("")).await?;
        } else {
            if !self.list_functions(bucket).await?.is_empty() {
                return Err(StorageError::BucketNotEmpty(bucket.to_string()));
            }
            // Blob data is the functions' data, not the platform's
            // bookkeeping: it keeps the bucket like a function does.
            if self.holds_blobs(bucket).await? {
                return Err(StorageError::HoldsBlobs(bucket.to_string()));
            }
            // The platform's own objects do not make a bucket "not empty".
            self.delete_versions(bucket, Keys::Prefix(PLATFORM_PREFIX)).await?;
        }
        match self.s3.delete_bucket().bucket(bucket.as_str()).send().await {
            Ok(_) => Ok(()),
            Err(err) => Err(match classify(err) {
                S3Failure::BucketNotEmpty => StorageError::BucketNotEmpty(bucket.to_string()),
                failure => self.bucket_failure(bucket, failure),
            }),
        }
    }

    /// Whether any object is under the bucket's blob prefix.
    async fn holds_blobs(&self, bucket: &BucketName) -> Result<bool, StorageError> {
        let page = self
            .s3
            .list_objects_v2()
            .bucket(bucket.as_str())
            .prefix(BLOB_PREFIX)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| self.bucket_failure(bucket, classify(e)))?;
        Ok(!page.contents().is_empty())
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
            world: protocol::World::default(),
        })
    }

    /// The digest `function`'s object was written with (`None`: no object,
    /// or one written by a plain S3 tool, without the metadata): what the
    /// dispatcher compares with the registry to keep the two in step.
    pub async fn stored_digest(&self, function: &FunctionRef) -> Result<Option<String>, StorageError> {
        let head = self
            .s3
            .head_object()
            .bucket(function.bucket.as_str())
            .key(function.function.as_str())
            .send()
            .await;
        match head {
            Ok(head) => Ok(head.metadata().and_then(|m| m.get(DIGEST_METADATA)).cloned()),
            Err(err) => match classify(err) {
                S3Failure::NoSuchKey => Ok(None),
                failure => Err(self.function_failure(function, failure).await),
            },
        }
    }

    /// The component bytes of `function`.
    pub async fn get_function(&self, function: &FunctionRef) -> Result<Bytes, StorageError> {
        self.read(function, function.function.as_str()).await
    }

    /// Keeps `component`, `function`'s version `digest`, content-addressed
    /// beside it. Written only if absent: an identical upload adds no bytes
    /// (and, on a versioned bucket, no S3 version).
    pub async fn put_version(
        &self,
        function: &FunctionRef,
        component: Bytes,
        digest: &str,
    ) -> Result<(), StorageError> {
        let key = version_object(function, digest);
        let head = self.s3.head_object().bucket(function.bucket.as_str()).key(&key).send().await;
        if head.is_ok() {
            return Ok(());
        }
        let put = self
            .s3
            .put_object()
            .bucket(function.bucket.as_str())
            .key(&key)
            .if_none_match("*")
            .content_type("application/wasm")
            .metadata(DIGEST_METADATA, digest)
            .body(ByteStream::from(component))
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            // Another upload of the same bytes wrote it first.
            Err(err) => match classify(err) {
                S3Failure::PreconditionFailed => Ok(()),
                failure => Err(self.bucket_failure(&function.bucket, failure)),
            },
        }
    }

    /// The bytes of `function`'s version `digest`
    /// ([`StorageError::FunctionNotFound`] when they are not kept).
    pub async fn get_version(&self, function: &FunctionRef, digest: &str) -> Result<Bytes, StorageError> {
        self.read(function, &version_object(function, digest)).await
    }

    /// Deletes the bytes of `function`'s version `digest` (every S3 version
    /// of them); a missing one is no error.
    pub async fn delete_version(&self, function: &FunctionRef, digest: &str) -> Result<(), StorageError> {
        self.delete_versions(&function.bucket, Keys::Exact(&version_object(function, digest))).await
    }

    /// The digests whose bytes are kept for `function`.
    pub async fn version_digests(&self, function: &FunctionRef) -> Result<Vec<String>, StorageError> {
        let prefix = version_prefix(function);
        let mut digests = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(function.bucket.as_str())
                .prefix(&prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.bucket_failure(&function.bucket, classify(e)))?;
            digests.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key()?.strip_prefix(prefix.as_str()).map(str::to_owned)),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(digests),
            }
        }
    }

    /// The object `key` of `function`'s bucket, read up to the read limit.
    async fn read(&self, function: &FunctionRef, key: &str) -> Result<Bytes, StorageError> {
        let out = self.s3.get_object().bucket(function.bucket.as_str()).key(key).send().await;
        let out = match out {
            Ok(out) => out,
            Err(err) => return Err(self.function_failure(function, classify(err)).await),
        };
        let too_large = || StorageError::TooLarge { function: function.to_string(), limit: self.read_limit };
        let announced = out.content_length().and_then(|len| u64::try_from(len).ok()).unwrap_or(0);
        if announced > self.read_limit {
            return Err(too_large());
        }
        // The announced length is the server's word: count while reading.
        let mut body = out.body;
        let mut bytes = bytes::BytesMut::with_capacity(announced as usize);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| StorageError::Unavailable(format!("reading {function}: {e}")))?;
            if (bytes.len() + chunk.len()) as u64 > self.read_limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes.freeze())
    }

    /// Deletes `function`, every S3 version of its object included, and
    /// the bytes of every version of it the platform kept; a missing
    /// function is an error, not a silent success.
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
        self.delete_versions(&function.bucket, Keys::Exact(function.function.as_str())).await?;
        self.delete_versions(&function.bucket, Keys::Prefix(&version_prefix(function))).await
    }

    /// Deletes every version and delete marker of `keys` in `bucket`.
    async fn delete_versions(&self, bucket: &BucketName, keys: Keys<'_>) -> Result<(), StorageError> {
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .s3
                .list_object_versions()
                .bucket(bucket.as_str())
                .prefix(keys.prefix())
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                // s3s-fs (the local server) has no ListObjectVersions, and no
                // versions either: its current objects are all there is.
                Err(err) => match classify(err) {
                    S3Failure::NotImplemented => return self.delete_current_objects(bucket, keys).await,
                    failure => return Err(self.bucket_failure(bucket, failure)),
                },
            };
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
            let targets = versions
                .chain(markers)
                .filter_map(|(key, version)| Some((key.filter(|k| keys.contains(k))?, version)))
                .map(|(key, version)| {
                    ObjectIdentifier::builder().key(key).set_version_id(version.map(str::to_owned)).build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StorageError::Unavailable(format!("listing versions in {bucket}: {e}")))?;
            self.delete_objects(bucket, targets).await?;
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
    }

    /// Deletes the current objects of `keys`: [`Self::delete_versions`] on a
    /// server without versions.
    async fn delete_current_objects(&self, bucket: &BucketName, keys: Keys<'_>) -> Result<(), StorageError> {
        let mut token = None;
        loop {
            let page = self
                .s3
                .list_objects_v2()
                .bucket(bucket.as_str())
                .prefix(keys.prefix())
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.bucket_failure(bucket, classify(e)))?;
            let targets = page
                .contents()
                .iter()
                .filter_map(|o| o.key().filter(|k| keys.contains(k)))
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StorageError::Unavailable(format!("listing objects in {bucket}: {e}")))?;
            self.delete_objects(bucket, targets).await?;
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(()),
            }
        }
    }

    /// Deletes `targets` in batches; any key the server did not delete is an error.
    async fn delete_objects(
        &self,
        bucket: &BucketName,
        targets: Vec<ObjectIdentifier>,
    ) -> Result<(), StorageError> {
        for batch in targets.chunks(DELETE_BATCH) {
            let delete = Delete::builder()
                .set_objects(Some(batch.to_vec()))
                .quiet(true)
                .build()
                .map_err(|e| StorageError::Unavailable(format!("deleting objects in {bucket}: {e}")))?;
            let out = self
                .s3
                .delete_objects()
                .bucket(bucket.as_str())
                .delete(delete)
                .send()
                .await
                .map_err(|e| self.bucket_failure(bucket, classify(e)))?;
            if let Some(failed) = out.errors().first() {
                return Err(StorageError::Unavailable(format!(
                    "deleting {} (version {}) in {bucket}: {} {}",
                    failed.key().unwrap_or("?"),
                    failed.version_id().unwrap_or("null"),
                    failed.code().unwrap_or("?"),
                    failed.message().unwrap_or(""),
                )));
            }
        }
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

/// Which keys of a bucket an operation covers.
#[derive(Debug, Clone, Copy)]
enum Keys<'a> {
    /// Every key starting with this (every key for "").
    Prefix(&'a str),
    /// This key only (a prefix listing also returns longer keys).
    Exact(&'a str),
}

impl<'a> Keys<'a> {
    fn prefix(self) -> &'a str {
        match self {
            Self::Prefix(prefix) | Self::Exact(prefix) => prefix,
        }
    }

    fn contains(self, key: &str) -> bool {
        match self {
            Self::Prefix(prefix) => key.starts_with(prefix),
            Self::Exact(exact) => key == exact,
        }
    }
}

/// The key prefix of `function`'s kept versions.
fn version_prefix(function: &FunctionRef) -> String {
    format!("{VERSIONS_PREFIX}{}/", function.function)
}

/// The key of `function`'s kept version `digest`.
fn version_object(function: &FunctionRef, digest: &str) -> String {
    format!("{}{digest}", version_prefix(function))
}

fn other(failure: S3Failure) -> StorageError {
    match failure {
        S3Failure::Other(message) => StorageError::Unavailable(message),
        unexpected => StorageError::Unavailable(format!("unexpected S3 answer {unexpected:?}")),
    }
}

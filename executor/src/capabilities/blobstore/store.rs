//! The S3 requests behind `wasi:blobstore`, on keys [`super::names`] built:
//! nothing here takes a guest's name directly.
//!
//! S3's own messages (endpoint, credentials' owner, server internals) never
//! reach the guest: a failure is reduced to [`BlobFailure`] and the details
//! are logged for the operator.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::{Bytes, BytesMut};

use super::names::copy_source;

/// DeleteObjects takes at most this many keys per request.
const DELETE_BATCH: usize = 1000;

/// Why an S3 request failed, as much as a guest may know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobFailure {
    /// No such object (or bucket).
    NotFound,
    /// The range asked for is outside the object.
    InvalidRange,
    /// Reading it would pass the call's read cap.
    OverReadCap {
        /// The bytes the call may still read.
        left: u64,
    },
    /// S3 could not be reached or failed; logged.
    Unavailable,
}

fn failure<E>(operation: &str, err: SdkError<E, HttpResponse>) -> BlobFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.as_service_error().and_then(|e| e.code()).map(str::to_owned);
    match (status, code.as_deref()) {
        (_, Some("NoSuchKey" | "NotFound" | "NoSuchBucket")) | (Some(404), _) => BlobFailure::NotFound,
        (_, Some("InvalidRange")) | (Some(416), _) => BlobFailure::InvalidRange,
        _ => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(inner) = source {
                text.push_str(": ");
                text.push_str(&inner.to_string());
                source = inner.source();
            }
            tracing::warn!(operation, error = %text, "blobstore: S3 request failed");
            BlobFailure::Unavailable
        }
    }
}

/// What a HEAD tells.
#[derive(Debug, Clone, Copy)]
pub struct Head {
    /// Size in bytes.
    pub size: u64,
    /// Last modified, seconds since the Unix epoch (0 if unknown).
    pub modified: u64,
}

/// S3 for blobs: one client shared by every call.
#[derive(Clone)]
pub struct BlobS3 {
    s3: aws_sdk_s3::Client,
}

impl BlobS3 {
    /// Requests go through `s3`.
    pub fn new(s3: aws_sdk_s3::Client) -> Self {
        Self { s3 }
    }

    /// The object's size and time, `None` if it does not exist.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<Head>, BlobFailure> {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(out) => Ok(Some(Head {
                size: out.content_length().unwrap_or(0).max(0) as u64,
                modified: out.last_modified().map(|t| t.secs().max(0) as u64).unwrap_or(0),
            })),
            Err(err) => match failure("head", err) {
                BlobFailure::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    /// The object's bytes in `range` (inclusive, `None`: all), at most
    /// `left` of them: a larger body is refused before or while it is read.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, Option<u64>)>,
        left: u64,
    ) -> Result<Bytes, BlobFailure> {
        let range = range.map(|(start, end)| match end {
            Some(end) => format!("bytes={start}-{end}"),
            None => format!("bytes={start}-"),
        });
        let out = self.s3.get_object().bucket(bucket).key(key).set_range(range).send().await;
        let out = out.map_err(|e| failure("get", e))?;
        let announced = out.content_length().unwrap_or(0).max(0) as u64;
        if announced > left {
            return Err(BlobFailure::OverReadCap { left });
        }
        // The announced length is the server's word: count while reading.
        let mut body = out.body;
        let mut bytes = BytesMut::with_capacity(announced as usize);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                tracing::warn!(error = %e, "blobstore: reading an S3 body failed");
                BlobFailure::Unavailable
            })?;
            if (bytes.len() + chunk.len()) as u64 > left {
                return Err(BlobFailure::OverReadCap { left });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes.freeze())
    }

    /// Creates or replaces the object.
    pub async fn put(&self, bucket: &str, key: &str, body: Bytes) -> Result<(), BlobFailure> {
        let put = self.s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body)).send().await;
        put.map(drop).map_err(|e| failure("put", e))
    }

    /// Copies `from` to `to` in the same bucket, on the server.
    pub async fn copy(&self, bucket: &str, from: &str, to: &str) -> Result<(), BlobFailure> {
        let copy =
            self.s3.copy_object().bucket(bucket).key(to).copy_source(copy_source(bucket, from)).send().await;
        copy.map(drop).map_err(|e| failure("copy", e))
    }

    /// Deletes the object; a missing one is no error.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), BlobFailure> {
        match self.s3.delete_object().bucket(bucket).key(key).send().await {
            Ok(_) => Ok(()),
            Err(err) => match failure("delete", err) {
                BlobFailure::NotFound => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Deletes `keys`, in batches.
    pub async fn delete_many(&self, bucket: &str, keys: Vec<String>) -> Result<(), BlobFailure> {
        for batch in keys.chunks(DELETE_BATCH) {
            let objects = batch
                .iter()
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| BlobFailure::Unavailable)?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|_| BlobFailure::Unavailable)?;
            let out = self.s3.delete_objects().bucket(bucket).delete(delete).send().await;
            let out = out.map_err(|e| failure("delete-many", e))?;
            if let Some(failed) = out.errors().first() {
                tracing::warn!(
                    key = failed.key().unwrap_or("?"),
                    code = failed.code().unwrap_or("?"),
                    "blobstore: S3 did not delete an object"
                );
                return Err(BlobFailure::Unavailable);
            }
        }
        Ok(())
    }

    /// One page of the keys under `prefix`, and the token of the next.
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), BlobFailure> {
        let page = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| failure("list", e))?;
        let keys = page.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
        let next = match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => Some(next.to_owned()),
            _ => None,
        };
        Ok((keys, next))
    }

    /// Deletes every object under `prefix`.
    pub async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<(), BlobFailure> {
        // Deleting while listing would shift the pages: list all, then delete.
        let (mut keys, mut token) = (Vec::new(), None);
        loop {
            let (page, next) = self.list(bucket, prefix, token).await?;
            keys.extend(page);
            match next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        self.delete_many(bucket, keys).await
    }
}

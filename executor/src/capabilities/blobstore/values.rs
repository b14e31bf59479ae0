//! The bodies of `wasi:blobstore` values: what a guest writes into an
//! `outgoing-value` (kept in memory until it is stored, within the call's
//! write cap) and what an `incoming-value` holds (read from S3 within the
//! call's read cap).
//!
//! The write cap is enforced as bytes arrive: the output stream charges
//! every write to the call's shared counter and refuses the write that
//! would pass the cap, which also spoils the value, so nothing of it is
//! stored. Buffering is bounded by the cap, never by what the guest sends.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use super::names::{Container, Object};

/// Most bytes one `check-write` permits (a guest writes in such pieces).
const WRITE_PERMIT: usize = 64 << 10;

/// What an outgoing value's stream has collected.
#[derive(Debug, Default)]
pub struct Body {
    /// The bytes written so far.
    pub bytes: BytesMut,
    /// A write passed the cap: the value must not be stored.
    pub spoiled: Option<String>,
    /// Stored or finished: later writes are refused.
    pub closed: bool,
}

/// A call's blob-write counter, shared by every stream of its values.
#[derive(Debug, Clone)]
pub struct WriteBudget {
    /// Bytes charged so far (`CallUsage::blob_written`).
    pub used: Arc<AtomicU64>,
    /// The call's cap.
    pub cap: u64,
}

impl WriteBudget {
    /// Charges `bytes`, or refuses them whole if they would pass the cap.
    pub fn charge(&self, bytes: u64) -> Result<(), String> {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.cap)
            })
            .map(drop)
            .map_err(|used| {
                format!(
                    "blob write refused: {bytes} more bytes would pass this call's cap of {} bytes \
                     ({used} already written; FAAS_BLOB_MAX_WRITE_BYTES)",
                    self.cap
                )
            })
    }
}

/// `wasi:blobstore/types.outgoing-value`.
#[derive(Debug)]
pub struct OutgoingValue {
    /// Shared with its output stream, once taken.
    pub body: Arc<Mutex<Body>>,
    /// The stream was handed out (at most once).
    pub stream_taken: bool,
    /// Where `write-data` said it goes.
    pub target: Option<(Container, Object)>,
    /// Already stored by `write-data`: `finish` has nothing left to do.
    pub stored: bool,
    /// Charged against the call's writes.
    pub budget: WriteBudget,
}

impl OutgoingValue {
    /// An empty value charging `budget`.
    pub fn new(budget: WriteBudget) -> Self {
        Self { body: Arc::default(), stream_taken: false, target: None, stored: false, budget }
    }

    /// Whether the guest is done writing: its stream was taken and dropped.
    pub fn stream_released(&self) -> bool {
        self.stream_taken && Arc::strong_count(&self.body) == 1
    }

    /// Closes the body and takes its bytes, or why they must not be stored.
    pub fn take(&self) -> Result<Bytes, String> {
        let mut body = lock(&self.body);
        body.closed = true;
        match body.spoiled.clone() {
            Some(why) => Err(format!("{why}; nothing was stored")),
            None => Ok(std::mem::take(&mut body.bytes).freeze()),
        }
    }
}

/// `wasi:blobstore/types.incoming-value`: the bytes read, held until the
/// guest consumes them.
#[derive(Debug)]
pub struct IncomingValue {
    /// The object's bytes (or the range asked for).
    pub bytes: Bytes,
}

/// The output stream of an outgoing value.
pub struct BodyWriter {
    body: Arc<Mutex<Body>>,
    budget: WriteBudget,
}

impl BodyWriter {
    /// A writer into `value`'s body.
    pub fn new(value: &OutgoingValue) -> Self {
        Self { body: value.body.clone(), budget: value.budget.clone() }
    }
}

fn lock(body: &Mutex<Body>) -> MutexGuard<'_, Body> {
    // A panic while holding it leaves plain bytes: still consistent.
    body.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn failed(why: &str) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::format_err!("{why}"))
}

impl OutputStream for BodyWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let mut body = lock(&self.body);
        if body.closed {
            return Err(StreamError::Closed);
        }
        if let Some(why) = &body.spoiled {
            return Err(failed(why));
        }
        if let Err(why) = self.budget.charge(bytes.len() as u64) {
            body.bytes = BytesMut::new();
            body.spoiled = Some(why.clone());
            return Err(failed(&why));
        }
        body.bytes.extend_from_slice(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let body = lock(&self.body);
        if body.closed {
            return Err(StreamError::Closed);
        }
        match &body.spoiled {
            Some(why) => Err(failed(why)),
            None => Ok(WRITE_PERMIT),
        }
    }
}

// What `#[async_trait]` expands `async fn ready(&mut self) {}` to: the body
// is memory, always ready.
impl Pollable for BodyWriter {
    fn ready<'life0, 'async_trait>(
        &'life0 mut self,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_past_the_cap_spoils_the_value_and_is_not_kept() {
        let budget = WriteBudget { used: Arc::default(), cap: 10 };
        let value = OutgoingValue::new(budget.clone());
        let mut writer = BodyWriter::new(&value);
        writer.write(Bytes::from_static(b"12345678")).unwrap();
        assert!(matches!(writer.write(Bytes::from_static(b"abc")), Err(StreamError::LastOperationFailed(_))));
        assert!(writer.check_write().is_err());
        assert!(value.take().unwrap_err().contains("nothing was stored"));
        // The refused bytes were not charged; a second value may use the rest.
        assert_eq!(budget.used.load(Ordering::SeqCst), 8);
        budget.charge(2).unwrap();
        assert!(budget.charge(1).is_err());
    }

    #[test]
    fn the_body_is_taken_once_the_stream_is_released() {
        let value = OutgoingValue {
            stream_taken: true,
            ..OutgoingValue::new(WriteBudget { used: Arc::default(), cap: 100 })
        };
        let mut writer = BodyWriter::new(&value);
        writer.write(Bytes::from_static(b"hello")).unwrap();
        assert!(!value.stream_released());
        drop(writer);
        assert!(value.stream_released());
        assert_eq!(value.take().unwrap(), Bytes::from_static(b"hello"));
    }
}

//! The `wasi:blobstore` host functions on a call's [`CapabilityView`]:
//! each checks the grant, the names and the caps, counts itself in the
//! capability metrics, and answers the guest an `error` string on any
//! failure.

use std::collections::VecDeque;
use std::sync::Arc;

use protocol::Capability;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

use super::bindings::wasi::blobstore::{blobstore, container, types};
use bytes::Bytes;

use super::names::{self, Container, Object};
use super::store::{BlobFailure, BlobS3};
use super::values::{BodyWriter, IncomingValue, OutgoingValue, WriteBudget};
use crate::capabilities::{CapabilityMetrics, CapabilityView};

/// Most names one `read-stream-object-names` returns; a guest reads on
/// until the stream says it ended.
const MAX_NAMES_PER_READ: u64 = 10_000;

type Answer<T> = wasmtime::Result<Result<T, String>>;

/// `wasi:blobstore/container.stream-object-names`: a listing read from S3
/// a page at a time, as the guest asks.
pub struct ObjectNames {
    container: Container,
    pending: VecDeque<String>,
    token: Option<String>,
    done: bool,
}

/// One host call under way: what it needs of the shared backend.
struct Op {
    s3: BlobS3,
    bucket: String,
    name: &'static str,
    metrics: Arc<CapabilityMetrics>,
    read_cap: u64,
}

impl Op {
    /// Counts a failed answer.
    fn end<T>(&self, answer: Result<T, String>) -> Result<T, String> {
        if answer.is_err() {
            self.metrics.error(Capability::Blobstore, self.name);
        }
        answer
    }

    fn written(&self, bytes: u64) {
        self.metrics.bytes(Capability::Blobstore, "written", bytes);
    }
}

/// What the guest is told about a failure on `what`.
fn describe(failure: BlobFailure, what: &str, read_cap: u64) -> String {
    match failure {
        BlobFailure::NotFound => format!("{what} does not exist"),
        BlobFailure::InvalidRange => format!("the range asked for is outside {what}"),
        BlobFailure::OverReadCap { left } => format!(
            "reading {what} would pass this call's blob read cap of {read_cap} bytes ({left} bytes \
             left; FAAS_BLOB_MAX_READ_BYTES)"
        ),
        BlobFailure::Unavailable => "blob storage is unavailable; try again".to_owned(),
    }
}

impl CapabilityView<'_> {
    /// Starts host call `name`, refused unless the grant covers it
    /// (`writes`: needs `write`).
    fn begin_blob(&mut self, name: &'static str, writes: bool) -> Result<Op, String> {
        let (Some(hosts), Some(identity)) = (&self.call.hosts, &self.call.identity) else {
            return Err("wasi:blobstore is not available in this runtime".to_owned());
        };
        hosts.metrics.call(Capability::Blobstore, name);
        let access = self.call.grants.blobstore;
        let refused = if !access.granted() {
            Some(format!("{name}: wasi:blobstore is not granted to this function"))
        } else if writes && !access.writes() {
            Some(format!(
                "{name} writes, and this function is granted wasi:blobstore read-only; grant \
                 {{\"capabilities\": {{\"blobstore\": \"write\"}}}} to let it write"
            ))
        } else {
            None
        };
        if let Some(refused) = refused {
            hosts.metrics.error(Capability::Blobstore, name);
            return Err(refused);
        }
        Ok(Op {
            s3: hosts.blobs.s3.clone(),
            bucket: identity.function.bucket.to_string(),
            name,
            metrics: hosts.metrics.clone(),
            read_cap: hosts.limits.blob_max_read_bytes,
        })
    }

    /// The call's write counter and cap.
    fn write_budget(&self) -> WriteBudget {
        let cap = self.call.hosts.as_ref().map_or(0, |h| h.limits.blob_max_write_bytes);
        WriteBudget { used: self.call.usage.blob_written.clone(), cap }
    }
}

impl Op {
    async fn has_container(&self, container: &Container) -> Result<bool, String> {
        let head = self.s3.head(&self.bucket, &container.marker()).await;
        let what = format!("container {}", container.as_str());
        head.map(|h| h.is_some()).map_err(|f| describe(f, &what, self.read_cap))
    }

    async fn require_container(&self, container: &Container) -> Result<(), String> {
        if self.has_container(container).await? {
            Ok(())
        } else {
            Err(format!("container {} does not exist", container.as_str()))
        }
    }

    /// Stores an outgoing value's body (`OutgoingValue::take`) at its target.
    async fn store(
        &self,
        target: Option<(Container, Object)>,
        body: Result<Bytes, String>,
    ) -> Result<(), String> {
        let Some((container, object)) = target else {
            return Err("the outgoing value was never given to write-data; nothing was stored".to_owned());
        };
        let body = body?;
        let len = body.len() as u64;
        let what = format!("{}/{}", container.as_str(), object.as_str());
        let put = self.s3.put(&self.bucket, &container.key(&object), body).await;
        put.map_err(|f| describe(f, &what, self.read_cap))?;
        self.written(len);
        Ok(())
    }

    /// Copies (and with `remove`, moves) one object within the bucket,
    /// charging its size to `budget`.
    async fn copy(
        &self,
        src: types::ObjectId,
        dest: types::ObjectId,
        remove: bool,
        budget: WriteBudget,
    ) -> Result<(), String> {
        let (from_c, from_o) = (names::container(&src.container)?, names::object(&src.object)?);
        let (to_c, to_o) = (names::container(&dest.container)?, names::object(&dest.object)?);
        let (from, to) = (from_c.key(&from_o), to_c.key(&to_o));
        let what = format!("{}/{}", src.container, src.object);
        self.require_container(&to_c).await?;
        let head = self.s3.head(&self.bucket, &from).await.map_err(|f| describe(f, &what, self.read_cap))?;
        let Some(head) = head else {
            return Err(format!("{what} does not exist"));
        };
        if from == to {
            return Ok(());
        }
        // A server-side copy stores bytes like a write: it counts.
        budget.charge(head.size)?;
        self.s3.copy(&self.bucket, &from, &to).await.map_err(|f| describe(f, &what, self.read_cap))?;
        self.written(head.size);
        if remove {
            self.s3.delete(&self.bucket, &from).await.map_err(|f| describe(f, &what, self.read_cap))?;
        }
        Ok(())
    }
}

macro_rules! begin {
    ($view:expr, $name:literal, $writes:expr) => {
        match $view.begin_blob($name, $writes) {
            Ok(op) => op,
            Err(refused) => return Ok(Err(refused)),
        }
    };
}

impl blobstore::Host for CapabilityView<'_> {
    async fn create_container(&mut self, name: String) -> Answer<Resource<Container>> {
        let op = begin!(self, "create-container", true);
        let answer = async {
            let container = names::container(&name)?;
            // As wasmCloud: creating an existing container answers it.
            if !op.has_container(&container).await? {
                let put = op.s3.put(&op.bucket, &container.marker(), bytes::Bytes::new()).await;
                put.map_err(|f| describe(f, &format!("container {name}"), op.read_cap))?;
            }
            Ok(container)
        }
        .await;
        match op.end(answer) {
            Ok(container) => Ok(Ok(self.table.push(container)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn get_container(&mut self, name: String) -> Answer<Resource<Container>> {
        let op = begin!(self, "get-container", false);
        let answer = async {
            let container = names::container(&name)?;
            op.require_container(&container).await?;
            Ok(container)
        }
        .await;
        match op.end(answer) {
            Ok(container) => Ok(Ok(self.table.push(container)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn delete_container(&mut self, name: String) -> Answer<()> {
        let op = begin!(self, "delete-container", true);
        let answer = async {
            let container = names::container(&name)?;
            op.require_container(&container).await?;
            let what = format!("container {name}");
            op.s3.delete_prefix(&op.bucket, &container.prefix()).await.map_err(|f| describe(f, &what, 0))?;
            op.s3.delete(&op.bucket, &container.marker()).await.map_err(|f| describe(f, &what, 0))
        }
        .await;
        Ok(op.end(answer))
    }

    async fn container_exists(&mut self, name: String) -> Answer<bool> {
        let op = begin!(self, "container-exists", false);
        let answer = async { op.has_container(&names::container(&name)?).await }.await;
        Ok(op.end(answer))
    }

    async fn copy_object(&mut self, src: types::ObjectId, dest: types::ObjectId) -> Answer<()> {
        let op = begin!(self, "copy-object", true);
        let answer = op.copy(src, dest, false, self.write_budget()).await;
        Ok(op.end(answer))
    }

    async fn move_object(&mut self, src: types::ObjectId, dest: types::ObjectId) -> Answer<()> {
        let op = begin!(self, "move-object", true);
        let answer = op.copy(src, dest, true, self.write_budget()).await;
        Ok(op.end(answer))
    }
}

impl container::Host for CapabilityView<'_> {}

impl container::HostContainer for CapabilityView<'_> {
    async fn name(&mut self, this: Resource<Container>) -> Answer<String> {
        Ok(Ok(self.table.get(&this)?.as_str().to_owned()))
    }

    async fn info(&mut self, this: Resource<Container>) -> Answer<types::ContainerMetadata> {
        let container = self.table.get(&this)?.clone();
        let op = begin!(self, "info", false);
        let what = format!("container {}", container.as_str());
        let head = op.s3.head(&op.bucket, &container.marker()).await.map_err(|f| describe(f, &what, 0));
        let answer = head.and_then(|head| match head {
            Some(head) => Ok(types::ContainerMetadata {
                name: container.as_str().to_owned(),
                created_at: head.modified,
            }),
            None => Err(format!("{what} does not exist")),
        });
        Ok(op.end(answer))
    }

    async fn get_data(
        &mut self,
        this: Resource<Container>,
        name: String,
        start: u64,
        end: u64,
    ) -> Answer<Resource<IncomingValue>> {
        let container = self.table.get(&this)?.clone();
        let op = begin!(self, "get-data", false);
        let answer = async {
            let object = names::object(&name)?;
            if start > end {
                return Err(format!("get-data: start {start} is after end {end}"));
            }
            // Offsets are inclusive; u64::MAX for the end means "to the end".
            let range = match (start, end) {
                (0, u64::MAX) => None,
                (start, u64::MAX) => Some((start, None)),
                (start, end) => Some((start, Some(end))),
            };
            let left = op.read_cap.saturating_sub(self.call.usage.blob_read);
            let what = format!("{}/{name}", container.as_str());
            let bytes = op.s3.get(&op.bucket, &container.key(&object), range, left).await;
            let bytes = bytes.map_err(|f| describe(f, &what, op.read_cap))?;
            self.call.usage.blob_read += bytes.len() as u64;
            op.metrics.bytes(Capability::Blobstore, "read", bytes.len() as u64);
            Ok(IncomingValue { bytes })
        }
        .await;
        match op.end(answer) {
            Ok(value) => Ok(Ok(self.table.push(value)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn write_data(
        &mut self,
        this: Resource<Container>,
        name: String,
        data: Resource<OutgoingValue>,
    ) -> Answer<()> {
        let container = self.table.get(&this)?.clone();
        let op = begin!(self, "write-data", true);
        let object = match names::object(&name) {
            Ok(object) => object,
            Err(e) => return Ok(op.end(Err(e))),
        };
        let value = self.table.get_mut(&data)?;
        if value.stored {
            return Ok(op.end(Err("this outgoing value was already stored".to_owned())));
        }
        value.target = Some((container, object));
        // Written and its stream dropped: store now (guests that call
        // finish afterwards find it done); else `finish` stores it.
        if !value.stream_released() {
            return Ok(Ok(()));
        }
        let (target, body) = (value.target.clone(), value.take());
        let answer = op.store(target, body).await;
        if answer.is_ok() {
            self.table.get_mut(&data)?.stored = true;
        }
        Ok(op.end(answer))
    }

    async fn list_objects(&mut self, this: Resource<Container>) -> Answer<Resource<ObjectNames>> {
        let container = self.table.get(&this)?.clone();
        let op = begin!(self, "list-objects", false);
        let answer = op.require_container(&container).await;
        match op.end(answer) {
            Ok(()) => {
                let names = ObjectNames { container, pending: VecDeque::new(), token: None, done: false };
                Ok(Ok(self.table.push(names)?))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    async fn delete_object(&mut self, this: Resource<Container>, name: String) -> Answer<()> {
        let container = self.table.get(&this)?.clone();
        let op = begin!(self, "delete-object", true);
        let answer = async {
            let key = container.key(&names::object(&name)?);
            let what = format!("{}/{name}", container.as_str());
            op.s3.delete(&op.bucket, &key).await.map_err(|f| describe(f, &what, 0))
        }
        .await;
        Ok(op.end(answer))
    }

    async fn delete_objects(&mut self, this: Resource<Container>, names: Vec<String>) -> Answer<()> {
        let container = self.table.get(&this)?.clone();
        let op = begin!(self, "delete-objects", true);
        let answer = async {
            let keys = names
                .iter()
                .map(|name| names::object(name).map(|object| container.key(&object)))
                .collect::<Result<Vec<_>, _>>()?;
            let what = format!("objects in {}", container.as_str());
            op.s3.delete_many(&op.bucket, keys).await.map_err(|f| describe(f, &what, 0))
        }
        .await;
        Ok(op.end(answer))
    }

    async fn has_object(&mut self, this: Resource<Container>, name: String) -> Answer<bool> {
        let container = self.table.get(&this)?.clone();
        let op = begin!(self, "has-object", false);
        let answer = async {
            let key = container.key(&names::object(&name)?);
            let what = format!("{}/{name}", container.as_str());
            let head = op.s3.head(&op.bucket, &key).await.map_err(|f| describe(f, &what, 0))?;
            Ok(head.is_some())
        }
        .await;
        Ok(op.end(answer))
    }

    async fn object_info(
        &mut self,
        this: Resource<Container>,
        name: String,
    ) -> Answer<types::ObjectMetadata> {
        let container = self.table.get(&this)?.clone();
        let op = begin!(self, "object-info", false);
        let answer = async {
            let key = container.key(&names::object(&name)?);
            let what = format!("{}/{name}", container.as_str());
            match op.s3.head(&op.bucket, &key).await.map_err(|f| describe(f, &what, 0))? {
                Some(head) => Ok(types::ObjectMetadata {
                    name: name.clone(),
                    container: container.as_str().to_owned(),
                    created_at: head.modified,
                    size: head.size,
                }),
                None => Err(format!("{what} does not exist")),
            }
        }
        .await;
        Ok(op.end(answer))
    }

    async fn clear(&mut self, this: Resource<Container>) -> Answer<()> {
        let container = self.table.get(&this)?.clone();
        let op = begin!(self, "clear", true);
        let what = format!("container {}", container.as_str());
        let answer =
            op.s3.delete_prefix(&op.bucket, &container.prefix()).await.map_err(|f| describe(f, &what, 0));
        Ok(op.end(answer))
    }

    async fn drop(&mut self, this: Resource<Container>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl CapabilityView<'_> {
    /// Reads listing pages until `want` names are pending or the listing ends.
    async fn fill(&mut self, op: &Op, this: &Resource<ObjectNames>, want: u64) -> Result<(), String> {
        loop {
            let names = self.table.get_mut(this).map_err(|e| e.to_string())?;
            if names.done || names.pending.len() as u64 >= want {
                return Ok(());
            }
            let (prefix, token) = (names.container.prefix(), names.token.take());
            let what = format!("container {}", names.container.as_str());
            let page = op.s3.list(&op.bucket, &prefix, token).await.map_err(|f| describe(f, &what, 0))?;
            let (keys, next) = page;
            let names = self.table.get_mut(this).map_err(|e| e.to_string())?;
            names.pending.extend(keys.into_iter().filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)));
            names.done = next.is_none();
            names.token = next;
        }
    }
}

impl container::HostStreamObjectNames for CapabilityView<'_> {
    async fn read_stream_object_names(
        &mut self,
        this: Resource<ObjectNames>,
        len: u64,
    ) -> Answer<(Vec<String>, bool)> {
        let op = begin!(self, "list-objects", false);
        let want = len.min(MAX_NAMES_PER_READ);
        if let Err(e) = self.fill(&op, &this, want).await {
            return Ok(op.end(Err(e)));
        }
        let names = self.table.get_mut(&this)?;
        let take = (want as usize).min(names.pending.len());
        let read: Vec<String> = names.pending.drain(..take).collect();
        Ok(Ok((read, names.done && names.pending.is_empty())))
    }

    async fn skip_stream_object_names(
        &mut self,
        this: Resource<ObjectNames>,
        num: u64,
    ) -> Answer<(u64, bool)> {
        let op = begin!(self, "list-objects", false);
        let want = num.min(MAX_NAMES_PER_READ);
        if let Err(e) = self.fill(&op, &this, want).await {
            return Ok(op.end(Err(e)));
        }
        let names = self.table.get_mut(&this)?;
        let take = (want as usize).min(names.pending.len());
        names.pending.drain(..take);
        Ok(Ok((take as u64, names.done && names.pending.is_empty())))
    }

    async fn drop(&mut self, this: Resource<ObjectNames>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl types::Host for CapabilityView<'_> {}

impl types::HostOutgoingValue for CapabilityView<'_> {
    async fn new_outgoing_value(&mut self) -> wasmtime::Result<Resource<OutgoingValue>> {
        let value = OutgoingValue::new(self.write_budget());
        Ok(self.table.push(value)?)
    }

    async fn outgoing_value_write_body(
        &mut self,
        this: Resource<OutgoingValue>,
    ) -> wasmtime::Result<Result<Resource<DynOutputStream>, ()>> {
        let value = self.table.get_mut(&this)?;
        if value.stream_taken {
            return Ok(Err(()));
        }
        value.stream_taken = true;
        let stream: DynOutputStream = Box::new(BodyWriter::new(value));
        Ok(Ok(self.table.push(stream)?))
    }

    async fn finish(&mut self, this: Resource<OutgoingValue>) -> Answer<()> {
        let value = self.table.delete(this)?;
        if value.stored {
            return Ok(Ok(()));
        }
        let op = begin!(self, "finish", true);
        let answer = op.store(value.target.clone(), value.take()).await;
        Ok(op.end(answer))
    }

    async fn drop(&mut self, this: Resource<OutgoingValue>) -> wasmtime::Result<()> {
        // Dropped without `finish`: the value is abandoned, as the WIT says.
        let value = self.table.delete(this)?;
        let _ = value.take();
        Ok(())
    }
}

impl types::HostIncomingValue for CapabilityView<'_> {
    async fn incoming_value_consume_sync(&mut self, this: Resource<IncomingValue>) -> Answer<Vec<u8>> {
        Ok(Ok(self.table.delete(this)?.bytes.to_vec()))
    }

    async fn incoming_value_consume_async(
        &mut self,
        this: Resource<IncomingValue>,
    ) -> Answer<Resource<DynInputStream>> {
        let bytes = self.table.delete(this)?.bytes;
        let stream: DynInputStream = Box::new(MemoryInputPipe::new(bytes));
        Ok(Ok(self.table.push(stream)?))
    }

    async fn size(&mut self, this: Resource<IncomingValue>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&this)?.bytes.len() as u64)
    }

    async fn drop(&mut self, this: Resource<IncomingValue>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

//! `blob-probe`: drives `wasi:blobstore` from a JSON command, so tests can
//! put, get, list, delete and inspect objects under any container and
//! object name (hostile ones included) and see exactly what the host
//! answered.
//!
//! Input: `{"op": "...", "container": "...", "object": "...", ...}`.
//! Output: `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
//!
//! - `put`: stores `text`, or `bytes` bytes of a fixed pattern (creating the
//!   container); `"order": "target-first"` calls `write-data` before writing
//!   the body. A refused write still calls `write-data` and `finish` and
//!   reports what they answered.
//! - `get`: reads the object (`start`/`end`, `"async": true` for the stream
//!   path): its length, FNV-1a hash and, if UTF-8, text.
//! - `roundtrip`: puts `bytes` pattern bytes and reads them back.
//! - `list`, `has`, `head`, `delete`, `delete-many` (`objects`), `clear`,
//!   `create`, `exists`, `delete-container`, `info`, `copy` and `move`
//!   (`to_container`, `to_object`).

wit_bindgen::generate!({ world: "faas-exec-blobstore", path: "../../wit", generate_all });

use serde_json::{Value, json};
use wasi::blobstore::blobstore as store;
use wasi::blobstore::container::Container;
use wasi::blobstore::types::{IncomingValue, ObjectId, OutgoingValue};
use wasi::io::streams::{OutputStream, StreamError};

struct Component;

/// Byte `i` of the pattern `put` and `roundtrip` write.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

fn stream_error(e: StreamError) -> String {
    match e {
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
        StreamError::Closed => "stream closed".into(),
    }
}

/// Writes `len` bytes (from `text` or the pattern) with check-write/write.
fn write_body(stream: &OutputStream, text: Option<&str>, len: usize, hash: &mut Fnv) -> Result<(), String> {
    let mut at = 0;
    let mut chunk = Vec::new();
    while at < len {
        let permit = stream.check_write().map_err(stream_error)? as usize;
        if permit == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = permit.min(len - at).min(1 << 16);
        chunk.clear();
        match text {
            Some(text) => chunk.extend_from_slice(&text.as_bytes()[at..at + n]),
            None => chunk.extend((at..at + n).map(pattern)),
        }
        stream.write(&chunk).map_err(stream_error)?;
        hash.update(&chunk);
        at += n;
    }
    stream.blocking_flush().map_err(stream_error)
}

fn text<'a>(cmd: &'a Value, key: &str) -> &'a str {
    cmd.get(key).and_then(Value::as_str).unwrap_or("")
}

fn container(cmd: &Value) -> Result<Container, String> {
    store::get_container(text(cmd, "container"))
}

fn put(cmd: &Value) -> Result<Value, String> {
    let container = store::create_container(text(cmd, "container"))?;
    let object = text(cmd, "object");
    let body = cmd.get("text").and_then(Value::as_str);
    let len = body.map_or_else(|| cmd.get("bytes").and_then(Value::as_u64).unwrap_or(0) as usize, str::len);
    let target_first = text(cmd, "order") == "target-first";
    let value = OutgoingValue::new_outgoing_value();
    let stream = value.outgoing_value_write_body().map_err(|()| "write-body refused".to_string())?;
    if target_first {
        container.write_data(object, &value)?;
    }
    let mut hash = Fnv::new();
    let written = write_body(&stream, body, len, &mut hash);
    drop(stream);
    let data = if target_first { Ok(()) } else { container.write_data(object, &value) };
    let finished = OutgoingValue::finish(value);
    match (written, data, finished) {
        (Ok(()), Ok(()), Ok(())) => Ok(json!({"written": len, "hash": hash.hex()})),
        (written, data, finished) => Err(json!({
            "write": written.err(), "write_data": data.err(), "finish": finished.err()
        })
        .to_string()),
    }
}

fn read_value(value: IncomingValue, stream: bool) -> Result<Vec<u8>, String> {
    if !stream {
        return IncomingValue::incoming_value_consume_sync(value);
    }
    let input = IncomingValue::incoming_value_consume_async(value)?;
    let mut bytes = Vec::new();
    loop {
        match input.blocking_read(1 << 16) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(bytes),
            Err(e) => return Err(stream_error(e)),
        }
    }
}

fn get(cmd: &Value) -> Result<Value, String> {
    let container = container(cmd)?;
    let start = cmd.get("start").and_then(Value::as_u64).unwrap_or(0);
    let end = cmd.get("end").and_then(Value::as_u64).unwrap_or(u64::MAX);
    let value = container.get_data(text(cmd, "object"), start, end)?;
    let size = value.size();
    let bytes = read_value(value, cmd.get("async").and_then(Value::as_bool).unwrap_or(false))?;
    let mut hash = Fnv::new();
    hash.update(&bytes);
    let mut out = json!({"len": bytes.len(), "size": size, "hash": hash.hex()});
    if bytes.len() <= 4096 {
        if let Ok(text) = String::from_utf8(bytes) {
            out["text"] = text.into();
        }
    }
    Ok(out)
}

fn list(cmd: &Value) -> Result<Value, String> {
    let names = container(cmd)?.list_objects()?;
    let mut all = Vec::new();
    loop {
        let (mut page, end) = names.read_stream_object_names(100)?;
        all.append(&mut page);
        if end {
            return Ok(json!({"names": all}));
        }
    }
}

fn object_id(cmd: &Value, container: &str, object: &str) -> ObjectId {
    ObjectId { container: text(cmd, container).into(), object: text(cmd, object).into() }
}

fn run(cmd: &Value) -> Result<Value, String> {
    let object = text(cmd, "object");
    match text(cmd, "op") {
        "put" => put(cmd),
        "get" => get(cmd),
        "roundtrip" => {
            let put = put(cmd)?;
            let got =
                get(&json!({"container": cmd["container"], "object": cmd["object"], "async": cmd["async"]}))?;
            Ok(
                json!({"written": put["written"], "hash_written": put["hash"], "read": got["len"], "hash_read": got["hash"]}),
            )
        }
        "list" => list(cmd),
        "has" => Ok(json!({"has": container(cmd)?.has_object(object)?})),
        "head" => {
            let info = container(cmd)?.object_info(object)?;
            Ok(
                json!({"name": info.name, "container": info.container, "size": info.size, "created_at": info.created_at}),
            )
        }
        "delete" => container(cmd)?.delete_object(object).map(|()| json!({})),
        "delete-many" => {
            let names: Vec<String> = cmd["objects"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            container(cmd)?.delete_objects(&names).map(|()| json!({}))
        }
        "clear" => container(cmd)?.clear().map(|()| json!({})),
        "create" => store::create_container(text(cmd, "container")).map(|c| json!({"name": c.name().ok()})),
        "exists" => Ok(json!({"exists": store::container_exists(text(cmd, "container"))?})),
        "delete-container" => store::delete_container(text(cmd, "container")).map(|()| json!({})),
        "info" => {
            let info = container(cmd)?.info()?;
            Ok(json!({"name": info.name, "created_at": info.created_at}))
        }
        "copy" => store::copy_object(
            &object_id(cmd, "container", "object"),
            &object_id(cmd, "to_container", "to_object"),
        )
        .map(|()| json!({})),
        "move" => store::move_object(
            &object_id(cmd, "container", "object"),
            &object_id(cmd, "to_container", "to_object"),
        )
        .map(|()| json!({})),
        other => Err(format!("unknown op {other:?}")),
    }
}

impl Guest for Component {
    fn exec(input: String) -> String {
        let cmd: Value = match serde_json::from_str(&input) {
            Ok(cmd) => cmd,
            Err(e) => return json!({"ok": false, "error": format!("bad command: {e}")}).to_string(),
        };
        match run(&cmd) {
            Ok(mut out) => {
                out["ok"] = true.into();
                out.to_string()
            }
            Err(error) => json!({"ok": false, "error": error}).to_string(),
        }
    }
}

export!(Component);

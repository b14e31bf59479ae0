//! `blob-transform`: the original project's S3 example rebuilt on
//! `wasi:blobstore`: the function holds no credentials and no socket; the
//! host gives it its own bucket's containers.
//!
//! Input: `{"container": "docs", "object": "note.txt", "op": "upper"}`
//! (`op`: `upper`, the default, or `reverse` for the bytes reversed; with
//! `"text": "..."` it first stores that text as the object, creating the
//! container). It reads the object, transforms it, writes
//! `<object>.out` beside it and answers
//! `{"written": "docs/note.txt.out", "bytes": 11}`, or `{"error": "..."}`.

wit_bindgen::generate!({ world: "faas-exec-blobstore", path: "../../wit", generate_all });

use serde_json::{Value, json};
use wasi::blobstore::blobstore as store;
use wasi::blobstore::container::Container;
use wasi::blobstore::types::{IncomingValue, OutgoingValue};
use wasi::io::streams::StreamError;

struct Component;

fn write(container: &Container, object: &str, bytes: &[u8]) -> Result<(), String> {
    let value = OutgoingValue::new_outgoing_value();
    let stream = value.outgoing_value_write_body().map_err(|()| "write-body refused".to_string())?;
    // blocking-write-and-flush takes at most 4096 bytes at a time.
    for chunk in bytes.chunks(4096) {
        stream.blocking_write_and_flush(chunk).map_err(|e| match e {
            StreamError::LastOperationFailed(e) => e.to_debug_string(),
            StreamError::Closed => "stream closed".into(),
        })?;
    }
    drop(stream);
    container.write_data(object, &value)?;
    OutgoingValue::finish(value)
}

fn transform(cmd: &Value) -> Result<Value, String> {
    let field = |key: &str| cmd.get(key).and_then(Value::as_str).ok_or(format!("missing \"{key}\""));
    let (container_name, object) = (field("container")?, field("object")?);
    let container = match cmd.get("text").and_then(Value::as_str) {
        Some(text) => {
            let container = store::create_container(container_name)?;
            write(&container, object, text.as_bytes())?;
            container
        }
        None => store::get_container(container_name)?,
    };
    let input = IncomingValue::incoming_value_consume_sync(container.get_data(object, 0, u64::MAX)?)?;
    let output = match cmd.get("op").and_then(Value::as_str).unwrap_or("upper") {
        "upper" => input.to_ascii_uppercase(),
        "reverse" => input.into_iter().rev().collect(),
        other => return Err(format!("unknown op {other:?}: use \"upper\" or \"reverse\"")),
    };
    let target = format!("{object}.out");
    write(&container, &target, &output)?;
    Ok(json!({"written": format!("{container_name}/{target}"), "bytes": output.len()}))
}

impl Guest for Component {
    fn exec(input: String) -> String {
        let answer = serde_json::from_str(&input)
            .map_err(|e| format!("bad input: {e}; expected {{\"container\", \"object\", \"op\"?}}"))
            .and_then(|cmd| transform(&cmd));
        match answer {
            Ok(out) => out.to_string(),
            Err(error) => json!({"error": error}).to_string(),
        }
    }
}

export!(Component);

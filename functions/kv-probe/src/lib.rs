//! `kv-probe`: runs `wasi:keyvalue` commands given as JSON, so tests can
//! try any store identifier and key a guest could pass.
//!
//! Input: one command or an array of them, run in order in one call, e.g.
//! `{"op": "set", "store": "", "key": "k", "value": "v"}`. Ops: `get`,
//! `exists`, `set`, `delete`, `increment` (`delta`, default 1), `list`
//! (every page, following the cursor), `get-many` / `delete-many` (`keys`)
//! and `set-many` (`values`: an object). Values are UTF-8 text, or
//! `"repeat": n` for a value of n `x`s. Output: one result per command,
//! `{"ok": ...}` or `{"error": "<the host's error>"}` (an array for an
//! array input).

wit_bindgen::generate!({ world: "faas-exec-keyvalue", path: "../../wit", generate_all });

use serde_json::{Value, json};
use wasi::keyvalue::{atomics, batch, store};

struct Component;

fn text(command: &Value, field: &str) -> String {
    command[field].as_str().unwrap_or_default().to_owned()
}

fn value_of(command: &Value) -> Vec<u8> {
    match command["repeat"].as_u64() {
        Some(n) => vec![b'x'; n as usize],
        None => text(command, "value").into_bytes(),
    }
}

fn shown(value: Option<Vec<u8>>) -> Value {
    value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).into()
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

fn run(command: &Value) -> Result<Value, store::Error> {
    let bucket = store::open(&text(command, "store"))?;
    let key = text(command, "key");
    Ok(match command["op"].as_str().unwrap_or_default() {
        "get" => shown(bucket.get(&key)?),
        "exists" => bucket.exists(&key)?.into(),
        "set" => {
            bucket.set(&key, &value_of(command))?;
            Value::Null
        }
        "delete" => {
            bucket.delete(&key)?;
            Value::Null
        }
        "increment" => atomics::increment(&bucket, &key, command["delta"].as_u64().unwrap_or(1))?.into(),
        "list" => {
            let (mut keys, mut cursor, mut pages) = (Vec::new(), None, 0);
            loop {
                let page = bucket.list_keys(cursor)?;
                keys.extend(page.keys);
                pages += 1;
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            keys.sort();
            json!({ "keys": keys, "pages": pages })
        }
        "get-many" => {
            let found = batch::get_many(&bucket, &strings(&command["keys"]))?;
            found.into_iter().map(|pair| pair.map(|(k, v)| json!([k, shown(Some(v))]))).collect::<Vec<_>>().into()
        }
        "set-many" => {
            let pairs: Vec<(String, Vec<u8>)> = command["values"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().as_bytes().to_vec()))
                .collect();
            batch::set_many(&bucket, &pairs)?;
            Value::Null
        }
        "delete-many" => {
            batch::delete_many(&bucket, &strings(&command["keys"]))?;
            Value::Null
        }
        other => return Err(store::Error::Other(format!("kv-probe: unknown op {other:?}"))),
    })
}

fn answer(command: &Value) -> Value {
    match run(command) {
        Ok(value) => json!({ "ok": value }),
        Err(err) => json!({ "error": format!("{err:?}") }),
    }
}

impl Guest for Component {
    fn exec(input: String) -> String {
        let parsed: Value = match serde_json::from_str(&input) {
            Ok(parsed) => parsed,
            Err(err) => return json!({ "error": format!("kv-probe: input is not JSON: {err}") }).to_string(),
        };
        match parsed {
            Value::Array(commands) => commands.iter().map(answer).collect::<Vec<_>>().into(),
            command => answer(&command),
        }
        .to_string()
    }
}

export!(Component);

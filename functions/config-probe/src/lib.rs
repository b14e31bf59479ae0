//! `config-probe`: reports the variables a function's configuration gives
//! it, through its WASI environment and through `wasi:config/store`, so
//! tests can check both carry the same `env` and secrets.
//!
//! With input `plain` the values are returned as they are; with any other
//! input each value is replaced by its FNV-1a hash (hex), so a test can
//! check a secret arrived without the secret itself crossing NATS in the
//! reply.

wit_bindgen::generate!({ world: "faas-exec-config", path: "../../wit", generate_all });

use wasi::config::store;

struct Component;

fn fnv1a(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

impl Guest for Component {
    fn exec(input: String) -> String {
        let shown = |value: String| if input == "plain" { value } else { fnv1a(&value) };
        let env: serde_json::Map<String, serde_json::Value> =
            std::env::vars().map(|(name, value)| (name, shown(value).into())).collect();
        let config = match store::get_all() {
            Ok(pairs) => serde_json::Value::Object(
                pairs.into_iter().map(|(name, value)| (name, shown(value).into())).collect(),
            ),
            Err(err) => format!("{err:?}").into(),
        };
        serde_json::json!({ "env": env, "config": config }).to_string()
    }
}

export!(Component);

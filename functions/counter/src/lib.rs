//! `counter`: a visit counter. Each call increments a key of its bucket's
//! default key-value store (`visits`, or the key given as input when there
//! is one) with `wasi:keyvalue/atomics.increment`, which the host makes a
//! server-side compare-and-set, and returns the new count as text.
//! Concurrent calls on any executors each count once.

wit_bindgen::generate!({ world: "faas-exec-keyvalue", path: "../../wit", generate_all });

use wasi::keyvalue::{atomics, store};

struct Component;

impl Guest for Component {
    fn exec(input: String) -> String {
        let key = match input.trim() {
            "" => "visits",
            key => key,
        };
        // A failure is the function's answer, not a trap: the host's error
        // says what is wrong (not granted writes, a non-number value, ...).
        let count = store::open("").and_then(|bucket| atomics::increment(&bucket, key, 1));
        match count {
            Ok(count) => count.to_string(),
            Err(err) => format!("error: {err:?}"),
        }
    }
}

export!(Component);

//! `sleepy`: test guest that sleeps for the requested time, e.g. `{"ms":250}`
//! → `slept 250 ms`. Useful for exercising concurrency, queueing and time
//! limits with a function that takes a predictable time without burning CPU
//! (unlike `spin`). The sleep is capped at 10 000 ms.
//!
//! Invalid input returns a string starting with `error:` rather than trapping.

wit_bindgen::generate!({ world: "faas-exec", path: "../../wit" });

use std::{thread, time::Duration};

use serde::Deserialize;

/// Longest sleep, in milliseconds, that a caller can ask for.
const MAX_MS: u64 = 10_000;

/// The expected input document.
#[derive(Deserialize)]
struct Input {
    ms: u64,
}

/// Parses `input` and returns the sleep time in milliseconds, capped at `MAX_MS`.
fn requested_ms(input: &str) -> Result<u64, String> {
    match serde_json::from_str::<Input>(input) {
        Ok(Input { ms }) => Ok(ms.min(MAX_MS)),
        Err(err) => Err(format!(r#"error: expected JSON {{"ms": <integer>}} ({err})"#)),
    }
}

struct Component;

impl Guest for Component {
    fn exec(input: String) -> String {
        match requested_ms(&input) {
            Ok(ms) => {
                thread::sleep(Duration::from_millis(ms));
                format!("slept {ms} ms")
            }
            Err(message) => message,
        }
    }
}

export!(Component);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn sleeps_for_the_requested_time() {
        let start = Instant::now();
        assert_eq!(Component::exec(r#"{"ms":50}"#.into()), "slept 50 ms");
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert_eq!(Component::exec(r#"{"ms":0}"#.into()), "slept 0 ms");
    }

    #[test]
    fn caps_the_sleep() {
        assert_eq!(requested_ms(r#"{"ms":10000}"#), Ok(10_000));
        assert_eq!(requested_ms(r#"{"ms":10001}"#), Ok(MAX_MS));
        assert_eq!(requested_ms(r#"{"ms":18446744073709551615}"#), Ok(MAX_MS));
    }

    #[test]
    fn rejects_bad_input() {
        for input in ["", "50", r#"{"ms":-1}"#, r#"{"ms":"50"}"#, r#"{"ms":1.5}"#, r#"{"sec":1}"#] {
            assert!(
                Component::exec(input.into()).starts_with(r#"error: expected JSON {"ms": <integer>}"#),
                "{input}"
            );
        }
    }
}

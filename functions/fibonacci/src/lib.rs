//! `fibonacci`: returns the n-th Fibonacci number for an input such as
//! `{"n":10}` (→ `55`), with F(0) = 0 and F(1) = 1.

wit_bindgen::generate!({ world: "faas-exec", path: "../../wit" });

use serde::Deserialize;

/// Largest `n` whose Fibonacci number fits in a `u128`.
const MAX_N: u64 = 186;

/// The expected input document.
#[derive(Deserialize)]
struct Input {
    n: u64,
}

/// Iterative Fibonacci; `None` when the result would overflow `u128`.
fn fibonacci(n: u64) -> Option<u128> {
    if n == 0 {
        return Some(0);
    }
    // After k steps (a, b) = (F(k), F(k+1)); stop at b = F(n) so F(n + 1)
    // is never computed (it overflows for n = MAX_N).
    let (mut a, mut b) = (0u128, 1u128);
    for _ in 1..n {
        let next = a.checked_add(b)?;
        a = b;
        b = next;
    }
    Some(b)
}

struct Component;

impl Guest for Component {
    fn exec(input: String) -> String {
        let n = match serde_json::from_str::<Input>(&input) {
            Ok(Input { n }) => n,
            Err(err) => {
                return format!(r#"error: expected JSON {{"n": <integer 0..={MAX_N}>}} ({err})"#);
            }
        };
        if n > MAX_N {
            return format!("error: n = {n} is too large (maximum is {MAX_N})");
        }
        match fibonacci(n) {
            Some(value) => value.to_string(),
            None => format!("error: fibonacci({n}) overflows u128"),
        }
    }
}

export!(Component);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_known_values() {
        assert_eq!(Component::exec(r#"{"n":0}"#.into()), "0");
        assert_eq!(Component::exec(r#"{"n":1}"#.into()), "1");
        assert_eq!(Component::exec(r#"{"n":10}"#.into()), "55");
        assert_eq!(Component::exec(r#"{"n":186}"#.into()), "332825110087067562321196029789634457848");
    }

    #[test]
    fn rejects_bad_or_too_large_input() {
        for input in ["", r#"{"n":-1}"#, r#"{"n":"10"}"#, r#"{"n":187}"#] {
            assert!(Component::exec(input.into()).starts_with("error:"), "{input}");
        }
    }
}

//! `hello`: greets the `name` from a JSON input such as `{"name":"World"}`.

wit_bindgen::generate!({ world: "faas-exec", path: "../../wit" });

use serde::Deserialize;

/// The expected input document.
#[derive(Deserialize)]
struct Input {
    name: String,
}

struct Component;

impl Guest for Component {
    fn exec(input: String) -> String {
        match serde_json::from_str::<Input>(&input) {
            Ok(Input { name }) => format!("Hello {name}, how are you?"),
            Err(err) => format!(r#"error: expected JSON {{"name": "..."}} ({err})"#),
        }
    }
}

export!(Component);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_the_name() {
        assert_eq!(Component::exec(r#"{"name":"World"}"#.into()), "Hello World, how are you?");
    }

    #[test]
    fn rejects_bad_input() {
        for input in ["", "World", r#"{"name":1}"#, r#"{"nom":"x"}"#] {
            assert!(Component::exec(input.into()).starts_with("error: expected JSON"), "{input}");
        }
    }
}

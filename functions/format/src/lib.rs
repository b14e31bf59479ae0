//! `format`: post-processing step that wraps the text produced by an earlier
//! step (for example `hello`'s greeting) in a JSON document for clients:
//! `Hello World, how are you?` becomes
//! `{"message":"Hello World, how are you?","words":5}`.
//!
//! The message is the input trimmed and `words` counts its whitespace-separated
//! words. The document is built with `serde_json::json!`, so quotes, control
//! characters and the like are escaped correctly. Any text is accepted; this
//! step never panics.

wit_bindgen::generate!({ world: "faas-exec", path: "../../wit" });

use serde_json::json;

struct Component;

impl Guest for Component {
    fn exec(input: String) -> String {
        let message = input.trim();
        let words = message.split_whitespace().count();
        json!({ "message": message, "words": words }).to_string()
    }
}

export!(Component);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_text_with_word_count() {
        assert_eq!(
            Component::exec("Hello World, how are you?".into()),
            r#"{"message":"Hello World, how are you?","words":5}"#
        );
        assert_eq!(Component::exec("  one\n\ttwo  ".into()), r#"{"message":"one\n\ttwo","words":2}"#);
    }

    #[test]
    fn handles_empty_input() {
        assert_eq!(Component::exec(String::new()), r#"{"message":"","words":0}"#);
        assert_eq!(Component::exec(" \n ".into()), r#"{"message":"","words":0}"#);
    }

    #[test]
    fn escapes_special_characters() {
        let output = Component::exec(r#"say "hi" \ bye"#.into());
        assert_eq!(output, r#"{"message":"say \"hi\" \\ bye","words":4}"#);
        let parsed: serde_json::Value = serde_json::from_str(&output).unwrap();
        assert_eq!(parsed["message"], r#"say "hi" \ bye"#);
    }
}

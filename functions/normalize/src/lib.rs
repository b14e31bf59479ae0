//! `normalize`: pre-processing step that tidies the `name` in a JSON object so
//! later steps can rely on one spelling: it trims the name, collapses runs of
//! whitespace into a single space and capitalises each word (first character
//! uppercase, the rest lowercase). `{"name":"ada   LOVELACE"}` becomes
//! `{"name":"Ada Lovelace"}`.
//!
//! Other fields are kept as they were; the output is compact JSON (object keys
//! sorted, as serde_json is used without `preserve_order`). Input that is not
//! an object with a string `name` makes the function panic with a message
//! starting with `invalid input: `, which the platform reports as a trap and
//! which stops a pipeline at this step.

wit_bindgen::generate!({ world: "faas-exec", path: "../../wit" });

use serde_json::Value;

/// Uppercases the first character of `word` and lowercases the rest.
fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect(),
        None => String::new(),
    }
}

/// Trims `name`, collapses whitespace runs and capitalises every word.
fn normalize_name(name: &str) -> String {
    name.split_whitespace().map(capitalise).collect::<Vec<_>>().join(" ")
}

/// Normalises the `name` of the JSON object in `input`, or explains what is wrong.
fn normalize(input: &str) -> Result<String, String> {
    let mut value: Value = serde_json::from_str(input).map_err(|err| format!("not JSON ({err})"))?;
    let name = value
        .as_object_mut()
        .and_then(|object| object.get_mut("name"))
        .ok_or(r#"expected a JSON object with a string "name""#)?;
    let normalized = normalize_name(name.as_str().ok_or(r#""name" must be a string"#)?);
    *name = Value::String(normalized);
    serde_json::to_string(&value).map_err(|err| format!("cannot re-serialise ({err})"))
}

struct Component;

impl Guest for Component {
    fn exec(input: String) -> String {
        match normalize(&input) {
            Ok(output) => output,
            Err(reason) => panic!("invalid input: {reason}"),
        }
    }
}

export!(Component);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_the_name() {
        assert_eq!(Component::exec(r#"{"name":"  wORLD  "}"#.into()), r#"{"name":"World"}"#);
        assert_eq!(Component::exec(r#"{"name":"ada   LOVELACE"}"#.into()), r#"{"name":"Ada Lovelace"}"#);
        assert_eq!(Component::exec(r#"{"name":"\tgRACE\n hopper "}"#.into()), r#"{"name":"Grace Hopper"}"#);
        assert_eq!(Component::exec(r#"{"name":"émile zola"}"#.into()), r#"{"name":"Émile Zola"}"#);
        assert_eq!(Component::exec(r#"{"name":"   "}"#.into()), r#"{"name":""}"#);
    }

    #[test]
    fn keeps_other_fields() {
        assert_eq!(
            Component::exec(r#"{"name":"bob","age":42,"tags":["A b"],"nested":{"name":"x y"}}"#.into()),
            r#"{"age":42,"name":"Bob","nested":{"name":"x y"},"tags":["A b"]}"#
        );
    }

    #[test]
    #[should_panic(expected = "invalid input")]
    fn panics_on_missing_name() {
        Component::exec(r#"{"nom":"x"}"#.into());
    }

    #[test]
    fn panics_on_every_kind_of_bad_input() {
        for input in ["", "World", "[]", r#""World""#, r#"{"name":1}"#, r#"{"name":null}"#] {
            let result = std::panic::catch_unwind(|| Component::exec(input.into()));
            let payload = result.expect_err(input);
            let message = payload.downcast_ref::<String>().expect(input);
            assert!(message.starts_with("invalid input: "), "{input}: {message}");
        }
    }
}

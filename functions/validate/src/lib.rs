//! `validate`: pre-processing step that checks its input before the rest of a
//! pipeline sees it. The input must be a JSON object with a string field
//! `name` that is not empty after trimming, such as `{"name":"World"}`.
//!
//! Valid input is passed on unchanged apart from being re-serialised compactly
//! (serde_json without `preserve_order`, so object keys come out sorted).
//! Invalid input makes the function panic with a message starting with
//! `invalid input: `. A panic is how a guest reports failure: the platform
//! turns the trap into an error (`function_trapped`), so a pipeline stops at
//! this step instead of feeding bad data to the next one.

wit_bindgen::generate!({ world: "faas-exec", path: "../../wit" });

use serde_json::Value;

/// Checks `input` and returns it re-serialised, or explains what is wrong.
fn validate(input: &str) -> Result<String, String> {
    let value: Value = serde_json::from_str(input).map_err(|err| format!("not JSON ({err})"))?;
    let has_name = value
        .as_object()
        .and_then(|object| object.get("name"))
        .and_then(Value::as_str)
        .is_some_and(|name| !name.trim().is_empty());
    if !has_name {
        return Err(r#"expected a JSON object with a non-empty string "name""#.to_owned());
    }
    serde_json::to_string(&value).map_err(|err| format!("cannot re-serialise ({err})"))
}

struct Component;

impl Guest for Component {
    fn exec(input: String) -> String {
        match validate(&input) {
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
    fn passes_valid_input_through_compactly() {
        assert_eq!(Component::exec(r#"{"name":"World"}"#.into()), r#"{"name":"World"}"#);
        assert_eq!(
            Component::exec("{ \"name\" : \"  Ada \",\n  \"age\": 36 }".into()),
            r#"{"age":36,"name":"  Ada "}"#
        );
    }

    #[test]
    #[should_panic(expected = "invalid input: not JSON")]
    fn panics_on_non_json() {
        Component::exec("World".into());
    }

    #[test]
    #[should_panic(expected = r#"invalid input: expected a JSON object with a non-empty string "name""#)]
    fn panics_on_blank_name() {
        Component::exec(r#"{"name":"   "}"#.into());
    }

    #[test]
    fn rejects_every_kind_of_bad_input() {
        for input in [
            "",
            "World",
            "[]",
            r#""World""#,
            r#"{}"#,
            r#"{"nom":"x"}"#,
            r#"{"name":1}"#,
            r#"{"name":null}"#,
            r#"{"name":""}"#,
            r#"{"name":" \t\n"}"#,
        ] {
            let reason = validate(input).expect_err(input);
            assert!(!reason.is_empty(), "{input}");
        }
    }
}

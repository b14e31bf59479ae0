//! OpenAPI schemas of the wire types whose serde is written by hand.
//!
//! The api's `/openapi.json` is derived from the types it reads and writes
//! (`utoipa`, derive only: no IO). Most types derive their schema where they
//! are declared, behind the `openapi` feature; the ones serialised as plain
//! strings through their own serde code (names, scopes, targets, error
//! codes) say here what that string is, so the document and the validators
//! cannot disagree on which type is meant.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::auth::Scope;
use crate::error::ErrorCode;
use crate::names::{BucketName, FunctionName, PipelineName, Target, TriggerName};

/// A string schema with a description and length bounds.
fn string(description: &str, min: Option<usize>, max: Option<usize>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length(min)
        .max_length(max)
        .into()
}

/// Implements the schema traits of a type serialised as a string.
macro_rules! string_schema {
    ($ty:ty, $name:literal, $schema:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

string_schema!(
    BucketName,
    "BucketName",
    string(
        "A bucket: 3 to 63 of a-z, 0-9 and -, starting and ending with a letter or digit; not `pipeline`.",
        Some(3),
        Some(63)
    )
);
string_schema!(
    FunctionName,
    "FunctionName",
    string(
        "A function: 1 to 128 of A-Z, a-z, 0-9, - and _, starting with a letter or digit.",
        Some(1),
        Some(128)
    )
);
string_schema!(
    TriggerName,
    "TriggerName",
    string(
        "A trigger: 1 to 128 of A-Z, a-z, 0-9, - and _, starting with a letter or digit.",
        Some(1),
        Some(128)
    )
);
string_schema!(
    PipelineName,
    "PipelineName",
    string(
        "A pipeline: 1 to 128 of A-Z, a-z, 0-9, - and _, starting with a letter or digit.",
        Some(1),
        Some(128)
    )
);
string_schema!(
    Target,
    "Target",
    string("What a job runs: `<bucket>/<function>` or `pipeline/<name>`.", None, None)
);
string_schema!(
    Scope,
    "Scope",
    string(
        "A token's permission: `admin`, or `deploy:`, `invoke:` or `read:` and a bucket or `*`.",
        None,
        None
    )
);
string_schema!(
    ErrorCode,
    "ErrorCode",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("What went wrong, for machines: a stable code."))
        .enum_values(Some(ErrorCode::ALL.iter().map(|code| code.as_str())))
        .into()
);

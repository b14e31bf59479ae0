//! Bucket and function names, validated once at the edge.
//!
//! A name ends up in two places with different rules: an S3 bucket or key, and
//! a token of a NATS subject (`faas.exec.<bucket>.<function>`). The rules here
//! are the intersection, so a name that validates is safe in both and cannot
//! smuggle a `.`, `*` or `>` into a subject.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ErrorBody, ErrorCode};

/// Why a name was refused; the message states the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The bucket name breaks the bucket rule.
    #[error(
        "invalid bucket name {0:?}: use 3 to 63 characters of lowercase letters, digits and \
         hyphens, starting and ending with a letter or digit (an S3 bucket name that is also \
         a NATS subject token, so no dots)"
    )]
    Bucket(String),
    /// The function name breaks the function rule.
    #[error(
        "invalid function name {0:?}: use 1 to 128 characters of letters, digits, '-' and '_', \
         starting with a letter or digit (a NATS subject token: no '.', '*', '>' or spaces)"
    )]
    Function(String),
    /// A `<bucket>/<function>` reference without the slash.
    #[error("invalid function reference {0:?}: expected <bucket>/<function>")]
    Reference(String),
    /// A bucket name the platform keeps for itself.
    #[error(
        "the bucket name {0:?} is reserved: `/exec/pipeline/<name>` and the `pipeline` token of \
         job subjects name pipelines"
    )]
    ReservedBucket(String),
    /// A trigger or pipeline name that breaks the rule.
    #[error(
        "invalid {kind} name {name:?}: use 1 to 128 characters of letters, digits, '-' and '_', \
         starting with a letter or digit"
    )]
    Definition {
        /// `trigger` or `pipeline`.
        kind: &'static str,
        /// The refused name.
        name: String,
    },
}

impl NameError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidName
    }
}

impl From<NameError> for ErrorBody {
    fn from(err: NameError) -> Self {
        ErrorBody::new(err.code(), err.to_string())
    }
}

/// The bucket name that cannot be created: `pipeline` stands for pipelines
/// where a bucket would stand in paths and subjects.
pub const RESERVED_BUCKET: &str = "pipeline";

/// The rule shared by function, trigger and pipeline names: one NATS subject
/// token that is also a JetStream key and an S3 key.
fn is_token_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    (1..=128).contains(&bytes.len()) && bytes.iter().all(allowed) && bytes[0].is_ascii_alphanumeric()
}

/// A bucket holding functions; valid as an S3 bucket and as a subject token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BucketName(String);

impl BucketName {
    /// Validates `name` against the bucket rule.
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        let bytes = name.as_bytes();
        let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
        let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if (3..=63).contains(&bytes.len())
            && bytes.iter().all(allowed)
            && edge_ok(bytes.first())
            && edge_ok(bytes.last())
        {
            if name == RESERVED_BUCKET {
                return Err(NameError::ReservedBucket(name));
            }
            Ok(Self(name))
        } else {
            Err(NameError::Bucket(name))
        }
    }

    /// The name as S3 and NATS see it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A function's name inside its bucket; its S3 object key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FunctionName(String);

impl FunctionName {
    /// Validates `name` against the function rule.
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        if is_token_name(&name) { Ok(Self(name)) } else { Err(NameError::Function(name)) }
    }

    /// The name as S3 and NATS see it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype_impls {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }
        impl From<$ty> for String {
            fn from(name: $ty) -> String {
                name.0
            }
        }
    };
}
string_newtype_impls!(BucketName);
string_newtype_impls!(FunctionName);

macro_rules! definition_name {
    ($(#[$doc:meta])* $ty:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            /// Validates `name`: the function-name rule.
            pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
                let name = name.into();
                if is_token_name(&name) {
                    Ok(Self(name))
                } else {
                    Err(NameError::Definition { kind: $kind, name })
                }
            }

            /// The name as keys and subjects spell it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        string_newtype_impls!($ty);
    };
}
definition_name!(
    /// A trigger's name: its key in the trigger store and its queue group.
    TriggerName,
    "trigger"
);
definition_name!(
    /// A pipeline's name: its key in the pipeline store and its subject token.
    PipelineName,
    "pipeline"
);

/// A function by its full address: which bucket, which function.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FunctionRef {
    /// The bucket that holds the component.
    pub bucket: BucketName,
    /// The component's name in that bucket.
    pub function: FunctionName,
}

impl FunctionRef {
    /// Validates both parts.
    pub fn new(bucket: &str, function: &str) -> Result<Self, NameError> {
        Ok(Self { bucket: BucketName::new(bucket)?, function: FunctionName::new(function)? })
    }
}

impl fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.bucket, self.function)
    }
}

impl FromStr for FunctionRef {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (bucket, function) = s.split_once('/').ok_or_else(|| NameError::Reference(s.to_owned()))?;
        Self::new(bucket, function)
    }
}

/// What a call or a job runs: one function, or a pipeline of them.
///
/// Printed (and serialised) as `<bucket>/<function>` or `pipeline/<name>`;
/// the two never collide because [`RESERVED_BUCKET`] cannot name a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// One function.
    Function(FunctionRef),
    /// A pipeline, by name.
    Pipeline(PipelineName),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Function(function) => function.fmt(f),
            Self::Pipeline(name) => write!(f, "{RESERVED_BUCKET}/{name}"),
        }
    }
}

impl FromStr for Target {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix(RESERVED_BUCKET).and_then(|rest| rest.strip_prefix('/')) {
            Some(name) => Ok(Self::Pipeline(PipelineName::new(name)?)),
            None => Ok(Self::Function(s.parse()?)),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Serde for a [`FunctionRef`] written as `"<bucket>/<function>"`, the way
/// people type it in trigger and pipeline definitions.
pub mod function_ref_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::FunctionRef;

    /// Writes `"<bucket>/<function>"`.
    pub fn serialize<S: Serializer>(function: &FunctionRef, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(function)
    }

    /// Reads and validates `"<bucket>/<function>"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<FunctionRef, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Serde for a list of [`FunctionRef`]s, each written as `"<bucket>/<function>"`.
pub mod function_ref_strings {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::FunctionRef;

    /// Writes a list of `"<bucket>/<function>"`.
    pub fn serialize<S: Serializer>(functions: &[FunctionRef], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(functions.iter().map(ToString::to_string))
    }

    /// Reads and validates a list of `"<bucket>/<function>"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<FunctionRef>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .into_iter()
            .map(|s| s.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_and_subject_rules() {
        for ok in ["functions", "abc", "my-bucket-2", &"a".repeat(63)] {
            assert!(BucketName::new(ok).is_ok(), "{ok} should be valid");
        }
        for bad in ["ab", "Functions", "my.bucket", "-abc", "abc-", "a*c", "a>c", "a c", "", &"a".repeat(64)]
        {
            let err = BucketName::new(bad).unwrap_err();
            assert!(err.to_string().contains("3 to 63"), "{bad}: {err}");
        }
    }

    #[test]
    fn function_names_are_single_subject_tokens() {
        for ok in ["hello", "Fib_2", "a", "x-y"] {
            assert!(FunctionName::new(ok).is_ok(), "{ok} should be valid");
        }
        for bad in ["", "hello.wasm", "*", ">", "a b", "_x", "-x", "ü", &"a".repeat(129)] {
            assert!(FunctionName::new(bad).is_err(), "{bad} should be invalid");
        }
    }

    #[test]
    fn references_parse_and_print() {
        let r: FunctionRef = "functions/hello".parse().unwrap();
        assert_eq!(r.bucket.as_str(), "functions");
        assert_eq!(r.to_string(), "functions/hello");
        assert_eq!("nohyphen".parse::<FunctionRef>(), Err(NameError::Reference("nohyphen".into())));
        assert!("Bad/hello".parse::<FunctionRef>().is_err());
    }

    #[test]
    fn pipeline_is_not_a_bucket_and_targets_round_trip() {
        assert_eq!(BucketName::new("pipeline"), Err(NameError::ReservedBucket("pipeline".into())));
        for text in ["functions/hello", "pipeline/greet_2"] {
            assert_eq!(text.parse::<Target>().unwrap().to_string(), text);
        }
        assert!(matches!("pipeline/greet".parse(), Ok(Target::Pipeline(_))));
        assert!("pipeline/a.b".parse::<Target>().is_err());
        let target: Target = serde_json::from_str("\"pipeline/greet\"").unwrap();
        assert_eq!(serde_json::to_value(&target).unwrap(), "pipeline/greet");
        assert!(serde_json::from_str::<Target>("\"nobucket\"").is_err());
        assert!(TriggerName::new("on-order_1").is_ok());
        let err = TriggerName::new("a.b").unwrap_err().to_string();
        assert!(err.contains("invalid trigger name"), "{err}");
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<BucketName>("\"Bad.Name\"").is_err());
        let name: FunctionName = serde_json::from_str("\"hello\"").unwrap();
        assert_eq!(name.as_str(), "hello");
    }
}

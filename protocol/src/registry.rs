//! The function registry: which component version each function runs.
//!
//! S3 holds the bytes, but asking S3 on every call would put an HTTP round
//! trip and a download on the hot path. So the dispatcher records each
//! function's content digest in a JetStream key-value bucket when it stores
//! an upload, and every executor follows that bucket into memory (an acked
//! watch, so a deploy answers only once all of them applied it): a call
//! looks the digest up locally, the digest names the compiled component in
//! the executor's cache, and a changed digest is a new version. Component
//! artifacts compiled once are shared through the [`crate::jetstream::JetStreamNames::artifact_store`] object
//! store under the same digest.

use serde::{Deserialize, Serialize};

use crate::names::{BucketName, FunctionRef};

/// The artifact store's byte cap unless configured otherwise
/// (`FAAS_ARTIFACTS_MAX_BYTES`, applied by dispatchers).
pub const ARTIFACTS_DEFAULT_MAX_BYTES: i64 = 1 << 30;

/// The registry key of a function. Names validate as subject tokens, so the
/// key is a valid KV key and `<bucket>.*` selects one bucket's functions.
pub fn registry_key(function: &FunctionRef) -> String {
    format!("{}.{}", function.bucket, function.function)
}

/// The key filter matching every function of `bucket`.
pub fn registry_bucket_filter(bucket: &BucketName) -> String {
    format!("{bucket}.*")
}

/// The name of an artifact compiled from the component with `digest` by an
/// engine with `fingerprint` (see the engine crate): a different Wasmtime
/// version or configuration never picks up an incompatible artifact.
pub fn artifact_name(fingerprint: &str, digest: &str) -> String {
    format!("{fingerprint}-{digest}")
}

/// The registry's value for one function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionVersion {
    /// sha256 of the component bytes, lowercase hex.
    pub digest: String,
    /// Component size in bytes.
    pub size: u64,
    /// Which world the component exports; entries written before HTTP
    /// functions existed are exec functions.
    #[serde(default, skip_serializing_if = "World::is_exec")]
    pub world: World,
    /// `current`'s weights and rollback history, and the named aliases
    /// ([`crate::aliases`]): kept here so that the watch every executor
    /// already follows (acked) makes moving an alias exact. Left out of the
    /// JSON when empty, so entries read and write as before aliases.
    #[serde(default, skip_serializing_if = "crate::aliases::Aliases::is_empty")]
    pub aliases: crate::aliases::Aliases,
}

/// The two shapes of function the platform runs, detected at upload.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum World {
    /// `wasm-faas:function/faas-exec`: `exec(string) -> string`, called
    /// through `/exec` and `<p>.exec.<b>.<f>`.
    #[default]
    Exec,
    /// `wasi:http/proxy`: exports `wasi:http/incoming-handler`, called
    /// through `/run` and `<p>.http.<b>.<f>`.
    Http,
}

impl World {
    /// The world as it appears in JSON and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exec => "exec",
            Self::Http => "http",
        }
    }

    /// Parses a world from a header value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "exec" => Some(Self::Exec),
            "http" => Some(Self::Http),
            _ => None,
        }
    }

    fn is_exec(&self) -> bool {
        *self == Self::Exec
    }
}

impl std::fmt::Display for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_bucket_token_and_one_function_token() {
        let f = FunctionRef::new("functions", "hello_v2").unwrap();
        assert_eq!(registry_key(&f), "functions.hello_v2");
        assert_eq!(registry_bucket_filter(&f.bucket), "functions.*");
        assert_eq!(artifact_name("abc", "d1"), "abc-d1");
    }

    #[test]
    fn versions_round_trip_as_json() {
        let v =
            FunctionVersion { digest: "ab".into(), size: 3, world: World::Exec, aliases: Default::default() };
        let json = serde_json::to_string(&v).unwrap();
        // Exec entries keep the shape executors before HTTP functions read.
        assert_eq!(json, r#"{"digest":"ab","size":3}"#);
        assert_eq!(serde_json::from_str::<FunctionVersion>(&json).unwrap(), v);
        let http = FunctionVersion { world: World::Http, ..v };
        let json = serde_json::to_string(&http).unwrap();
        assert_eq!(json, r#"{"digest":"ab","size":3,"world":"http"}"#);
        assert_eq!(serde_json::from_str::<FunctionVersion>(&json).unwrap(), http);
    }
}

//! Function versions: every successful upload is an immutable version,
//! named by the sha256 of its bytes.
//!
//! The bytes are kept content-addressed in the function's S3 bucket (under
//! the platform prefix `.faas/`, so any S3 server works, bucket versioning
//! or not) and described by a [`VersionRecord`] in the
//! [`versions`](crate::JetStreamNames::versions) key-value bucket, which the
//! dispatcher writes and executors follow into memory: running a given
//! version (`Faas-Version`, `/exec/{b}/{f}@{version}`) resolves a digest or
//! a unique prefix of one with a map read. This module holds what every
//! role agrees on: the record, the keys, how a version is named in a
//! request and how a name resolves.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorBody, ErrorCode};
use crate::names::FunctionRef;
use crate::registry::World;

/// Versions kept per function unless configured otherwise
/// (`FAAS_KEEP_VERSIONS`); the current one is always kept.
pub const DEFAULT_KEEP_VERSIONS: usize = 20;

/// The longest `description` an upload may carry, in bytes.
pub const DESCRIPTION_MAX_BYTES: usize = 1024;

/// The shortest digest prefix that names a version.
pub const MIN_PREFIX_LEN: usize = 8;

/// A sha256 digest in lowercase hex has this many characters.
pub const DIGEST_LEN: usize = 64;

/// The version store's byte cap unless configured otherwise
/// (`FAAS_VERSIONS_MAX_BYTES`).
pub const VERSIONS_DEFAULT_MAX_BYTES: i64 = 32 << 20;

/// One version of a function, as the version store keeps it. New fields
/// (an alias's or a pipeline's pins) are added with `#[serde(default)]`,
/// so records written before them still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// sha256 of the component bytes, lowercase hex.
    pub digest: String,
    /// Component size in bytes.
    pub size: u64,
    /// Which world the component exports.
    #[serde(default)]
    pub world: World,
    /// When it was first uploaded, Unix milliseconds.
    pub uploaded_at_ms: u64,
    /// The token (`<id> (<name>)`) that uploaded it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploader: Option<String>,
    /// What the uploader said about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A version as `GET /file/{b}/{f}/versions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    /// sha256 of the component bytes, lowercase hex: the version's name.
    pub digest: String,
    /// Component size in bytes.
    pub size: u64,
    /// Which world the component exports.
    pub world: World,
    /// When it was first uploaded, Unix milliseconds.
    pub uploaded_at_ms: u64,
    /// The token that uploaded it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploader: Option<String>,
    /// What the uploader said about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether calls to the function's plain name run this version.
    pub current: bool,
    /// The aliases pointing at it, as target or by weight (`current`
    /// first); see [`crate::aliases`].
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl VersionInfo {
    /// The listing entry of `record`.
    pub fn of(record: VersionRecord, current: bool) -> Self {
        let VersionRecord { digest, size, world, uploaded_at_ms, uploader, description } = record;
        Self { digest, size, world, uploaded_at_ms, uploader, description, current, aliases: Vec::new() }
    }
}

/// `200` to `GET /file/{b}/{f}/versions`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionList {
    /// The function, `<bucket>/<function>`.
    pub function: String,
    /// Its versions, newest upload first.
    pub versions: Vec<VersionInfo>,
}

/// The version store key of `function`'s version `digest`:
/// `<bucket>.<function>.<digest>`.
pub fn version_key(function: &FunctionRef, digest: &str) -> String {
    format!("{}.{}.{digest}", function.bucket, function.function)
}

/// The key prefix of every version of `function` (`<bucket>.<function>.`).
pub fn version_key_prefix(function: &FunctionRef) -> String {
    format!("{}.{}.", function.bucket, function.function)
}

/// Splits a route's function segment `name@version` into the name and the
/// version (`None` without `@`). Names never hold `@`, so the first one
/// separates.
pub fn split_at_version(segment: &str) -> (&str, Option<&str>) {
    match segment.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (segment, None),
    }
}

/// Checks that `version` names a version the way requests may: a digest or
/// a prefix of one, [`MIN_PREFIX_LEN`] to [`DIGEST_LEN`] lowercase hex
/// characters (upper case is accepted and folded).
pub fn check_selector(version: &str) -> Result<String, ErrorBody> {
    let folded = version.to_ascii_lowercase();
    let hex = folded.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex || !(MIN_PREFIX_LEN..=DIGEST_LEN).contains(&folded.len()) {
        return Err(ErrorBody::new(
            ErrorCode::BadRequest,
            format!(
                "version {version:?} is not a digest or a prefix of one \
                 ({MIN_PREFIX_LEN} to {DIGEST_LEN} hex characters)"
            ),
        ));
    }
    Ok(folded)
}

/// The digest among `digests` that `selector` (checked by
/// [`check_selector`]) names: the one equal to it or starting with it.
/// None is `version_not_found`; several are `bad_request`, naming how many.
pub fn resolve<'a>(
    function: &FunctionRef,
    selector: &str,
    digests: impl IntoIterator<Item = &'a str>,
) -> Result<String, ErrorBody> {
    let mut found: Vec<&str> = digests.into_iter().filter(|d| d.starts_with(selector)).collect();
    found.sort_unstable();
    found.dedup();
    match found.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(not_found(function, selector)),
        many => Err(ErrorBody::new(
            ErrorCode::BadRequest,
            format!(
                "version {selector} of {function} is ambiguous: {} versions start with it; give more characters",
                many.len()
            ),
        )),
    }
}

/// `version_not_found` for `selector` of `function`.
pub fn not_found(function: &FunctionRef, selector: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::VersionNotFound, format!("{function} has no version {selector}"))
}

/// Checks an upload's description: at most [`DESCRIPTION_MAX_BYTES`], no
/// control characters but tab and newline.
pub fn check_description(description: &str) -> Result<(), ErrorBody> {
    if description.len() > DESCRIPTION_MAX_BYTES {
        return Err(ErrorBody::new(
            ErrorCode::BadRequest,
            format!("the description is longer than {DESCRIPTION_MAX_BYTES} bytes"),
        ));
    }
    if description.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ErrorBody::new(ErrorCode::BadRequest, "the description holds control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> FunctionRef {
        FunctionRef::new("functions", "hello").unwrap()
    }

    #[test]
    fn a_version_is_named_by_its_digest_or_a_unique_prefix() {
        let a = "aaaa1111".repeat(8);
        let b = "aaaa2222".repeat(8);
        let all = [a.as_str(), b.as_str()];
        assert_eq!(resolve(&f(), &a, all).unwrap(), a);
        assert_eq!(resolve(&f(), "aaaa2222", all).unwrap(), b);
        let ambiguous = resolve(&f(), "aaaa", all).unwrap_err();
        assert_eq!(ambiguous.code, ErrorCode::BadRequest);
        assert!(ambiguous.message.contains("2 versions"), "{}", ambiguous.message);
        assert_eq!(resolve(&f(), "bbbbbbbb", all).unwrap_err().code, ErrorCode::VersionNotFound);
    }

    #[test]
    fn selectors_are_hex_of_a_bounded_length() {
        assert_eq!(check_selector("ABCDEF01").unwrap(), "abcdef01");
        assert!(check_selector("abc").is_err());
        assert!(check_selector("abcdefgh").is_err());
        assert!(check_selector(&"a".repeat(65)).is_err());
        assert!(check_selector("").is_err());
    }

    #[test]
    fn keys_and_segments() {
        assert_eq!(version_key(&f(), "ab"), "functions.hello.ab");
        assert_eq!(version_key_prefix(&f()), "functions.hello.");
        assert_eq!(split_at_version("hello@abc"), ("hello", Some("abc")));
        assert_eq!(split_at_version("hello"), ("hello", None));
    }

    #[test]
    fn descriptions_are_capped() {
        assert!(check_description("fixes the greeting\nand more").is_ok());
        assert!(check_description(&"x".repeat(DESCRIPTION_MAX_BYTES + 1)).is_err());
        assert!(check_description("bell \u{7}").is_err());
    }
}

//! Container and object names, and the S3 keys they map to: the one place
//! that decides what a guest's name may reach.
//!
//! Every key a guest can name is `<BLOB_PREFIX><container>/<object>` in
//! its own bucket: the container is a token name (no `/`, `.` or `..`), and
//! an object name has no empty, `.` or `..` segment and no leading `/`, so
//! no name resolves outside its container's prefix, on S3 or on a server
//! that maps keys to files (s3s-fs). The containers themselves are marked
//! under `<BLOB_PREFIX>.containers/`, a segment no container name can be.

use protocol::capabilities::BLOB_PREFIX;

/// Longest object name, in bytes (S3 allows 1024 for the whole key; the
/// prefix and container come on top, which S3 servers accept).
pub const MAX_OBJECT_NAME_BYTES: usize = 1024;

/// Longest container name, in bytes.
pub const MAX_CONTAINER_NAME_BYTES: usize = 128;

/// A container name that passed [`container`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container(String);

impl Container {
    /// The name as the guest gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The S3 key prefix of its objects.
    pub fn prefix(&self) -> String {
        format!("{BLOB_PREFIX}{}/", self.0)
    }

    /// The S3 key of its marker: the container exists while it does.
    pub fn marker(&self) -> String {
        format!("{BLOB_PREFIX}.containers/{}", self.0)
    }

    /// The S3 key of `object` in it.
    pub fn key(&self, object: &Object) -> String {
        format!("{BLOB_PREFIX}{}/{}", self.0, object.0)
    }
}

/// An object name that passed [`object`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object(String);

impl Object {
    /// The name as the guest gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a container name: 1 to 128 letters, digits, `-` and `_`,
/// starting with a letter or digit (the platform's token-name rule).
pub fn container(name: &str) -> Result<Container, String> {
    let bytes = name.as_bytes();
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    if (1..=MAX_CONTAINER_NAME_BYTES).contains(&bytes.len())
        && bytes.iter().all(allowed)
        && bytes[0].is_ascii_alphanumeric()
    {
        Ok(Container(name.to_owned()))
    } else {
        Err(format!(
            "invalid container name {:?}: use 1 to {MAX_CONTAINER_NAME_BYTES} letters, digits, '-' \
             and '_', starting with a letter or digit",
            shorten(name)
        ))
    }
}

/// Checks an object name: 1 to 1024 bytes, no control characters or `\`,
/// `/`-separated segments none of which is empty, `.` or `..`.
pub fn object(name: &str) -> Result<Object, String> {
    let refuse = |why: &str| Err(format!("invalid object name {:?}: {why}", shorten(name)));
    if name.is_empty() || name.len() > MAX_OBJECT_NAME_BYTES {
        return refuse(&format!("use 1 to {MAX_OBJECT_NAME_BYTES} bytes"));
    }
    if name.chars().any(|c| c.is_control() || c == '\\') {
        return refuse("no control characters or backslashes");
    }
    if name.split('/').any(|segment| matches!(segment, "" | "." | "..")) {
        return refuse("no leading, trailing or doubled '/', and no '.' or '..' segments");
    }
    Ok(Object(name.to_owned()))
}

/// A name cut for an error message (a guest may pass megabytes).
fn shorten(name: &str) -> String {
    match name.char_indices().nth(64) {
        Some((end, _)) => format!("{}...", &name[..end]),
        None => name.to_owned(),
    }
}

/// `key` percent-encoded for `x-amz-copy-source` (`/` kept).
pub fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = format!("{bucket}/");
    for byte in key.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_their_container_are_refused() {
        for bad in [
            "",
            "../x",
            "a/../../b",
            "/abs",
            "a//b",
            "a/",
            ".",
            "..",
            "a/./b",
            "a\\..\\b",
            "a\u{0}b",
            "line\nbreak",
        ] {
            assert!(object(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(object(&"x".repeat(MAX_OBJECT_NAME_BYTES + 1)).is_err());
        for good in ["a", "dir/file.txt", ".hidden", "a..b", "ünïcode/ö", "...x", "result/in.txt.out"] {
            assert!(object(good).is_ok(), "{good:?} should be allowed");
        }
        for bad in ["", ".faas", "a/b", "..", "-x", "a.b", &"c".repeat(129)] {
            assert!(container(bad).is_err(), "{bad:?} should be refused");
        }
        let c = container("photos").unwrap();
        let o = object("2024/cat.jpg").unwrap();
        assert_eq!(c.key(&o), ".faas/blobs/photos/2024/cat.jpg");
        assert!(c.key(&o).starts_with(&c.prefix()));
        assert_eq!(c.marker(), ".faas/blobs/.containers/photos");
        // No container name reaches the markers.
        assert!(container(".containers").is_err());
    }

    #[test]
    fn copy_sources_are_percent_encoded() {
        assert_eq!(copy_source("bk", ".faas/blobs/c/a b+ü"), "bk/.faas/blobs/c/a%20b%2B%C3%BC");
    }
}

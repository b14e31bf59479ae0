//! Host capabilities a function may be granted: key-value, blobs and
//! messaging, each offered through a standard WIT interface and each off
//! until the function's configuration (or its bucket's default) grants it.
//!
//! The guest never sees credentials, sockets or other buckets: the host
//! answers each import against the function's own bucket, so a grant says
//! only *whether* (and for messaging, *where*) a function may use one.
//! A component that imports a capability it was not granted is refused at
//! its call with `capability_not_granted` (403), naming the interface.
//!
//! | capability | WIT package (imports) | backed by |
//! |---|---|---|
//! | [`Capability::KeyValue`] | `wasi:keyvalue@0.2.0-draft` (`store`, `atomics`, `batch`) | the JetStream key-value bucket [`crate::JetStreamNames::keyvalue`], keys under the function's bucket |
//! | [`Capability::Blobstore`] | `wasi:blobstore@0.2.0-draft` | the S3 store, objects under the bucket's [`BLOB_PREFIX`] |
//! | [`Capability::Messaging`] | `wasmcloud:messaging@0.2.0` (`consumer`) | NATS core publish and request, on allowed subjects only |

use std::fmt;

use serde::{Deserialize, Serialize};

/// Key prefix of a bucket's blob data in S3: `<BLOB_PREFIX><container>/<object>`.
/// It is under the platform's own prefix (`.faas/`), which no function name
/// can reach and function listings leave out.
pub const BLOB_PREFIX: &str = ".faas/blobs/";

/// Most subject patterns one messaging grant may hold.
pub const MAX_MESSAGING_SUBJECTS: usize = 64;

/// A capability the host offers through a WIT package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    /// `wasi:keyvalue`.
    KeyValue,
    /// `wasi:blobstore`.
    Blobstore,
    /// `wasmcloud:messaging`.
    Messaging,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 3] = [Self::KeyValue, Self::Blobstore, Self::Messaging];

    /// The WIT package (namespace and name, no version) whose imports use it.
    pub fn package(self) -> &'static str {
        match self {
            Self::KeyValue => "wasi:keyvalue",
            Self::Blobstore => "wasi:blobstore",
            Self::Messaging => "wasmcloud:messaging",
        }
    }

    /// The name used in grants, metrics and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyValue => "keyvalue",
            Self::Blobstore => "blobstore",
            Self::Messaging => "messaging",
        }
    }

    /// The capability a component import (e.g.
    /// `wasi:keyvalue/store@0.2.0-draft`) uses, if any.
    pub fn of_import(import: &str) -> Option<Self> {
        let package = import.split('/').next().unwrap_or(import);
        let package = package.split('@').next().unwrap_or(package);
        Self::ALL.into_iter().find(|c| c.package() == package)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much of a data capability (key-value, blobs) a function may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Access {
    /// Not granted: a component importing it is refused at its call.
    #[default]
    None,
    /// Reads only (get, exists, list); writes answer the guest an error.
    /// What shadow calls get.
    Read,
    /// Reads and writes.
    Write,
}

impl Access {
    /// Whether anything is granted.
    pub fn granted(self) -> bool {
        self != Self::None
    }

    /// Whether writes are granted.
    pub fn writes(self) -> bool {
        self == Self::Write
    }
}

/// Where a function may publish.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagingGrant {
    /// NATS subject patterns (`*` and `>` wildcards) the function may
    /// publish to and send requests on; a request's `reply-to` must match
    /// too. Never the platform's own subjects, `$`-subjects or `_INBOX.`:
    /// those are refused however a pattern is written. Empty: not granted.
    #[serde(default)]
    pub publish: Vec<String>,
}

/// The capabilities granted to a function: the `capabilities` field of
/// its configuration, or its bucket's default when the function sets none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CapabilityGrants {
    /// `wasi:keyvalue`: the bucket's keys.
    #[serde(default)]
    pub keyvalue: Access,
    /// `wasi:blobstore`: the bucket's blob containers.
    #[serde(default)]
    pub blobstore: Access,
    /// `wasmcloud:messaging`: publishing on the listed subjects.
    #[serde(default)]
    pub messaging: MessagingGrant,
}

impl CapabilityGrants {
    /// Whether `capability` is granted at all.
    pub fn grants(&self, capability: Capability) -> bool {
        match capability {
            Capability::KeyValue => self.keyvalue.granted(),
            Capability::Blobstore => self.blobstore.granted(),
            Capability::Messaging => !self.messaging.publish.is_empty(),
        }
    }

    /// These grants with every write taken away: key-value and blobs read
    /// only, no messaging (a shadow or replayed call must not act).
    pub fn read_only(&self) -> Self {
        let read = |access: Access| access.min(Access::Read);
        Self {
            keyvalue: read(self.keyvalue),
            blobstore: read(self.blobstore),
            messaging: MessagingGrant::default(),
        }
    }

    /// Checks the messaging patterns: valid NATS subject patterns, none of
    /// them a system subject. The message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let subjects = &self.messaging.publish;
        if subjects.len() > MAX_MESSAGING_SUBJECTS {
            return Err(format!(
                "capabilities.messaging.publish has {} subjects; at most {MAX_MESSAGING_SUBJECTS} are allowed",
                subjects.len()
            ));
        }
        for pattern in subjects {
            if !valid_subject_pattern(pattern) {
                return Err(format!(
                    "capabilities.messaging.publish: {pattern:?} is not a NATS subject pattern \
                     (dot-separated tokens, `*` for one token, `>` last for the rest)"
                ));
            }
            let first = pattern.split('.').next().unwrap_or_default();
            if pattern.starts_with('$') || pattern.starts_with("_INBOX") || first == "*" || first == ">" {
                return Err(format!(
                    "capabilities.messaging.publish: {pattern:?} reaches system subjects; name your own \
                     (start with a literal token)"
                ));
            }
            // Publishes under the executor's prefix are refused whatever the
            // prefix; a grant naming the default one is a mistake to say now.
            if first == crate::subjects::DEFAULT_PREFIX {
                return Err(format!(
                    "capabilities.messaging.publish: {pattern:?} is under the platform's own subjects \
                     ({:?}); functions may not publish there",
                    crate::subjects::DEFAULT_PREFIX
                ));
            }
        }
        Ok(())
    }
}

/// A NATS subject pattern: non-empty tokens of printable ASCII without
/// whitespace, `*` standing alone for one token and `>` alone and last.
pub fn valid_subject_pattern(pattern: &str) -> bool {
    if pattern.is_empty() || pattern.len() > 256 {
        return false;
    }
    let tokens: Vec<&str> = pattern.split('.').collect();
    tokens.iter().enumerate().all(|(i, token)| {
        !token.is_empty()
            && token.bytes().all(|b| b.is_ascii_graphic())
            && (*token == "*" || *token == ">" || !token.contains(['*', '>']))
            && (*token != ">" || i == tokens.len() - 1)
    })
}

/// Whether `subject` (no wildcards) matches `pattern`.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut subject_tokens = subject.split('.');
    for token in pattern.split('.') {
        match (token, subject_tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (literal, Some(s)) if literal == s => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_map_to_their_capability() {
        assert_eq!(Capability::of_import("wasi:keyvalue/store@0.2.0-draft"), Some(Capability::KeyValue));
        assert_eq!(Capability::of_import("wasi:keyvalue/atomics@0.2.0-draft"), Some(Capability::KeyValue));
        assert_eq!(
            Capability::of_import("wasi:blobstore/container@0.2.0-draft"),
            Some(Capability::Blobstore)
        );
        assert_eq!(Capability::of_import("wasmcloud:messaging/consumer@0.2.0"), Some(Capability::Messaging));
        assert_eq!(Capability::of_import("wasi:cli/environment@0.2.6"), None);
        assert_eq!(Capability::of_import("wasi:keyvaluex/store"), None);
    }

    #[test]
    fn grants_default_to_nothing_and_read_only_drops_writes() {
        let none = CapabilityGrants::default();
        assert!(Capability::ALL.iter().all(|c| !none.grants(*c)));
        let all: CapabilityGrants = serde_json::from_value(serde_json::json!({
            "keyvalue": "write", "blobstore": "read", "messaging": {"publish": ["orders.>"]}
        }))
        .unwrap();
        assert!(Capability::ALL.iter().all(|c| all.grants(*c)));
        let read = all.read_only();
        assert_eq!((read.keyvalue, read.blobstore), (Access::Read, Access::Read));
        assert!(!read.grants(Capability::Messaging));
        assert!(serde_json::from_value::<CapabilityGrants>(serde_json::json!({"kv": "write"})).is_err());
        assert!(serde_json::from_value::<CapabilityGrants>(serde_json::json!({"keyvalue": "all"})).is_err());
    }

    #[test]
    fn messaging_patterns_are_checked_and_matched() {
        let grant = |subjects: &[&str]| CapabilityGrants {
            messaging: MessagingGrant { publish: subjects.iter().map(|s| s.to_string()).collect() },
            ..Default::default()
        };
        grant(&["orders.created", "events.*.done", "audit.>"]).validate().unwrap();
        for bad in [
            "",
            "a..b",
            "a.>.b",
            "a b",
            "a*.b",
            ">",
            "$JS.API.>",
            "_INBOX.x",
            "*.x",
            "faas.>",
            "faas.exec.*.*",
        ] {
            assert!(grant(&[bad]).validate().is_err(), "{bad:?} should be refused");
        }
        assert!(subject_matches("orders.*", "orders.created"));
        assert!(!subject_matches("orders.*", "orders.created.eu"));
        assert!(subject_matches("orders.>", "orders.created.eu"));
        assert!(!subject_matches("orders.>", "orders"));
        assert!(subject_matches("a.b", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
        assert!(!subject_matches("a.b.c", "a.b"));
    }
}

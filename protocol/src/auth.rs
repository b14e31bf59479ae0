//! Who may do what: bearer tokens and their scopes.
//!
//! Buckets are the platform's tenancy unit, so every scope but `admin`
//! names one bucket (or `*`, every bucket) and one kind of access. Token
//! records live in the [`tokens`](crate::jetstream::JetStreamNames::tokens) key-value bucket, keyed by token
//! id, holding only a hash of each secret; every api follows it live, so a
//! token is checked with a map read and a revocation reaches every api
//! without a restart.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::names::BucketName;

/// What a scope lets its holder do in a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Upload, replace and delete functions; create and delete the bucket;
    /// define triggers and pipelines over its functions.
    Deploy,
    /// Run its functions (sync or as jobs), read their jobs, redrive them.
    Invoke,
    /// List and download its functions, read its jobs.
    Read,
}

impl Access {
    /// The scope's spelling before the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploy => "deploy",
            Self::Invoke => "invoke",
            Self::Read => "read",
        }
    }
}

/// The buckets a scope covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Buckets {
    /// `*`: every bucket, present and future.
    All,
    /// One bucket.
    One(BucketName),
}

impl Buckets {
    /// Whether `bucket` is covered.
    pub fn covers(&self, bucket: &BucketName) -> bool {
        match self {
            Self::All => true,
            Self::One(one) => one == bucket,
        }
    }
}

/// One permission of a token: `admin`, or `<access>:<bucket|*>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything, token management included.
    Admin,
    /// `access` in `buckets`.
    Bucket {
        /// What it allows.
        access: Access,
        /// Where.
        buckets: Buckets,
    },
}

impl Scope {
    /// The scope needed for `access` in `bucket`.
    pub fn needed(access: Access, bucket: &BucketName) -> Self {
        Self::Bucket { access, buckets: Buckets::One(bucket.clone()) }
    }

    /// Whether holding `self` gives everything `other` gives: what a token
    /// may grant when it creates another.
    pub fn includes(&self, other: &Scope) -> bool {
        match (self, other) {
            (Self::Admin, _) => true,
            (Self::Bucket { .. }, Self::Admin) => false,
            (Self::Bucket { access, buckets }, Self::Bucket { access: wanted, buckets: where_ }) => {
                access == wanted
                    && match (buckets, where_) {
                        (Buckets::All, _) => true,
                        (Buckets::One(_), Buckets::All) => false,
                        (Buckets::One(mine), Buckets::One(theirs)) => mine == theirs,
                    }
            }
        }
    }
}

/// Whether `scopes` allow `access` in `bucket`.
pub fn allows(scopes: &[Scope], access: Access, bucket: &BucketName) -> bool {
    scopes.iter().any(|scope| match scope {
        Scope::Admin => true,
        Scope::Bucket { access: held, buckets } => *held == access && buckets.covers(bucket),
    })
}

/// Whether `scopes` hold `admin`.
pub fn is_admin(scopes: &[Scope]) -> bool {
    scopes.contains(&Scope::Admin)
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Admin => f.write_str("admin"),
            Self::Bucket { access, buckets: Buckets::All } => write!(f, "{}:*", access.as_str()),
            Self::Bucket { access, buckets: Buckets::One(bucket) } => {
                write!(f, "{}:{bucket}", access.as_str())
            }
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "admin" {
            return Ok(Self::Admin);
        }
        let invalid =
            || format!("invalid scope {s:?}: use admin, or deploy:, invoke: or read: and a bucket or *");
        let (access, bucket) = s.split_once(':').ok_or_else(invalid)?;
        let access = match access {
            "deploy" => Access::Deploy,
            "invoke" => Access::Invoke,
            "read" => Access::Read,
            _ => return Err(invalid()),
        };
        let buckets = match bucket {
            "*" => Buckets::All,
            name => Buckets::One(BucketName::new(name).map_err(|e| format!("invalid scope {s:?}: {e}"))?),
        };
        Ok(Self::Bucket { access, buckets })
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether `id` has the shape of a minted token id (32 hex digits): what
/// a key in [`tokens`](crate::jetstream::JetStreamNames::tokens) may be.
pub fn is_token_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A token as stored: everything but its secret, of which only the
/// SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token's id (the key in [`tokens`](crate::jetstream::JetStreamNames::tokens), and the first part of
    /// the token a client sends).
    pub id: String,
    /// A name for people.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Unix time in milliseconds when it was created.
    pub created_at_ms: u64,
    /// Unix time in milliseconds after which it is refused, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// Lowercase hex SHA-256 of the secret.
    pub secret_sha256: String,
}

impl TokenRecord {
    /// Whether it is expired at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|at| now_ms >= at)
    }
}

/// The body of `POST /tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewToken {
    /// A name for people.
    pub name: String,
    /// What it may do; at least one.
    pub scopes: Vec<Scope>,
    /// Seconds until it expires; never, if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_secs: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(name: &str) -> BucketName {
        BucketName::new(name).unwrap()
    }

    #[test]
    fn scopes_round_trip_through_their_strings() {
        for text in ["admin", "deploy:*", "invoke:team-a", "read:bkt"] {
            let scope: Scope = text.parse().unwrap();
            assert_eq!(scope.to_string(), text);
            assert_eq!(serde_json::to_value(&scope).unwrap(), text);
        }
        for bad in ["", "root", "deploy", "deploy:", "write:bkt", "read:Bad_Name", "admin:*"] {
            assert!(bad.parse::<Scope>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_scope_covers_its_access_in_its_buckets_only() {
        let scopes: Vec<Scope> = vec!["invoke:aaa".parse().unwrap(), "read:*".parse().unwrap()];
        assert!(allows(&scopes, Access::Invoke, &bucket("aaa")));
        assert!(!allows(&scopes, Access::Invoke, &bucket("bbb")));
        assert!(allows(&scopes, Access::Read, &bucket("bbb")));
        assert!(!allows(&scopes, Access::Deploy, &bucket("aaa")));
        assert!(allows(&[Scope::Admin], Access::Deploy, &bucket("zzz")));
        assert!(!is_admin(&scopes));
    }

    #[test]
    fn a_scope_includes_only_what_it_gives() {
        let scope = |s: &str| s.parse::<Scope>().unwrap();
        assert!(Scope::Admin.includes(&scope("deploy:*")));
        assert!(scope("deploy:*").includes(&scope("deploy:aaa")));
        assert!(!scope("deploy:aaa").includes(&scope("deploy:*")));
        assert!(!scope("deploy:aaa").includes(&scope("invoke:aaa")));
        assert!(!scope("deploy:*").includes(&Scope::Admin));
    }
}

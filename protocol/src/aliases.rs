//! Aliases: names that point at a version of a function, optionally split
//! between several versions by weight (a canary), and the rollback of
//! `current`.
//!
//! Every function has the alias `current`, which its plain name runs; the
//! others are named by users (`stable`, `canary`, ...). All of them live in
//! the function's registry entry ([`crate::FunctionVersion::aliases`]),
//! which executors already follow with an acked watch: moving an alias is
//! one registry write the dispatcher answers only once every executor
//! applied it, so it is exact the way an upload is. This module holds
//! what every role agrees on: the names, the request body, the record, and
//! the pick of a version for one call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ErrorBody, ErrorCode};
use crate::names::FunctionRef;

/// The alias a function's plain name runs.
pub const CURRENT: &str = "current";

/// The longest alias name.
pub const NAME_MAX_LEN: usize = 32;

/// The most versions one alias may split its calls between.
pub const MAX_WEIGHTS: usize = 8;

/// The most named aliases (besides `current`) one function may have.
pub const MAX_ALIASES: usize = 32;

/// How many earlier targets of `current` are kept for rollback.
pub const HISTORY_LEN: usize = 10;

/// Weights are kept as integer shares of this total (parts per million),
/// so every executor computes the same pick and records compare exactly.
pub const WEIGHT_TOTAL: u32 = 1_000_000;

/// How far from 1 the weights of a request may sum.
pub const WEIGHT_TOLERANCE: f64 = 1e-6;

/// Checks an alias name: a lowercase letter first, then `[a-z0-9_-]`, at
/// most [`NAME_MAX_LEN`] characters, and at least one character that is
/// not a hex digit, so that an alias never reads as a digest prefix (the
/// route suffix `@<x>` names either).
pub fn check_name(name: &str) -> Result<(), ErrorBody> {
    let bad = |why: &str| ErrorBody::new(ErrorCode::BadRequest, format!("alias name {name:?} {why}"));
    let Some(first) = name.bytes().next() else {
        return Err(bad("is empty"));
    };
    if name.len() > NAME_MAX_LEN {
        return Err(bad(&format!("is longer than {NAME_MAX_LEN} characters")));
    }
    if !first.is_ascii_lowercase() {
        return Err(bad("must start with a lowercase letter"));
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-') {
        return Err(bad("may hold only a-z, 0-9, '_' and '-'"));
    }
    if !is_alias_shaped(name) {
        return Err(bad("is all hex digits and would read as a version digest; add a non-hex character"));
    }
    Ok(())
}

/// Whether a route suffix or `Faas-Version` value names an alias rather
/// than a digest prefix: it holds a character that is not a hex digit.
pub fn is_alias_shaped(selector: &str) -> bool {
    selector.bytes().any(|b| !b.is_ascii_hexdigit())
}

/// Checks what `@<x>` or `Faas-Version` carries: an alias name (returned
/// as is) or a digest prefix (checked and folded to lowercase).
pub fn check_version_or_alias(selector: &str) -> Result<String, ErrorBody> {
    if is_alias_shaped(selector) {
        check_name(selector)?;
        Ok(selector.to_owned())
    } else {
        crate::versions::check_selector(selector)
    }
}

/// `PUT /file/{b}/{f}/aliases/{alias}`: where the alias points.
///
/// `version` is the alias's target: what rollback history records, what
/// the function's S3 object holds when the alias is `current`, and (with
/// no `weights`) the one version every call runs. `weights`, when given,
/// split the calls between versions; they must name `version` among them
/// (a target that runs no call would be a surprise), sum to 1 within
/// [`WEIGHT_TOLERANCE`], each be in [0, 1] and name at most
/// [`MAX_WEIGHTS`] versions. Versions are digests or unique prefixes;
/// `version` may also name another alias, which is resolved once, now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AliasSpec {
    /// The target: a digest, a unique prefix of one, or another alias.
    pub version: String,
    /// Shares of the calls by version (digest or unique prefix), summing to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<BTreeMap<String, f64>>,
}

impl AliasSpec {
    /// The weights as integer shares of [`WEIGHT_TOTAL`] by version
    /// selector (still to resolve), checked; empty without weights.
    pub fn shares(&self) -> Result<BTreeMap<String, u32>, ErrorBody> {
        let Some(weights) = &self.weights else {
            return Ok(BTreeMap::new());
        };
        let bad = |message: String| ErrorBody::new(ErrorCode::BadRequest, message);
        if weights.is_empty() {
            return Err(bad("weights is empty: leave it out to send every call to version".into()));
        }
        if weights.len() > MAX_WEIGHTS {
            return Err(bad(format!("weights names {} versions; at most {MAX_WEIGHTS}", weights.len())));
        }
        let mut sum = 0.0;
        for (version, weight) in weights {
            if !weight.is_finite() || !(0.0..=1.0).contains(weight) {
                return Err(bad(format!("the weight of {version} is {weight}; weights are in [0, 1]")));
            }
            sum += weight;
        }
        if (sum - 1.0).abs() > WEIGHT_TOLERANCE {
            return Err(bad(format!("the weights sum to {sum}, not 1")));
        }
        let mut shares: BTreeMap<String, u32> = weights
            .iter()
            .map(|(version, weight)| (version.clone(), (weight * f64::from(WEIGHT_TOTAL)).round() as u32))
            .collect();
        // Rounding may leave the total a few parts off: the largest share absorbs it.
        let total: i64 = shares.values().map(|share| i64::from(*share)).sum();
        if let Some(largest) = shares.values_mut().max() {
            *largest = (i64::from(*largest) + i64::from(WEIGHT_TOTAL) - total).max(0) as u32;
        }
        Ok(shares)
    }
}

/// A named alias as the registry entry keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasTarget {
    /// The target's digest.
    pub digest: String,
    /// Shares of [`WEIGHT_TOTAL`] by full digest; empty: every call runs `digest`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, u32>,
    /// When it last moved, Unix milliseconds.
    #[serde(default)]
    pub updated_at_ms: u64,
    /// The token (`<id> (<name>)`) that moved it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl AliasTarget {
    /// The digest one call runs: `digest`, or a weighted pick by `point`
    /// (see [`pick`]).
    pub fn pick(&self, point: u32) -> &str {
        pick(&self.weights, point).unwrap_or(&self.digest)
    }

    /// Every digest this alias may run.
    pub fn digests(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.digest.as_str()).chain(self.weights.keys().map(String::as_str))
    }
}

impl crate::FunctionVersion {
    /// The digest a call through `alias` runs at `point` (a route key's
    /// [`route_point`] or a random draw): `current` through its weights,
    /// else its digest; a named alias through its own. `None`: no such alias.
    pub fn run_through(&self, alias: &str, point: u32) -> Option<&str> {
        if alias == CURRENT {
            return Some(pick(&self.aliases.weights, point).unwrap_or(&self.digest));
        }
        self.aliases.named.get(alias).map(|target| target.pick(point))
    }
}

/// The aliases of one function, kept in its registry entry beside the
/// current digest. Empty for a function that never had one (and then left
/// out of the entry's JSON, so entries read the same as before aliases).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aliases {
    /// `current`'s weights by full digest; empty: every plain call runs the
    /// entry's digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, u32>,
    /// Earlier targets of `current`, most recent first, at most
    /// [`HISTORY_LEN`]: what rollback goes back to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
    /// When `current` last moved through the alias routes (not by upload), Unix ms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub updated_at_ms: u64,
    /// Who moved `current` last through the alias routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// The named aliases.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub named: BTreeMap<String, AliasTarget>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl Aliases {
    /// Whether there is nothing to keep (the entry's JSON leaves it out).
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// Records that `current` moves from `previous` to another target:
    /// `previous` goes on top of the history (bounded), and the old
    /// weights no longer apply.
    pub fn push_history(&mut self, previous: &str) {
        if self.history.first().map(String::as_str) != Some(previous) {
            self.history.insert(0, previous.to_owned());
        }
        self.history.truncate(HISTORY_LEN);
        self.weights.clear();
    }

    /// Every digest an alias (its target or one of its weights) points at,
    /// with `current` the entry's `digest`: what retention keeps and what
    /// deleting a version refuses.
    pub fn pinned<'a>(&'a self, current: &'a str) -> impl Iterator<Item = &'a str> {
        std::iter::once(current)
            .chain(self.weights.keys().map(String::as_str))
            .chain(self.named.values().flat_map(AliasTarget::digests))
    }

    /// The aliases that point at `digest` (`current` first), as the version
    /// listing marks them.
    pub fn pointing_at(&self, current: &str, digest: &str) -> Vec<String> {
        let mut names = Vec::new();
        if current == digest || self.weights.contains_key(digest) {
            names.push(CURRENT.to_owned());
        }
        for (name, target) in &self.named {
            if target.digests().any(|d| d == digest) {
                names.push(name.clone());
            }
        }
        names
    }
}

/// The version one call runs among `weights` (shares of [`WEIGHT_TOTAL`]
/// by digest): the one whose cumulative range, in digest order, holds
/// `point` (taken modulo [`WEIGHT_TOTAL`]). `None` without weights.
pub fn pick(weights: &BTreeMap<String, u32>, point: u32) -> Option<&str> {
    let point = point % WEIGHT_TOTAL;
    let mut upto = 0u32;
    let mut last = None;
    for (digest, share) in weights {
        if *share == 0 {
            continue;
        }
        upto = upto.saturating_add(*share);
        last = Some(digest.as_str());
        if point < upto {
            return last;
        }
    }
    last
}

/// The pick point of a route key: a stable hash (64-bit FNV-1a, the same
/// on every executor and release) folded into [0, [`WEIGHT_TOTAL`]).
pub fn route_point(key: &str) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Fold the high bits in: FNV's low bits alone mix poorly for short keys.
    ((hash ^ (hash >> 32)) % u64::from(WEIGHT_TOTAL)) as u32
}

/// An alias as the alias routes answer it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasRecord {
    /// The alias.
    pub alias: String,
    /// The target's full digest.
    pub version: String,
    /// Shares of the calls by full digest, summing to 1; absent: every
    /// call runs `version`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, f64>,
    /// For `current`: earlier targets, most recent first (rollback goes
    /// back to the first one still kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<String>,
    /// When it last moved through the alias routes, Unix ms (0: never;
    /// `current` also moves with every upload).
    #[serde(default)]
    pub updated_at_ms: u64,
    /// Who moved it last through the alias routes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl AliasRecord {
    /// The record of `current`, whose target is `digest`.
    pub fn current(digest: &str, aliases: &Aliases) -> Self {
        Self {
            alias: CURRENT.to_owned(),
            version: digest.to_owned(),
            weights: fractions(&aliases.weights),
            history: aliases.history.clone(),
            updated_at_ms: aliases.updated_at_ms,
            updated_by: aliases.updated_by.clone(),
        }
    }

    /// The record of the named alias `name`.
    pub fn named(name: &str, target: &AliasTarget) -> Self {
        Self {
            alias: name.to_owned(),
            version: target.digest.clone(),
            weights: fractions(&target.weights),
            history: Vec::new(),
            updated_at_ms: target.updated_at_ms,
            updated_by: target.updated_by.clone(),
        }
    }
}

fn fractions(shares: &BTreeMap<String, u32>) -> BTreeMap<String, f64> {
    shares
        .iter()
        .map(|(digest, share)| (digest.clone(), f64::from(*share) / f64::from(WEIGHT_TOTAL)))
        .collect()
}

/// `200` to `GET /file/{b}/{f}/aliases`: `current` first, then by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasList {
    /// The function, `<bucket>/<function>`.
    pub function: String,
    /// Its aliases.
    pub aliases: Vec<AliasRecord>,
}

/// `alias_not_found` for `alias` of `function`.
pub fn not_found(function: &FunctionRef, alias: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::AliasNotFound, format!("{function} has no alias {alias}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(weights: &[(&str, f64)]) -> AliasSpec {
        AliasSpec {
            version: weights.first().map_or("aaaaaaaa", |(v, _)| *v).to_owned(),
            weights: Some(weights.iter().map(|(v, w)| ((*v).to_owned(), *w)).collect()),
        }
    }

    #[test]
    fn names_are_lowercase_words_that_never_read_as_a_digest() {
        for good in ["stable", "canary-2", "v_1", "current", "g"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Stable", "1stable", "beef", "deadbeef", "a.b", "a b", &"x".repeat(33)] {
            assert_eq!(check_name(bad).unwrap_err().code, ErrorCode::BadRequest, "{bad:?}");
        }
        assert_eq!(check_version_or_alias("stable").unwrap(), "stable");
        assert_eq!(check_version_or_alias("ABCDEF01").unwrap(), "abcdef01");
        assert!(check_version_or_alias("Stable").is_err());
    }

    #[test]
    fn weights_are_checked_and_kept_as_exact_shares() {
        let shares = spec(&[("aaaaaaaa", 0.9), ("bbbbbbbb", 0.1)]).shares().unwrap();
        assert_eq!(shares["aaaaaaaa"], 900_000);
        assert_eq!(shares["bbbbbbbb"], 100_000);
        let thirds = spec(&[("aaaaaaaa", 1.0 / 3.0), ("bbbbbbbb", 1.0 / 3.0), ("cccccccc", 1.0 / 3.0)]);
        assert_eq!(thirds.shares().unwrap().values().sum::<u32>(), WEIGHT_TOTAL);
        for bad in [
            spec(&[("aaaaaaaa", 0.9), ("bbbbbbbb", 0.2)]),
            spec(&[("aaaaaaaa", 1.5), ("bbbbbbbb", -0.5)]),
            spec(&[("aaaaaaaa", f64::NAN)]),
            spec(&[]),
            spec(
                &(0..9)
                    .map(|i| (["a", "b", "c", "d", "e", "f", "0", "1", "2"][i], 1.0 / 9.0))
                    .collect::<Vec<_>>(),
            ),
        ] {
            assert_eq!(bad.shares().unwrap_err().code, ErrorCode::BadRequest, "{bad:?}");
        }
        assert!(AliasSpec { version: "aaaaaaaa".into(), weights: None }.shares().unwrap().is_empty());
    }

    #[test]
    fn the_pick_follows_the_shares() {
        let weights: BTreeMap<String, u32> = [("a".to_owned(), 900_000), ("b".to_owned(), 100_000)].into();
        let mut b = 0;
        let n = 100_000;
        for i in 0..n {
            if pick(&weights, route_point(&format!("user-{i}"))) == Some("b") {
                b += 1;
            }
        }
        let share = f64::from(b) / f64::from(n);
        assert!((share - 0.1).abs() < 0.01, "{share}");
        assert_eq!(pick(&BTreeMap::new(), 5), None);
        let zero: BTreeMap<String, u32> = [("a".to_owned(), 0), ("b".to_owned(), WEIGHT_TOTAL)].into();
        assert!((0..1000).all(|p| pick(&zero, p * 997) == Some("b")));
    }

    #[test]
    fn a_route_key_always_lands_on_the_same_version() {
        let weights: BTreeMap<String, u32> = [("a".to_owned(), 500_000), ("b".to_owned(), 500_000)].into();
        for key in ["alice", "bob", "", "a much longer key with spaces"] {
            let first = pick(&weights, route_point(key));
            assert!((0..50).all(|_| pick(&weights, route_point(key)) == first));
        }
        // Pinned values: the hash must not change between releases, or a
        // rolling upgrade would move sticky keys between versions.
        assert_eq!(route_point(""), 906_945);
        assert_eq!(route_point("alice"), 282_556);
        assert_eq!(route_point("bob"), 837_581);
    }

    #[test]
    fn history_is_bounded_and_drops_weights() {
        let mut aliases = Aliases { weights: [("x".to_owned(), WEIGHT_TOTAL)].into(), ..Default::default() };
        for i in 0..15 {
            aliases.push_history(&format!("d{i}"));
        }
        assert_eq!(aliases.history.len(), HISTORY_LEN);
        assert_eq!(aliases.history[0], "d14");
        assert!(aliases.weights.is_empty());
        aliases.named.insert(
            "stable".into(),
            AliasTarget {
                digest: "s".into(),
                weights: [("s".to_owned(), 1), ("t".to_owned(), WEIGHT_TOTAL - 1)].into(),
                updated_at_ms: 0,
                updated_by: None,
            },
        );
        assert_eq!(aliases.pointing_at("c", "t"), vec!["stable".to_owned()]);
        assert_eq!(aliases.pointing_at("c", "c"), vec![CURRENT.to_owned()]);
        let pinned: Vec<&str> = aliases.pinned("c").collect();
        assert!(pinned.contains(&"c") && pinned.contains(&"s") && pinned.contains(&"t"));
    }
}

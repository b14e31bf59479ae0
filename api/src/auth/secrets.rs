//! Token secrets: minting, hashing, and comparing without a timing leak.
//!
//! A token as a client holds it is `faas_<id>_<secret>`: the id finds the
//! record in memory, and the secret (256 random bits, hex) is checked
//! against the SHA-256 the record keeps. Secrets are never stored.

use sha2::{Digest, Sha256};

/// What every minted token starts with, so leaked tokens are easy to spot
/// (secret scanners match on it).
const PREFIX: &str = "faas_";

/// A freshly minted token: its id, the hash to store, and the whole token
/// to hand to the client exactly once.
pub struct Minted {
    /// The record's id.
    pub id: String,
    /// Hex SHA-256 of the secret.
    pub secret_sha256: String,
    /// `faas_<id>_<secret>`.
    pub token: String,
}

/// Mints a token with a 256-bit secret from the operating system.
pub fn mint() -> Result<Minted, getrandom::Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)?;
    let secret = hex(&secret);
    let id = uuid::Uuid::new_v4().simple().to_string();
    Ok(Minted { secret_sha256: sha256_hex(secret.as_bytes()), token: format!("{PREFIX}{id}_{secret}"), id })
}

/// Splits a presented token into its id and secret, if it has the shape
/// of a minted one.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Whether `secret` hashes to `expected_sha256`, comparing in constant
/// time (the hashes have a fixed length; only their bytes are compared).
pub fn matches(secret: &str, expected_sha256: &str) -> bool {
    let actual = sha256_hex(secret.as_bytes());
    actual.len() == expected_sha256.len()
        && actual.bytes().zip(expected_sha256.bytes()).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_parses_and_matches_only_its_hash() {
        let minted = mint().unwrap();
        let (id, secret) = parse(&minted.token).unwrap();
        assert_eq!(id, minted.id);
        assert_eq!(secret.len(), 64, "256 bits in hex");
        assert!(matches(secret, &minted.secret_sha256));
        assert!(!matches("wrong", &minted.secret_sha256));
        assert_ne!(minted.token, mint().unwrap().token);
        assert_eq!(parse("not-a-token"), None);
        assert_eq!(parse("faas__x"), None);
    }
}

//! Signing precompiled artifacts.
//!
//! Loading an artifact runs its native code as is: Wasmtime cannot check it,
//! which is why its deserialisation is `unsafe`. The artifact store lives on
//! the bus, where any client could write, so an artifact is accepted only
//! with a valid HMAC-SHA256 tag made with the key that only the platform's
//! roles hold, over the engine fingerprint, the component digest and the
//! artifact bytes: a tag made for one component cannot vouch for another.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Length of a tag, which prefixes every stored artifact.
pub const TAG_LEN: usize = 32;

/// The shared secret of the platform's roles.
#[derive(Clone)]
pub struct ArtifactKey(Vec<u8>);

impl std::fmt::Debug for ArtifactKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArtifactKey(<redacted>)")
    }
}

/// Why a stored artifact was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Shorter than a tag: truncated or not ours.
    #[error("the artifact is truncated")]
    Truncated,
    /// The tag does not match: written by someone without the key, or altered.
    #[error("the artifact's signature does not match")]
    BadSignature,
}

impl ArtifactKey {
    /// A key from configuration. Refuses keys too short to be secret.
    pub fn new(secret: &str) -> Option<Self> {
        (secret.len() >= 16).then(|| Self(secret.as_bytes().to_vec()))
    }

    fn mac(&self, fingerprint: &str, digest: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        // Length-prefixed, so no two (fingerprint, digest) pairs hash alike.
        for part in [fingerprint, digest] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// The stored form: tag followed by the artifact.
    pub fn seal(&self, fingerprint: &str, digest: &str, artifact: &[u8]) -> Vec<u8> {
        let mut mac = self.mac(fingerprint, digest);
        mac.update(artifact);
        let mut sealed = mac.finalize().into_bytes().to_vec();
        sealed.extend_from_slice(artifact);
        sealed
    }

    /// The artifact inside a stored object, if its tag is ours.
    pub fn open<'a>(
        &self,
        fingerprint: &str,
        digest: &str,
        sealed: &'a [u8],
    ) -> Result<&'a [u8], SignatureError> {
        if sealed.len() < TAG_LEN {
            return Err(SignatureError::Truncated);
        }
        let (tag, artifact) = sealed.split_at(TAG_LEN);
        let mut mac = self.mac(fingerprint, digest);
        mac.update(artifact);
        // Constant-time comparison.
        mac.verify_slice(tag).map_err(|_| SignatureError::BadSignature)?;
        Ok(artifact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ArtifactKey {
        ArtifactKey::new(s).unwrap()
    }

    #[test]
    fn sealed_artifacts_open_only_with_the_same_key_fingerprint_and_digest() {
        let k = key("0123456789abcdef-secret");
        let sealed = k.seal("fp", "d1", b"native code");
        assert_eq!(k.open("fp", "d1", &sealed), Ok(&b"native code"[..]));
        assert_eq!(key("another key of 16+").open("fp", "d1", &sealed), Err(SignatureError::BadSignature));
        assert_eq!(k.open("fp", "d2", &sealed), Err(SignatureError::BadSignature));
        assert_eq!(k.open("fp2", "d1", &sealed), Err(SignatureError::BadSignature));

        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(k.open("fp", "d1", &tampered), Err(SignatureError::BadSignature));
        assert_eq!(k.open("fp", "d1", &sealed[..10]), Err(SignatureError::Truncated));
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_print() {
        assert!(ArtifactKey::new("short").is_none());
        assert_eq!(format!("{:?}", key("0123456789abcdef")), "ArtifactKey(<redacted>)");
    }
}

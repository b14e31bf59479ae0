//! Signed callbacks, as Standard Webhooks (<https://www.standardwebhooks.com>)
//! specifies them, so a receiver can tell a delivery came from this platform
//! and was not replayed long after: `webhook-signature` is `v1,` and the
//! base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` under the
//! platform's secret.
//!
//! The secret (`FAAS_WEBHOOK_SECRET`) is `whsec_` and the base64 of 24 to 64
//! bytes, the format the Standard Webhooks libraries read, and must be the
//! same on every dispatcher. Without one, a dispatcher signs with a random
//! secret of its own and says so at start: deliveries still go out, but no
//! receiver can verify them, which is the honest state of an unconfigured
//! platform (a secret derived from anything else would be guessable or tie
//! two settings together).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// The prefix of a Standard Webhooks secret.
const PREFIX: &str = "whsec_";

/// `FAAS_WEBHOOK_SECRET` is not a usable secret.
#[derive(Debug, thiserror::Error)]
#[error("FAAS_WEBHOOK_SECRET must be \"whsec_\" and the base64 of 24 to 64 random bytes: {0}")]
pub struct BadSecret(&'static str);

/// The key callbacks are signed with.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, BadSecret> {
        let encoded = text.trim().strip_prefix(PREFIX).ok_or(BadSecret("it does not start with whsec_"))?;
        let key = STANDARD.decode(encoded).map_err(|_| BadSecret("what follows whsec_ is not base64"))?;
        if !(24..=64).contains(&key.len()) {
            return Err(BadSecret("the key is not 24 to 64 bytes long"));
        }
        Ok(Self(key))
    }

    /// A random secret of 32 bytes (from two v4 uuids' random bits, as
    /// the platform's other generated secrets).
    pub fn random() -> Self {
        let mut key = uuid::Uuid::new_v4().as_bytes().to_vec();
        key.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(key)
    }

    /// The `webhook-signature` value of one delivery.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_standard_webhooks_reference_does() {
        // The example of the Standard Webhooks reference libraries' tests.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_must_be_whsec_and_base64_of_enough_bytes() {
        assert!(WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=").is_err());
        let random = WebhookSecret::random();
        assert_eq!(random.0.len(), 32);
        assert_eq!(format!("{random:?}"), "WebhookSecret(…)");
    }
}

//! Sealing and opening function secrets under the platform key
//! (`FAAS_SECRETS_KEY`).
//!
//! A secret is sealed by the api as soon as it arrives and opened only by
//! an executor for a call, so the dispatcher, the key-value bucket and
//! every NATS message in between carry ciphertext. Both ends need the same
//! code, hence this module in the one crate they share. AES-256-GCM (ring,
//! already linked for TLS) with a random 96-bit nonce per secret, and the
//! function and name as additional data ([`protocol::function_config::secret_aad`]), so a sealed
//! value moved to another function or name fails to open.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use protocol::FunctionRef;
use protocol::function_config::{SealedSecret, SecretValue, secret_aad};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The platform key secrets are sealed with: 32 bytes, given as 64 hex
/// digits or base64. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SecretsKey {
    bytes: [u8; 32],
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsKey(<redacted>)")
    }
}

/// A secret could not be sealed or opened, or the key is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    /// `FAAS_SECRETS_KEY` is not 32 bytes in hex or base64.
    #[error("FAAS_SECRETS_KEY must be 32 bytes, as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)")]
    BadKey,
    /// The sealed value is not one this platform sealed for this function
    /// and name, or the key differs from the one that sealed it.
    #[error("secret {name} cannot be opened: sealed with another FAAS_SECRETS_KEY, or for another function")]
    CannotOpen {
        /// The secret's name.
        name: String,
    },
    /// The system's random source failed.
    #[error("no randomness for a nonce")]
    Random,
}

impl FromStr for SecretsKey {
    type Err = SecretsError;

    fn from_str(text: &str) -> Result<Self, SecretsError> {
        let text = text.trim();
        let decoded = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()).collect::<Option<Vec<u8>>>()
        } else {
            STANDARD.decode(text).ok()
        };
        let bytes = decoded.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()).ok_or(SecretsError::BadKey)?;
        Ok(Self { bytes })
    }
}

impl SecretsKey {
    fn key(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.bytes).expect("32 bytes is an AES-256 key"))
    }

    /// Seals `value`, the secret `name` of `function`.
    pub fn seal(
        &self,
        function: &FunctionRef,
        name: &str,
        value: &SecretValue,
    ) -> Result<SealedSecret, SecretsError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| SecretsError::Random)?;
        let mut text = value.0.as_bytes().to_vec();
        let aad = secret_aad(function, name);
        self.key()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut text,
            )
            .map_err(|_| SecretsError::Random)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&text);
        Ok(SealedSecret(STANDARD.encode(sealed)))
    }

    /// Opens the secret `name` of `function`.
    pub fn open(
        &self,
        function: &FunctionRef,
        name: &str,
        sealed: &SealedSecret,
    ) -> Result<SecretValue, SecretsError> {
        let cannot = || SecretsError::CannotOpen { name: name.to_owned() };
        let mut bytes = STANDARD.decode(&sealed.0).map_err(|_| cannot())?;
        if bytes.len() < NONCE_LEN {
            return Err(cannot());
        }
        let mut text = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| cannot())?;
        let aad = secret_aad(function, name);
        let clear =
            self.key().open_in_place(nonce, Aad::from(aad.as_bytes()), &mut text).map_err(|_| cannot())?;
        String::from_utf8(clear.to_vec()).map(SecretValue).map_err(|_| cannot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_function_and_name() {
        let key: SecretsKey = KEY.parse().unwrap();
        let function = FunctionRef::new("bk1", "f1").unwrap();
        let value = SecretValue("hunter2".into());
        let sealed = key.seal(&function, "TOKEN", &value).unwrap();
        assert!(!sealed.0.contains("hunter2"));
        assert_ne!(sealed, key.seal(&function, "TOKEN", &value).unwrap(), "a fresh nonce each time");
        assert_eq!(key.open(&function, "TOKEN", &sealed).unwrap(), value);

        let other_key: SecretsKey = STANDARD.encode([7u8; 32]).parse().unwrap();
        assert!(matches!(other_key.open(&function, "TOKEN", &sealed), Err(SecretsError::CannotOpen { .. })));
        assert!(key.open(&function, "OTHER", &sealed).is_err(), "another name");
        let elsewhere = FunctionRef::new("bk1", "f2").unwrap();
        assert!(key.open(&elsewhere, "TOKEN", &sealed).is_err(), "another function");
        assert!(key.open(&function, "TOKEN", &SealedSecret("not base64!".into())).is_err());
        let mut tampered = STANDARD.decode(&sealed.0).unwrap();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(&function, "TOKEN", &SealedSecret(STANDARD.encode(tampered))).is_err());
    }

    #[test]
    fn keys_are_32_bytes_in_hex_or_base64_and_never_shown() {
        assert!(KEY.parse::<SecretsKey>().is_ok());
        assert!(STANDARD.encode([1u8; 32]).parse::<SecretsKey>().is_ok());
        assert_eq!("short".parse::<SecretsKey>().unwrap_err(), SecretsError::BadKey);
        assert!(STANDARD.encode([1u8; 16]).parse::<SecretsKey>().is_err());
        let key: SecretsKey = KEY.parse().unwrap();
        assert_eq!(format!("{key:?}"), "SecretsKey(<redacted>)");
    }
}

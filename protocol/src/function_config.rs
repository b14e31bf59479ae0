//! Per-function configuration: the environment, secrets and limits one
//! function runs with, set by `PUT /config/{bucket}/{function}`.
//!
//! Three shapes, because a secret must never travel in clear past the api:
//! [`FunctionConfig`] is what a user sends (secrets in clear, a `null`
//! secret keeping its stored value); [`StoredFunctionConfig`] is what the
//! api hands the dispatcher and what the
//! [`function_config`](crate::jetstream::JetStreamNames::function_config)
//! key-value bucket keeps and executors follow (each secret sealed with the
//! platform key, [`SealedSecret`]); [`FunctionConfigView`] is what `GET`
//! answers (secrets by name only). Validation lives here so the api and
//! the dispatcher refuse the same things with the same words.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::capabilities::CapabilityGrants;
use crate::names::FunctionRef;

/// Most bytes of names and values (env, secrets in clear, hosts) one
/// function's configuration may hold.
pub const MAX_CONFIG_BYTES: usize = 64 << 10;

/// Bytes a sealed secret has beyond its clear text: a 12-byte nonce and a
/// 16-byte tag.
pub const SEAL_OVERHEAD: usize = 28;

/// Longest variable name.
pub const MAX_NAME_LEN: usize = 128;

/// A secret's value in clear: its `Debug` never shows it, so it cannot
/// reach a log line by accident.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretValue(pub String);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// A secret sealed with the platform key (`FAAS_SECRETS_KEY`): base64 of
/// nonce, ciphertext and tag (AES-256-GCM, bound to
/// [`secret_aad`]). Only the api seals and only executors open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedSecret(pub String);

/// The additional authenticated data a secret is sealed under: its
/// function and name, so a sealed value copied to another function or
/// name does not open.
pub fn secret_aad(function: &FunctionRef, name: &str) -> String {
    format!("{}/{}/{name}", function.bucket, function.function)
}

/// The limits and the outgoing HTTP allow list: the part of a
/// configuration every shape shares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionLimits {
    /// Wall-clock limit of one call, in ms. The executor runs a call with
    /// the lower of this and its own `FAAS_EXEC_TIMEOUT_MS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Memory cap of one call, in MiB. The executor runs a call with the
    /// lower of this and its own `FAAS_EXEC_MEMORY_MIB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Calls running at once across all executors; one more is refused
    /// with 429 `concurrency_limited` (it does not wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Hosts the function's outgoing HTTP may reach (HTTP functions; a
    /// `*.` prefix allows every subdomain). Empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_outgoing_allow: Vec<String>,
    /// Host capabilities (key-value, blobs, messaging) granted to the
    /// function. Absent: its bucket's default grants, else none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<CapabilityGrants>,
    /// Whether failed sync calls' inputs are kept for replay
    /// (`"failures"` or `"off"`). Absent: the platform's
    /// `FAAS_KEEP_FAILED_INPUTS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_inputs: Option<crate::replay::KeepInputs>,
}

/// The body of `PUT /config/{bucket}/{function}`: replaces the whole
/// configuration, except that a secret sent as `null` keeps its stored
/// value (so GET, edit, PUT keeps secrets without resending them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionConfig {
    /// Environment variables (also served by `wasi:config/store`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Secrets: seen by the guest like `env`, but write-only over the api
    /// and stored encrypted. `null` keeps the stored value.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Option<String>>))]
    pub secrets: BTreeMap<String, Option<SecretValue>>,
    /// See [`FunctionLimits::timeout_ms`].
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// See [`FunctionLimits::memory_mib`].
    #[serde(default)]
    pub memory_mib: Option<u64>,
    /// See [`FunctionLimits::max_concurrency`].
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// See [`FunctionLimits::http_outgoing_allow`].
    #[serde(default)]
    pub http_outgoing_allow: Vec<String>,
    /// See [`FunctionLimits::capabilities`].
    #[serde(default)]
    pub capabilities: Option<CapabilityGrants>,
    /// See [`FunctionLimits::keep_inputs`].
    #[serde(default)]
    pub keep_inputs: Option<crate::replay::KeepInputs>,
}

impl FunctionConfig {
    /// The limits it sets.
    pub fn limits(&self) -> FunctionLimits {
        FunctionLimits {
            timeout_ms: self.timeout_ms,
            memory_mib: self.memory_mib,
            max_concurrency: self.max_concurrency,
            http_outgoing_allow: self.http_outgoing_allow.clone(),
            capabilities: self.capabilities.clone(),
            keep_inputs: self.keep_inputs,
        }
    }

    /// Checks names, sizes, limits and hosts; the message says what is wrong.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let secret_bytes: usize = self
            .secrets
            .iter()
            .map(|(name, value)| name.len() + value.as_ref().map_or(0, |v| v.0.len()))
            .sum();
        validate_parts(&self.env, self.secrets.keys(), secret_bytes, &self.limits())
    }
}

/// A configuration as the dispatcher receives it, stores it and executors
/// follow it: secrets sealed. In a `put_function_config` command a secret
/// may be `null`: keep the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFunctionConfig {
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Sealed secrets by name.
    #[serde(default)]
    pub secrets: BTreeMap<String, SealedSecret>,
    /// Limits and allow list.
    #[serde(flatten)]
    pub limits: FunctionLimits,
    /// When it was last written, Unix ms.
    #[serde(default)]
    pub updated_at_ms: u64,
}

impl StoredFunctionConfig {
    /// What `GET` shows of it.
    pub fn view(&self, function: &FunctionRef) -> FunctionConfigView {
        FunctionConfigView {
            function: function.to_string(),
            env: self.env.clone(),
            secrets: self.secrets.keys().cloned().collect(),
            limits: self.limits.clone(),
            updated_at_ms: Some(self.updated_at_ms),
        }
    }

    /// Checks it as [`FunctionConfig::validate`] does, a sealed secret
    /// counted at its clear size (base64 of nonce, text and tag).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let clear = |sealed: &SealedSecret| (sealed.0.len() * 3 / 4).saturating_sub(SEAL_OVERHEAD);
        let secret_bytes = self.secrets.iter().map(|(name, value)| name.len() + clear(value)).sum();
        validate_parts(&self.env, self.secrets.keys(), secret_bytes, &self.limits)
    }
}

/// The configuration sent in a `put_function_config` command: a `None`
/// secret keeps the stored value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionConfigUpdate {
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Sealed secrets by name; `null` keeps the stored value.
    #[serde(default)]
    pub secrets: BTreeMap<String, Option<SealedSecret>>,
    /// Limits and allow list.
    #[serde(flatten)]
    pub limits: FunctionLimits,
}

impl FunctionConfigUpdate {
    /// The configuration to store: `stored`'s value for each kept secret.
    /// A kept secret that has no stored value is an error.
    pub fn resolve(
        self,
        stored: Option<&StoredFunctionConfig>,
        now_ms: u64,
    ) -> Result<StoredFunctionConfig, ConfigError> {
        let mut secrets = BTreeMap::new();
        for (name, value) in self.secrets {
            let value = match value {
                Some(value) => value,
                None => stored.and_then(|s| s.secrets.get(&name)).cloned().ok_or_else(|| {
                    ConfigError(format!("secret {name} is null (keep its value) but has no stored value"))
                })?,
            };
            secrets.insert(name, value);
        }
        let config =
            StoredFunctionConfig { env: self.env, secrets, limits: self.limits, updated_at_ms: now_ms };
        config.validate()?;
        Ok(config)
    }
}

/// The answer of `GET`/`PUT /config/{bucket}/{function}`: everything but
/// the secrets' values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionConfigView {
    /// `<bucket>/<function>`.
    pub function: String,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// The secrets' names, sorted; never their values.
    pub secrets: Vec<String>,
    /// Limits and allow list (absent: the executors' defaults).
    #[serde(flatten)]
    pub limits: FunctionLimits,
    /// When it was last written (Unix ms); absent: never configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at_ms: Option<u64>,
}

impl FunctionConfigView {
    /// A function without a configuration: the defaults.
    pub fn defaults(function: &FunctionRef) -> Self {
        Self { function: function.to_string(), ..Self::default() }
    }
}

/// A configuration is refused: the message says why (HTTP 400 `bad_request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid function configuration: {0}")]
pub struct ConfigError(pub String);

fn validate_parts<'a>(
    env: &BTreeMap<String, String>,
    secrets: impl Iterator<Item = &'a String>,
    secret_bytes: usize,
    limits: &FunctionLimits,
) -> Result<(), ConfigError> {
    let fail = |message: String| Err(ConfigError(message));
    let secrets: BTreeSet<&String> = secrets.collect();
    for name in env.keys().chain(secrets.iter().copied()) {
        check_name(name)?;
    }
    if let Some(both) = secrets.iter().find(|name| env.contains_key(name.as_str())) {
        return fail(format!("{both} is both in env and in secrets; name it once"));
    }
    let env_bytes: usize = env.iter().map(|(name, value)| name.len() + value.len()).sum();
    let host_bytes: usize = limits.http_outgoing_allow.iter().map(String::len).sum();
    let total = env_bytes + secret_bytes + host_bytes;
    if total > MAX_CONFIG_BYTES {
        return fail(format!(
            "it holds {total} bytes of names and values; at most {MAX_CONFIG_BYTES} are allowed"
        ));
    }
    if limits.timeout_ms == Some(0) {
        return fail("timeout_ms must be at least 1".into());
    }
    if limits.memory_mib == Some(0) {
        return fail("memory_mib must be at least 1".into());
    }
    if limits.max_concurrency == Some(0) {
        return fail("max_concurrency must be at least 1".into());
    }
    if let Some(capabilities) = &limits.capabilities {
        capabilities.validate().map_err(ConfigError)?;
    }
    for host in &limits.http_outgoing_allow {
        if !valid_host(host) {
            return fail(format!(
                "http_outgoing_allow: {host:?} is not a DNS name or an IP address (a `*.` prefix is allowed)"
            ));
        }
    }
    Ok(())
}

/// `[A-Za-z_][A-Za-z0-9_]*`, at most [`MAX_NAME_LEN`] characters: a name
/// every shell and every language's environment API takes as it is.
fn check_name(name: &str) -> Result<(), ConfigError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') || name.len() > MAX_NAME_LEN {
        return Err(ConfigError(format!(
            "variable name {name:?} must match [A-Za-z_][A-Za-z0-9_]* and be at most {MAX_NAME_LEN} characters"
        )));
    }
    Ok(())
}

/// A DNS name (optionally `*.`-prefixed) or an IP address.
pub fn valid_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> FunctionConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_good_config_validates_and_bad_ones_say_why() {
        let good = config(serde_json::json!({
            "env": {"GREETING": "hi", "_x1": ""},
            "secrets": {"API_KEY": "s3cr3t", "KEPT": null},
            "timeout_ms": 200, "memory_mib": 16, "max_concurrency": 1,
            "http_outgoing_allow": ["api.example.com", "*.example.org", "10.0.0.1", "::1"]
        }));
        good.validate().unwrap();
        let refused = |json: serde_json::Value, words: &str| {
            let err = config(json).validate().unwrap_err().to_string();
            assert!(err.contains(words), "{err} should say {words}");
        };
        refused(serde_json::json!({"env": {"1X": "v"}}), "[A-Za-z_]");
        refused(serde_json::json!({"env": {"A-B": "v"}}), "[A-Za-z_]");
        refused(serde_json::json!({"env": {"X".repeat(129): "v"}}), "128");
        refused(serde_json::json!({"env": {"K": "v"}, "secrets": {"K": "s"}}), "both in env and in secrets");
        refused(serde_json::json!({"env": {"K": "v".repeat(MAX_CONFIG_BYTES)}}), "bytes");
        refused(serde_json::json!({"timeout_ms": 0}), "timeout_ms");
        refused(serde_json::json!({"memory_mib": 0}), "memory_mib");
        refused(serde_json::json!({"max_concurrency": 0}), "max_concurrency");
        refused(serde_json::json!({"http_outgoing_allow": ["http://x"]}), "http_outgoing_allow");
        refused(serde_json::json!({"http_outgoing_allow": ["a..b"]}), "http_outgoing_allow");
        assert!(serde_json::from_value::<FunctionConfig>(serde_json::json!({"envs": {}})).is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_and_null_keeps_the_stored_value() {
        let config = config(serde_json::json!({"secrets": {"TOKEN": "hunter2"}}));
        assert!(!format!("{config:?}").contains("hunter2"));
        let stored = StoredFunctionConfig {
            secrets: [("TOKEN".to_owned(), SealedSecret("sealed".into()))].into(),
            ..Default::default()
        };
        let keep =
            FunctionConfigUpdate { secrets: [("TOKEN".to_owned(), None)].into(), ..Default::default() };
        let resolved = keep.clone().resolve(Some(&stored), 7).unwrap();
        assert_eq!(resolved.secrets["TOKEN"], SealedSecret("sealed".into()));
        assert_eq!(resolved.updated_at_ms, 7);
        assert!(keep.resolve(None, 7).unwrap_err().to_string().contains("no stored value"));
        let function = FunctionRef::new("bk1", "f1").unwrap();
        let view = resolved.view(&function);
        assert_eq!(view.secrets, vec!["TOKEN".to_owned()]);
        assert!(!serde_json::to_string(&view).unwrap().contains("sealed"));
        assert_eq!(secret_aad(&function, "TOKEN"), "bk1/f1/TOKEN");
    }
}

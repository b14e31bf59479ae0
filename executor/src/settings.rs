//! What one call runs with ([`CallSettings`]): the function's
//! configuration (`PUT /config/{b}/{f}`) met with the executor's own
//! limits, built once per call and handed to the runtime, whichever world
//! the function has.
//!
//! A function's limits may only lower the executor's: a call gets the
//! lower of the two for time and memory. Its variables are its `env` and
//! its secrets, opened here with the platform key, and nothing of the
//! host's; they live in the call's store and are dropped with it.

use std::fmt;

use bus::SecretsKey;
use protocol::function_config::StoredFunctionConfig;
use protocol::{CapabilityGrants, FunctionRef};

use crate::capabilities::CallIdentity;
use crate::config::ExecLimits;
use crate::error::ExecError;

/// The settings of one call.
#[derive(Clone, PartialEq, Eq)]
pub struct CallSettings {
    /// Environment variables, also served by `wasi:config/store`: the
    /// function's `env` and opened secrets.
    pub vars: Vec<(String, String)>,
    /// Wall-clock limit, in ms.
    pub timeout_ms: u64,
    /// Memory cap, in MiB.
    pub memory_mib: usize,
    /// Hosts the call's outgoing HTTP may reach (HTTP functions; the
    /// `exec` world has no outgoing HTTP). Empty: none.
    pub http_outgoing_allow: Vec<String>,
    /// Host capabilities granted: the function's, else its bucket's default.
    pub grants: CapabilityGrants,
    /// Who calls, for the capabilities (`None`: the runtime alone, as in
    /// unit tests; capability calls then fail).
    pub identity: Option<CallIdentity>,
}

impl fmt::Debug for CallSettings {
    // Secrets are among the values: only the names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallSettings")
            .field("vars", &self.vars.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .field("timeout_ms", &self.timeout_ms)
            .field("memory_mib", &self.memory_mib)
            .field("http_outgoing_allow", &self.http_outgoing_allow)
            .field("grants", &self.grants)
            .field("identity", &self.identity)
            .finish()
    }
}

impl CallSettings {
    /// A function without a configuration: the executor's limits, no variables.
    pub fn defaults(limits: &ExecLimits) -> Self {
        Self {
            vars: Vec::new(),
            timeout_ms: limits.timeout_ms,
            memory_mib: limits.memory_mib,
            http_outgoing_allow: Vec::new(),
            grants: CapabilityGrants::default(),
            identity: None,
        }
    }

    /// `function`'s settings under `config`, its secrets opened with `key`;
    /// `bucket_grants` are its bucket's default capability grants, used when
    /// `config` sets none.
    pub fn for_function(
        limits: &ExecLimits,
        function: &FunctionRef,
        config: Option<&StoredFunctionConfig>,
        bucket_grants: Option<&CapabilityGrants>,
        key: Option<&SecretsKey>,
    ) -> Result<Self, ExecError> {
        let mut settings = Self::defaults(limits);
        let own_grants = config.and_then(|c| c.limits.capabilities.as_ref());
        settings.grants = own_grants.or(bucket_grants).cloned().unwrap_or_default();
        let Some(config) = config else { return Ok(settings) };
        if let Some(timeout_ms) = config.limits.timeout_ms {
            settings.timeout_ms = settings.timeout_ms.min(timeout_ms.max(1));
        }
        if let Some(memory_mib) = config.limits.memory_mib {
            let memory_mib = usize::try_from(memory_mib).unwrap_or(usize::MAX).max(1);
            settings.memory_mib = settings.memory_mib.min(memory_mib);
        }
        settings.http_outgoing_allow = config.limits.http_outgoing_allow.clone();
        settings.vars = config.env.iter().map(|(name, value)| (name.clone(), value.clone())).collect();
        if !config.secrets.is_empty() {
            let key = key.ok_or_else(|| {
                ExecError::Secrets(format!(
                    "{function} has secrets but this executor has no FAAS_SECRETS_KEY to open them"
                ))
            })?;
            for (name, sealed) in &config.secrets {
                let value =
                    key.open(function, name, sealed).map_err(|e| ExecError::Secrets(e.to_string()))?;
                settings.vars.push((name.clone(), value.0));
            }
        }
        Ok(settings)
    }

    /// These settings for a call that must not act on the world (a replay
    /// without side effects, a shadow call): key-value and blobs read only,
    /// no messaging publish, no outgoing HTTP. The one place the rule is.
    pub fn read_only(self) -> Self {
        Self { grants: self.grants.read_only(), http_outgoing_allow: Vec::new(), ..self }
    }

    /// The memory cap in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.memory_mib.saturating_mul(1 << 20)
    }

    /// The wall-clock limit.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use protocol::Access;
    use protocol::function_config::{FunctionLimits, SecretValue};

    use super::*;

    #[test]
    fn a_function_s_limits_only_lower_the_executor_s_and_secrets_open() {
        let limits = ExecLimits::default();
        let function = FunctionRef::new("bk1", "f1").unwrap();
        let key: SecretsKey = "11".repeat(32).parse().unwrap();
        let sealed = key.seal(&function, "TOKEN", &SecretValue("hunter2".into())).unwrap();
        let config = StoredFunctionConfig {
            env: [("A".to_owned(), "1".to_owned())].into(),
            secrets: [("TOKEN".to_owned(), sealed)].into(),
            limits: FunctionLimits { timeout_ms: Some(200), memory_mib: Some(1 << 20), ..Default::default() },
            updated_at_ms: 1,
        };
        let settings =
            CallSettings::for_function(&limits, &function, Some(&config), None, Some(&key)).unwrap();
        assert_eq!(settings.timeout_ms, 200);
        assert_eq!(settings.memory_mib, limits.memory_mib, "a higher memory_mib raises nothing");
        assert_eq!(settings.vars, vec![("A".into(), "1".into()), ("TOKEN".into(), "hunter2".into())]);
        assert!(!format!("{settings:?}").contains("hunter2"));

        let err = CallSettings::for_function(&limits, &function, Some(&config), None, None).unwrap_err();
        assert!(err.to_string().contains("FAAS_SECRETS_KEY"), "{err}");
        let other: SecretsKey = "22".repeat(32).parse().unwrap();
        assert!(CallSettings::for_function(&limits, &function, Some(&config), None, Some(&other)).is_err());
        assert_eq!(
            CallSettings::for_function(&limits, &function, None, None, None).unwrap(),
            CallSettings::defaults(&limits)
        );
    }

    #[test]
    fn read_only_settings_keep_reads_and_drop_every_write() {
        let mut settings = CallSettings::defaults(&ExecLimits::default());
        settings.grants = serde_json::from_value(serde_json::json!({
            "keyvalue": "write", "blobstore": "read", "messaging": {"publish": ["orders.>"]}
        }))
        .unwrap();
        settings.http_outgoing_allow = vec!["example.com".into()];
        let read_only = settings.clone().read_only();
        assert_eq!(read_only.grants.keyvalue, Access::Read);
        assert_eq!(read_only.grants.blobstore, Access::Read);
        assert!(read_only.grants.messaging.publish.is_empty() && read_only.http_outgoing_allow.is_empty());
        assert_eq!(read_only.timeout_ms, settings.timeout_ms);
    }

    #[test]
    fn a_function_s_own_grants_replace_its_bucket_s_default() {
        let limits = ExecLimits::default();
        let function = FunctionRef::new("bk1", "f1").unwrap();
        let bucket = CapabilityGrants { keyvalue: Access::Write, ..Default::default() };
        let inherited = CallSettings::for_function(&limits, &function, None, Some(&bucket), None).unwrap();
        assert_eq!(inherited.grants, bucket);
        let own = CapabilityGrants { blobstore: Access::Read, ..Default::default() };
        let config = StoredFunctionConfig {
            limits: FunctionLimits { capabilities: Some(own.clone()), ..Default::default() },
            ..Default::default()
        };
        let settings =
            CallSettings::for_function(&limits, &function, Some(&config), Some(&bucket), None).unwrap();
        assert_eq!(settings.grants, own, "a function's grants are not merged with its bucket's");
        let unset = StoredFunctionConfig::default();
        let settings =
            CallSettings::for_function(&limits, &function, Some(&unset), Some(&bucket), None).unwrap();
        assert_eq!(settings.grants, bucket);
    }
}

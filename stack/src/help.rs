//! The check every service's `--help` passes: it lists the settings (so an
//! operator finds them) without ever showing a secret's value set in the
//! environment, which would end up in terminals, CI logs and bug reports.

use std::process::Command;

/// A secret setting and a value to set it to while `--help` runs.
#[derive(Debug, Clone, Copy)]
pub struct Secret {
    /// Its environment variable.
    pub env: &'static str,
    /// The value, which must not appear.
    pub value: &'static str,
    /// Whether `--help` names the variable (a hidden flag does not).
    pub listed: bool,
}

impl Secret {
    /// A secret `--help` names, with `value` set.
    pub const fn listed(env: &'static str, value: &'static str) -> Self {
        Self { env, value, listed: true }
    }
}

/// The NATS client secrets every service reads (`bus::NatsOptions`).
pub const NATS_SECRETS: [Secret; 3] = [
    Secret::listed("NATS_PASSWORD", "nats-password-from-env"),
    Secret::listed("NATS_TOKEN", "nats-token-from-env"),
    Secret::listed("NATS_NKEY_SEED", "SUNATSSEEDFROMENV"),
];

/// Runs `binary --help` with `secrets` and [`NATS_SECRETS`] set in its
/// environment and asserts that it succeeds, names the listed ones and
/// shows no value; returns the help text for further checks.
pub fn help_hiding(binary: &str, secrets: &[Secret]) -> String {
    let all: Vec<Secret> = secrets.iter().chain(&NATS_SECRETS).copied().collect();
    let output = Command::new(binary)
        .arg("--help")
        .envs(all.iter().map(|secret| (secret.env, secret.value)))
        .output()
        .unwrap_or_else(|e| panic!("{binary} --help does not run: {e}"));
    assert!(output.status.success(), "{binary} --help failed: {output:?}");
    let help = String::from_utf8(output.stdout).expect("--help is UTF-8");
    for secret in all {
        assert!(!secret.listed || help.contains(secret.env), "{} is not listed:\n{help}", secret.env);
        assert!(!help.contains(secret.value), "{}'s value is shown:\n{help}", secret.env);
    }
    help
}

/// Runs `binary` with `env` set to `value` and asserts that it refuses
/// the setting before anything starts: exit status 2 (clap's usage error),
/// naming `flag` so the operator knows which one.
pub fn assert_setting_refused(binary: &str, env: &str, value: &str, flag: &str) {
    let output = Command::new(binary)
        .env(env, value)
        .output()
        .unwrap_or_else(|e| panic!("{binary} does not run: {e}"));
    assert_eq!(output.status.code(), Some(2), "{env}={value}: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(flag), "{env}={value} is refused without naming {flag}: {stderr}");
}

//! `faas-executor --help` lists every setting without showing a secret
//! that is set in the environment, or the default S3 secret.

use std::process::Command;

#[test]
fn help_never_shows_a_secret() {
    let secrets = [
        ("S3_SECRET_KEY", "s3-secret-from-env"),
        ("FAAS_ARTIFACT_KEY", "artifact-key-from-env"),
        ("NATS_PASSWORD", "nats-password-from-env"),
        ("NATS_TOKEN", "nats-token-from-env"),
        ("NATS_NKEY_SEED", "SUNATSSEEDFROMENV"),
    ];
    let output = Command::new(env!("CARGO_BIN_EXE_faas-executor"))
        .arg("--help")
        .envs(secrets)
        .output()
        .expect("faas-executor runs");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for (name, value) in secrets {
        assert!(help.contains(name), "{name} is not listed:\n{help}");
        assert!(!help.contains(value), "{name}'s value is shown:\n{help}");
    }
    assert!(!help.contains("faas-local-secret"), "the default S3 secret is shown:\n{help}");
}

//! `faas-executor --help` lists every setting without showing a secret
//! that is set in the environment, or the default S3 secret.

use stack::help::{Secret, help_hiding};

#[test]
fn help_never_shows_a_secret() {
    let help = help_hiding(
        env!("CARGO_BIN_EXE_faas-executor"),
        &[
            Secret::listed("S3_SECRET_KEY", "s3-secret-from-env"),
            Secret::listed("FAAS_ARTIFACT_KEY", "artifact-key-from-env"),
            Secret::listed(
                "FAAS_SECRETS_KEY",
                "abababababababababababababababababababababababababababababababab",
            ),
        ],
    );
    assert!(!help.contains("faas-local-secret"), "the default S3 secret is shown:\n{help}");
}

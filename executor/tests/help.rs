//! `faas-executor --help` lists every setting without showing a secret
//! that is set in the environment, or the default S3 secret.

use stack::help::{Secret, assert_setting_refused, help_hiding};

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

/// The runtime's worker count is a setting of the binary; zero is refused
/// before anything starts, naming the flag.
#[test]
fn zero_worker_threads_is_refused_by_name() {
    let help = help_hiding(env!("CARGO_BIN_EXE_faas-executor"), &[]);
    assert!(help.contains("FAAS_EXECUTOR_WORKER_THREADS"), "{help}");
    assert_setting_refused(
        env!("CARGO_BIN_EXE_faas-executor"),
        "FAAS_EXECUTOR_WORKER_THREADS",
        "0",
        "--worker-threads",
    );
}

/// Each call thread opens a NATS connection: a count past the bound is
/// refused before anything starts, naming the flag.
#[test]
fn too_many_call_threads_are_refused_by_name() {
    let too_many = (bus::MAX_THREADS + 1).to_string();
    assert_setting_refused(
        env!("CARGO_BIN_EXE_faas-executor"),
        "FAAS_EXECUTOR_CALL_THREADS",
        &too_many,
        "--call-threads",
    );
}

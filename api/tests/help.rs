//! `faas-api --help` lists every setting without showing a secret that is
//! set in the environment: the bootstrap admin token (whose flag is not
//! even listed: `--admin-token-file` is the one to use) and the NATS ones.

use stack::help::{Secret, assert_setting_refused, help_hiding};

#[test]
fn help_never_shows_a_secret() {
    let admin_token =
        Secret { env: "FAAS_ADMIN_TOKEN", value: "admin-token-from-env-0123456789abcdef", listed: false };
    let secrets_key = Secret::listed(
        "FAAS_SECRETS_KEY",
        "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
    );
    let help = help_hiding(env!("CARGO_BIN_EXE_faas-api"), &[admin_token, secrets_key]);
    assert!(help.contains("FAAS_ADMIN_TOKEN_FILE"), "{help}");
    assert!(help.contains("[default: nats://127.0.0.1:4222]"), "{help}");
}

/// The runtime's worker count is a setting of the binary; zero is refused
/// before anything starts, naming the flag.
#[test]
fn zero_worker_threads_is_refused_by_name() {
    let help = help_hiding(env!("CARGO_BIN_EXE_faas-api"), &[]);
    assert!(help.contains("FAAS_API_WORKER_THREADS"), "{help}");
    assert_setting_refused(
        env!("CARGO_BIN_EXE_faas-api"),
        "FAAS_API_WORKER_THREADS",
        "0",
        "--worker-threads",
    );
}

/// Each serving thread opens a NATS connection: a count past the bound is
/// refused before anything starts, naming the flag.
#[test]
fn too_many_serve_threads_are_refused_by_name() {
    let too_many = (bus::MAX_THREADS + 1).to_string();
    assert_setting_refused(
        env!("CARGO_BIN_EXE_faas-api"),
        "FAAS_API_SERVE_THREADS",
        &too_many,
        "--serve-threads",
    );
}

//! `faas-api --help` lists every setting without showing a secret that is
//! set in the environment: the bootstrap admin token (whose flag is not
//! even listed: `--admin-token-file` is the one to use) and the NATS ones.

use stack::help::{Secret, help_hiding};

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
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_faas-api"))
        .env("FAAS_API_WORKER_THREADS", "0")
        .output()
        .expect("faas-api runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--worker-threads"), "{stderr}");
}

/// Each serving thread opens a NATS connection: a count past the bound is
/// refused before anything starts, naming the flag.
#[test]
fn too_many_serve_threads_are_refused_by_name() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_faas-api"))
        .env("FAAS_API_SERVE_THREADS", (bus::MAX_THREADS + 1).to_string())
        .output()
        .expect("faas-api runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--serve-threads"), "{stderr}");
}

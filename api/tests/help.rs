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

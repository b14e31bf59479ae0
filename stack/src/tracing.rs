//! Log output for tests.
//!
//! `cargo test` only shows output of failing tests when it goes through the
//! test writer, and several tests in one binary all try to install a global
//! subscriber; this helper handles both.

use tracing_subscriber::EnvFilter;

/// Installs a `fmt` subscriber that writes through libtest's capture.
///
/// The filter comes from `RUST_LOG` (default `info`). Calling it again, or
/// after another subscriber was installed, does nothing.
pub fn init_test_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second call fails because a global subscriber exists already; that
    // one keeps working, so the error carries no information.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    // Every test that sets up tracing goes on to build HTTP clients.
    crate::install_crypto_provider();
}

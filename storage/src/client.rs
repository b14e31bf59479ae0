//! S3 connection settings and client construction.

use std::time::Duration;

use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// Where the S3-compatible store is and how to sign requests to it.
#[derive(Debug, Clone, clap::Args)]
pub struct S3Config {
    /// S3 endpoint URL (RustFS, MinIO, s3s-fs, AWS...).
    #[arg(long = "s3-endpoint", env = "S3_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
    /// Access key id.
    #[arg(long = "s3-access-key", env = "S3_ACCESS_KEY", default_value = "faas-local")]
    pub access_key: String,
    /// Secret access key (neither its value nor its default is shown in
    /// `--help`).
    #[arg(
        long = "s3-secret-key",
        env = "S3_SECRET_KEY",
        default_value = "faas-local-secret",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub secret_key: String,
    /// Region to sign for; S3-compatible stores mostly ignore it.
    #[arg(long = "s3-region", env = "S3_REGION", default_value = "us-east-1")]
    pub region: String,
}

impl S3Config {
    /// Builds a client that never consults the environment or instance metadata.
    pub fn client(&self) -> aws_sdk_s3::Client {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        // Short connect timeout so an S3 outage turns into a prompt error
        // instead of a request that hangs for the caller's whole budget.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(30))
            .build();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(self.region.clone()))
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "wasm-faas",
            ))
            .force_path_style(true)
            .http_client(http)
            .timeout_config(timeouts)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

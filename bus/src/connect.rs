//! Connecting to NATS with the standard client options.
//!
//! Every role connects the same way, so the options live here once, as a
//! clap struct each service flattens into its configuration: the server
//! list, one way of authenticating (a creds file, an nkey seed, a user and
//! password, or a token) and TLS (a CA to trust, a client certificate).
//! Secrets are never shown by `--help` and never printed by `Debug`.

use std::path::PathBuf;

/// How a process reaches NATS: the standard environment of NATS clients.
#[derive(Clone, clap::Args)]
pub struct NatsOptions {
    /// NATS server(s) to connect to, comma-separated
    /// (`nats://a:4222,nats://b:4222`; `tls://` requires TLS).
    #[arg(long = "nats-url", env = "NATS_URL", default_value = DEFAULT_URL)]
    pub url: String,
    /// Credentials file (user JWT and nkey seed), as `nsc` writes it.
    #[arg(long = "nats-creds", env = "NATS_CREDS", conflicts_with_all = ["nkey_seed", "user", "token"])]
    pub creds: Option<PathBuf>,
    /// Nkey seed (`SU...`) to sign the server's challenge with.
    #[arg(long = "nats-nkey-seed", env = "NATS_NKEY_SEED", hide_env_values = true, conflicts_with_all = ["user", "token"])]
    pub nkey_seed: Option<String>,
    /// User name, with `NATS_PASSWORD`.
    #[arg(long = "nats-user", env = "NATS_USER", requires = "password", conflicts_with = "token")]
    pub user: Option<String>,
    /// Password of `NATS_USER`.
    #[arg(long = "nats-password", env = "NATS_PASSWORD", hide_env_values = true, requires = "user")]
    pub password: Option<String>,
    /// Authentication token.
    #[arg(long = "nats-token", env = "NATS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of the CA(s) that signed the server's certificate; turns
    /// TLS on.
    #[arg(long = "nats-tls-ca", env = "NATS_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate, for servers that verify clients
    /// (with `NATS_TLS_KEY`); turns TLS on.
    #[arg(long = "nats-tls-cert", env = "NATS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `NATS_TLS_CERT`.
    #[arg(long = "nats-tls-key", env = "NATS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Replicas of every JetStream stream, key-value bucket and object
    /// store the platform creates: 1 on a single server, 3 on a cluster.
    /// Existing stores are changed to this count (or refused with an error
    /// saying why).
    #[arg(long = "js-replicas", env = "FAAS_JS_REPLICAS", default_value_t = 1,
          value_parser = parse_replicas)]
    pub js_replicas: usize,
}

/// JetStream keeps 1 to 5 replicas of a stream.
fn parse_replicas(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(replicas @ 1..=5) => Ok(replicas),
        _ => Err(format!("{value:?} is not a replica count: JetStream keeps 1 to 5 (3 on a cluster)")),
    }
}

/// The server a process connects to when told nothing.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// Why no connection could be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// `NATS_URL` holds something that is not a server address.
    #[error("invalid NATS server address {address:?}: {reason}")]
    BadAddress {
        /// The address as given.
        address: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The credentials file could not be read or parsed.
    #[error("cannot use the NATS credentials file {path}: {source}")]
    Credentials {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The client refused the options (a bad nkey seed, unreadable TLS
    /// files) or the server refused the connection.
    #[error(transparent)]
    Nats(#[from] async_nats::ConnectError),
}

impl NatsOptions {
    /// Options for `url` with no authentication and no TLS: tests and the
    /// local stack.
    pub fn url(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            creds: None,
            nkey_seed: None,
            user: None,
            password: None,
            token: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            js_replicas: 1,
        }
    }

    /// The server addresses in [`NatsOptions::url`].
    pub fn servers(&self) -> Result<Vec<async_nats::ServerAddr>, ConnectError> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|address| !address.is_empty())
            .map(|address| {
                address.parse().map_err(|e: std::io::Error| ConnectError::BadAddress {
                    address: address.to_owned(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// The client options these settings stand for, named `name` (which
    /// the server shows in its connection list).
    pub async fn connect_options(&self, name: &str) -> Result<async_nats::ConnectOptions, ConnectError> {
        let mut options = match &self.creds {
            Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|source| ConnectError::Credentials { path: path.clone(), source })?,
            None => async_nats::ConnectOptions::new(),
        };
        if let Some(seed) = &self.nkey_seed {
            options = options.nkey(seed.clone());
        }
        if let (Some(user), Some(password)) = (&self.user, &self.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &self.token {
            options = options.token(token.clone());
        }
        if let Some(ca) = &self.tls_ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            options = options.add_client_certificate(cert.clone(), key.clone()).require_tls(true);
        }
        Ok(options.name(name))
    }

    /// The ways of authenticating that are set, for log lines: names, never
    /// values.
    pub fn auth_method(&self) -> &'static str {
        match (&self.creds, &self.nkey_seed, &self.user, &self.token) {
            (Some(_), ..) => "creds file",
            (_, Some(_), ..) => "nkey",
            (_, _, Some(_), _) => "user and password",
            (.., Some(_)) => "token",
            _ => "none",
        }
    }
}

impl std::fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsOptions")
            .field("url", &self.url)
            .field("creds", &self.creds)
            .field("auth", &self.auth_method())
            .field("user", &self.user)
            .field("tls_ca", &self.tls_ca)
            .field("tls_cert", &self.tls_cert)
            .field("js_replicas", &self.js_replicas)
            .finish_non_exhaustive()
    }
}

/// Connects to NATS, retrying the first connection: compose starts every
/// service at once and NATS may not be up yet. The client reports itself
/// disconnected until then, which `/ready` surfaces.
pub async fn connect(options: &NatsOptions, name: &str) -> Result<async_nats::Client, ConnectError> {
    let servers = options.servers()?;
    tracing::info!(servers = %options.url, auth = options.auth_method(), "connecting to NATS");
    let client = options.connect_options(name).await?.retry_on_initial_connect().connect(servers).await?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(clap::Parser)]
    struct Config {
        #[command(flatten)]
        nats: NatsOptions,
    }

    #[test]
    fn several_servers_split_on_commas() {
        let options = NatsOptions::url("nats://a:4222, tls://b:4223,");
        let servers = options.servers().unwrap();
        assert_eq!(servers.len(), 2);
        assert!(servers[1].tls_required());
        assert!(matches!(NatsOptions::url("http://a b").servers(), Err(ConnectError::BadAddress { .. })));
    }

    #[test]
    fn secrets_never_print() {
        let config = Config::parse_from([
            "x",
            "--nats-user",
            "api",
            "--nats-password",
            "hunter2-secret",
            "--nats-url",
            "nats://a:1",
        ]);
        let shown = format!("{:?}", config.nats);
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("user and password"), "{shown}");
        let seed = NatsOptions { nkey_seed: Some("SUSECRETSEED".into()), ..NatsOptions::url("nats://a:1") };
        assert!(!format!("{seed:?}").contains("SUSECRETSEED"));
    }

    #[test]
    fn one_way_of_authenticating_and_pairs_complete() {
        assert!(Config::try_parse_from(["x", "--nats-user", "a"]).is_err(), "a user needs a password");
        assert!(Config::try_parse_from(["x", "--nats-token", "t", "--nats-nkey-seed", "S"]).is_err());
        assert!(Config::try_parse_from(["x", "--nats-tls-cert", "c.pem"]).is_err(), "a cert needs its key");
        let plain = Config::try_parse_from(["x"]).unwrap().nats;
        assert_eq!(plain.url, DEFAULT_URL);
        assert_eq!(plain.auth_method(), "none");
    }
}

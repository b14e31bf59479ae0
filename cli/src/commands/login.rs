//! `faas login`: checks an address and token, and keeps them as a profile.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context as _;
use client::Client;

use crate::args::Output;
use crate::config::{self, ConfigFile, DEFAULT_PROFILE, Profile};
use crate::failure::Failure;
use crate::output;

/// Checks `url` and `token` (read from stdin when not given) with a call
/// that needs a token, then stores them as `profile` and makes it current.
pub async fn login(
    url: &str,
    token: Option<String>,
    profile: Option<String>,
    output: Output,
) -> Result<(), Failure> {
    let token = match token {
        Some(token) => token,
        None => read_token()?,
    };
    let token = token.trim().to_owned();
    let token = (!token.is_empty()).then_some(token);
    let client = Client::new(url, token.as_deref())?;
    client.list_buckets().await?;
    let path = config::path().context("no config directory: set FAAS_CONFIG to a file path")?;
    let mut file = ConfigFile::load(&path)?;
    let name = profile.unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
    file.profiles.insert(name.clone(), Profile { url: client.base_url().to_owned(), token });
    file.current = Some(name.clone());
    file.save(&path)?;
    let answer = serde_json::json!({"profile": name, "url": client.base_url(), "config": path});
    match output {
        Output::Json => output::json(&answer),
        Output::Table => {
            println!("logged in to {} as profile {name} (saved in {})", client.base_url(), path.display())
        }
    }
    Ok(())
}

fn read_token() -> Result<String, Failure> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("token (as scripts/up.sh printed it; empty for an api without tokens): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line).context("reading the token from stdin")?;
    Ok(line)
}

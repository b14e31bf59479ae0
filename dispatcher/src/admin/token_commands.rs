//! The token commands: store or revoke an api token in `faas-tokens`,
//! then wait until every api applied the change.
//!
//! The api decides who may create or revoke which token (it holds the
//! principal and does the scope checks) and sends only the record, whose
//! secret is a hash; the dispatcher is the bucket's only writer, so NATS
//! permissions can keep every other user, the api's included, from
//! forging a token. The record is checked again here, since any NATS
//! client allowed these commands can send one.

use std::time::Duration;

use protocol::admin::{CreateToken, Done, RevokeToken};
use protocol::auth::{TokenRecord, is_token_id};
use protocol::{ErrorBody, ErrorCode};
use tracing::warn;

use super::handler::AdminHandler;

/// How long a token change waits for every api to apply it: a revoked
/// token must be refused everywhere within a second.
const APIS_WAIT: Duration = Duration::from_secs(1);

impl AdminHandler {
    pub(crate) async fn create_token(&self, CreateToken { token }: CreateToken) -> Result<Done, ErrorBody> {
        check_record(&token)?;
        let revision = self.tokens.put(&token).await?;
        self.wait_for_token_watches(revision).await;
        Ok(Done {})
    }

    pub(crate) async fn revoke_token(&self, RevokeToken { token }: RevokeToken) -> Result<Done, ErrorBody> {
        if !is_token_id(&token) || self.tokens.get(&token).await?.is_none() {
            return Err(ErrorBody::new(ErrorCode::TokenNotFound, format!("no token {token:?}")));
        }
        let revision = self.tokens.remove(&token).await?;
        self.wait_for_token_watches(revision).await;
        Ok(Done {})
    }

    /// The change stands either way; an api that is behind is logged.
    async fn wait_for_token_watches(&self, revision: u64) {
        if let Err(err) = self.tokens.wait_for_watchers(revision, APIS_WAIT).await {
            warn!(%err, "a token change has not reached every api yet");
        }
    }
}

/// A record as the api mints it: a minted id, some scopes, a SHA-256.
fn check_record(record: &TokenRecord) -> Result<(), ErrorBody> {
    let hash_ok = record.secret_sha256.len() == 64
        && record.secret_sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !is_token_id(&record.id) || !hash_ok || record.scopes.is_empty() {
        return Err(ErrorBody::new(
            ErrorCode::BadRequest,
            "a token record needs a minted id (32 hex digits), scopes and a lowercase hex SHA-256",
        ));
    }
    Ok(())
}

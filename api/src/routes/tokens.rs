//! `/tokens`: creating, listing and revoking api tokens (the `admin`
//! scope only).
//!
//! A token's secret is in the 201 answer to its creation and nowhere else:
//! the bucket keeps its SHA-256. The api checks who may do what, then has
//! a dispatcher write the bucket (the `create_token` and `revoke_token`
//! admin commands: only the dispatcher's NATS user may write it), which
//! answers once every live api has applied the change, so a revoked token
//! is refused everywhere from the moment `DELETE` answers.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use protocol::ErrorCode;
use protocol::admin::{CreateToken, RevokeToken};
use protocol::auth::{NewToken, TokenRecord, is_token_id};
use protocol::http::{CreatedToken, Revoked, TokenInfo, TokenList};

use super::triggers::parse_definition;
use crate::auth::{BOOTSTRAP_ID, Principal, forbidden, secrets};
use crate::bus_client::admin;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// Longest token name, in bytes.
const MAX_NAME_LEN: usize = 128;

/// Most scopes on one token.
const MAX_SCOPES: usize = 64;

/// `POST /tokens` with `{"name", "scopes": [...], "expires_in_secs"?}`:
/// 201 with the token's id and, this once, its secret.
#[utoipa::path(
    post,
    path = "/tokens",
    operation_id = "create_token",
    tag = "tokens",
    request_body(content = protocol::auth::NewToken, content_type = "application/json", description = "Name, scopes and lifetime (at most 64 KiB)."), responses((status = 201, description = "Created; the only answer that holds the secret.", body = protocol::http::CreatedToken))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    principal.require_admin()?;
    let new: NewToken = parse_definition(body, "token").await?;
    if new.name.trim().is_empty() || new.name.len() > MAX_NAME_LEN {
        return Err(bad_request(format!("a token's name is 1 to {MAX_NAME_LEN} bytes")));
    }
    if new.scopes.is_empty() || new.scopes.len() > MAX_SCOPES {
        return Err(bad_request(format!("a token has 1 to {MAX_SCOPES} scopes")));
    }
    // No token grants more than it holds.
    if let Some(missing) =
        new.scopes.iter().find(|wanted| !principal.scopes.iter().any(|held| held.includes(wanted)))
    {
        return Err(forbidden(missing));
    }
    if new.expires_in_secs == Some(0) {
        return Err(bad_request("expires_in_secs must be at least 1"));
    }
    let minted = secrets::mint()
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("no randomness for a token secret: {e}")))?;
    let now = protocol::jobs::now_ms();
    let record = TokenRecord {
        id: minted.id,
        name: new.name,
        scopes: new.scopes,
        created_at_ms: now,
        expires_at_ms: new.expires_in_secs.map(|secs| now.saturating_add(secs.saturating_mul(1000))),
        secret_sha256: minted.secret_sha256,
    };
    admin(&state, &id, &principal, CreateToken { token: record.clone() }).await?;
    let body = CreatedToken {
        id: record.id,
        name: record.name,
        scopes: record.scopes,
        created_at_ms: record.created_at_ms,
        expires_at_ms: record.expires_at_ms,
        token: minted.token,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// `GET /tokens`: every stored token, without secrets or their hashes;
/// `last_used_at_ms` is the newest of the last use this api saw and the one
/// the apis shared (which is up to `FAAS_TOKEN_USAGE_FLUSH_SECS` old).
#[utoipa::path(
    get,
    path = "/tokens",
    operation_id = "list_tokens",
    tag = "tokens",
    responses((status = 200, description = "Every token, oldest first, without secrets.", body = protocol::http::TokenList))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require_admin()?;
    let mut records = state.auth.store().await?.list().await?;
    records.sort_by_key(|record| record.created_at_ms);
    let now = protocol::jobs::now_ms();
    let shared = state.auth.shared_last_uses().await;
    let tokens: Vec<_> = records
        .iter()
        .map(|record| TokenInfo {
            id: record.id.clone(),
            name: record.name.clone(),
            scopes: record.scopes.clone(),
            created_at_ms: record.created_at_ms,
            expires_at_ms: record.expires_at_ms,
            expired: record.is_expired(now),
            last_used_at_ms: state.auth.last_used(&record.id).max(shared.get(&record.id).copied()),
        })
        .collect();
    Ok(Json(TokenList { tokens }))
}

/// `DELETE /tokens/{id}`: revokes it on every api.
#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    operation_id = "revoke_token",
    tag = "tokens",
    params(("id" = String, Path, description = "The token's id (32 hex digits).")),
    responses((status = 200, description = "Revoked on every api.", body = protocol::http::Revoked))
)]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    Extension(principal): Extension<Principal>,
    Path(token_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    principal.require_admin()?;
    if token_id == BOOTSTRAP_ID {
        return Err(bad_request("the bootstrap token comes from FAAS_ADMIN_TOKEN: change it there"));
    }
    // Ids are minted as 32 hex digits; anything else names no token (and
    // could not be a key).
    if !is_token_id(&token_id) {
        return Err(ApiError::new(ErrorCode::TokenNotFound, format!("no token {token_id:?}")));
    }
    admin(&state, &id, &principal, RevokeToken { token: token_id.clone() }).await?;
    state.auth.forget(&token_id).await;
    Ok(Json(Revoked { revoked: token_id }))
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, message)
}

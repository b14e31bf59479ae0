//! Who is calling, and what they may do: bearer tokens and their scopes.
//!
//! Every route but the probes passes [`middleware`], which finds the
//! caller's [`Principal`] from `Authorization: Bearer <token>` and hands it
//! to the handler, or answers 401 `unauthenticated` (the function call
//! routes pass [`public::middleware`], which also admits callers without a
//! token to a public bucket's functions). Handlers check the
//! scope each bucket they touch needs ([`Principal::require`]), 403
//! `forbidden` naming the missing scope, before they look at whether the
//! bucket exists, so a bucket a token cannot see answers the same whether
//! it exists or not.
//!
//! Token records come from a live copy of the tokens bucket
//! ([`bus::TokenWatch`]), so checking a token is a map read; only while
//! that copy is not known current (starting, or after a reconnect) is the
//! bucket read directly. The bootstrap admin token (`FAAS_ADMIN_TOKEN`)
//! lives only in the api's memory.

pub mod public;
pub mod secrets;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bus::{TokenLookup, TokenStore, TokenUsage, TokenWatch};
use protocol::audit::{self, AuditEvent, Outcome};
use protocol::auth::{self, Access, Scope, TokenRecord};
use protocol::{BucketName, ErrorCode, FunctionRef};
use tokio::sync::OnceCell;

use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::state::AppState;

/// The id the bootstrap admin token goes by.
pub const BOOTSTRAP_ID: &str = "bootstrap";

/// Shortest bootstrap admin token accepted: it is the one secret an
/// operator picks by hand.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

/// The authenticated caller of a request, available to handlers as an
/// extension.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's id.
    pub id: String,
    /// The token's name.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// Everyone, when authentication is off.
    fn auth_off() -> Self {
        Self { id: "auth-off".into(), name: "anyone (FAAS_AUTH=off)".into(), scopes: vec![Scope::Admin] }
    }

    /// Whether the caller may `access` `bucket`.
    pub fn may(&self, access: Access, bucket: &BucketName) -> bool {
        auth::allows(&self.scopes, access, bucket)
    }

    /// 403 unless the caller may `access` `bucket`.
    pub fn require(&self, access: Access, bucket: &BucketName) -> Result<(), ApiError> {
        if self.may(access, bucket) {
            return Ok(());
        }
        Err(forbidden(&Scope::needed(access, bucket)))
    }

    /// 403 unless the caller may `access` the bucket of every function.
    pub fn require_all<'a>(
        &self,
        access: Access,
        functions: impl IntoIterator<Item = &'a FunctionRef>,
    ) -> Result<(), ApiError> {
        functions.into_iter().try_for_each(|function| self.require(access, &function.bucket))
    }

    /// Whether the caller holds `admin`.
    pub fn is_admin(&self) -> bool {
        auth::is_admin(&self.scopes)
    }

    /// 403 unless the caller holds `admin`.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() { Ok(()) } else { Err(forbidden(&Scope::Admin)) }
    }

    /// NATS headers naming this principal, for the messages sent on its
    /// behalf (admin commands, jobs).
    pub fn headers(&self) -> async_nats::HeaderMap {
        let mut map = async_nats::HeaderMap::new();
        bus::audit::insert_principal(&mut map, &self.id, &self.name);
        map
    }

    /// The principal as an audit event names it.
    pub fn audited(&self) -> protocol::audit::Principal {
        protocol::audit::Principal { id: self.id.clone(), name: self.name.clone() }
    }
}

/// The 403 naming the scope that was missing.
pub fn forbidden(missing: &Scope) -> ApiError {
    ApiError::new(ErrorCode::Forbidden, format!("this token lacks the scope {missing}"))
}

/// Checks bearer tokens: the api's one authority on who is calling.
pub struct Authenticator {
    mode: Mode,
    client: async_nats::Client,
    /// Where the platform's JetStream state is.
    layout: bus::JetStreamLayout,
    /// The live copy of the tokens bucket, set by a task once JetStream
    /// answers.
    watch: Arc<OnceCell<TokenWatch>>,
    store: OnceCell<TokenStore>,
    /// When this api last saw each token used (unix ms); shared with the
    /// other apis by a task of its own ([`Authenticator::start_usage_flush`]).
    last_used: Arc<LastUsed>,
    /// The shared last uses, opened on first use.
    usage: Arc<OnceCell<TokenUsage>>,
    /// Which buckets callers without a token may call; `None` when
    /// authentication is off.
    pub public: Option<public::PublicBuckets>,
}

/// Token id to the last time this api saw it used (unix ms).
type LastUsed = RwLock<HashMap<String, AtomicU64>>;

enum Mode {
    Off,
    On { bootstrap_sha256: Option<String> },
}

/// The bootstrap admin token is too short to be a secret.
#[derive(Debug, thiserror::Error)]
#[error("the admin token must be at least {MIN_ADMIN_TOKEN_LEN} characters (try: openssl rand -hex 32)")]
pub struct WeakAdminToken;

impl Authenticator {
    /// Checks tokens against the tokens bucket and `admin_token`; with
    /// `enabled` false lets every request through as admin. Last uses are
    /// shared with the other apis every `usage_flush`.
    pub fn new(
        enabled: bool,
        admin_token: Option<&str>,
        client: async_nats::Client,
        layout: bus::JetStreamLayout,
        usage_flush: Duration,
    ) -> Result<Self, WeakAdminToken> {
        let mode = if enabled {
            let admin_token = admin_token.map(str::trim).filter(|token| !token.is_empty());
            if admin_token.is_some_and(|token| token.len() < MIN_ADMIN_TOKEN_LEN) {
                return Err(WeakAdminToken);
            }
            if admin_token.is_none() {
                tracing::warn!("no admin token (FAAS_ADMIN_TOKEN): only tokens already stored can be used");
            }
            Mode::On { bootstrap_sha256: admin_token.map(|token| secrets::sha256_hex(token.as_bytes())) }
        } else {
            tracing::warn!(
                "AUTHENTICATION IS OFF (FAAS_AUTH=off): anyone who reaches this api can deploy, run and delete \
                 functions. Use it only in tests."
            );
            Mode::Off
        };
        let public_buckets = enabled.then(|| public::PublicBuckets::follow(client.clone(), layout.clone()));
        let authenticator = Self {
            mode,
            client,
            layout,
            watch: Arc::default(),
            store: OnceCell::new(),
            last_used: Arc::default(),
            usage: Arc::default(),
            public: public_buckets,
        };
        if enabled {
            authenticator.start_watch();
            authenticator.start_usage_flush(usage_flush);
        }
        Ok(authenticator)
    }

    /// Whether tokens are checked.
    pub fn enabled(&self) -> bool {
        matches!(self.mode, Mode::On { .. })
    }

    /// Follows the tokens bucket from a task of its own, as soon as it
    /// exists (a dispatcher creates it): the api starts (and reports not
    /// ready) without it.
    fn start_watch(&self) {
        let (client, layout) = (self.client.clone(), self.layout.clone());
        let cell = Arc::downgrade(&self.watch);
        tokio::spawn(async move {
            let watch = bus::retry("token watch", || async {
                TokenStore::open_existing(&client, &layout).await?.watch(&client).await
            })
            .await;
            if let Some(cell) = cell.upgrade() {
                let _ = cell.set(watch);
            }
        });
    }

    /// Writes the last uses seen since the previous flush to the shared
    /// bucket every `every`, from a task of its own (which ends with the
    /// authenticator): never on the request path, and at most one write
    /// per token per interval.
    fn start_usage_flush(&self, every: Duration) {
        let (client, layout) = (self.client.clone(), self.layout.clone());
        let last_used = Arc::downgrade(&self.last_used);
        let usage = self.usage.clone();
        tokio::spawn(async move {
            let mut written: HashMap<String, u64> = HashMap::new();
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(last_used) = last_used.upgrade() else { return };
                let due: Vec<(String, u64)> = last_used
                    .read()
                    .expect("last-used lock")
                    .iter()
                    .map(|(id, at)| (id.clone(), at.load(Ordering::Relaxed)))
                    .filter(|(id, at)| written.get(id) != Some(at))
                    .collect();
                drop(last_used);
                if due.is_empty() {
                    continue;
                }
                let Ok(usage) = usage.get_or_try_init(|| TokenUsage::open(&client, &layout)).await else {
                    continue;
                };
                for (id, at) in due {
                    match usage.record(&id, at).await {
                        Ok(()) => {
                            written.insert(id, at);
                        }
                        Err(err) => tracing::debug!(%err, "could not share a token's last use"),
                    }
                }
            }
        });
    }

    /// The tokens bucket, opened on first use once a dispatcher created it.
    pub async fn store(&self) -> Result<&TokenStore, ApiError> {
        Ok(self.store.get_or_try_init(|| TokenStore::open_existing(&self.client, &self.layout)).await?)
    }

    /// The caller presenting `authorization`, or 401.
    pub async fn authenticate(&self, authorization: Option<&HeaderValue>) -> Result<Principal, ApiError> {
        let Mode::On { bootstrap_sha256 } = &self.mode else { return Ok(Principal::auth_off()) };
        let token = authorization
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| unauthenticated("send Authorization: Bearer <token>"))?;
        if let Some(expected) = bootstrap_sha256
            && secrets::matches(token, expected)
        {
            return Ok(Principal {
                id: BOOTSTRAP_ID.into(),
                name: "bootstrap admin (FAAS_ADMIN_TOKEN)".into(),
                scopes: vec![Scope::Admin],
            });
        }
        let (id, secret) = secrets::parse(token).ok_or_else(unknown_token)?;
        let record = self.record(id).await?.ok_or_else(unknown_token)?;
        if !secrets::matches(secret, &record.secret_sha256) {
            return Err(unknown_token());
        }
        let now = protocol::jobs::now_ms();
        if record.is_expired(now) {
            return Err(unauthenticated("the token has expired"));
        }
        self.mark_used(id, now);
        Ok(Principal { id: record.id.clone(), name: record.name.clone(), scopes: record.scopes.clone() })
    }

    /// Token `id`'s record: from memory when the watch is current.
    async fn record(&self, id: &str) -> Result<Option<Arc<TokenRecord>>, ApiError> {
        if let Some(watch) = self.watch.get() {
            match watch.lookup(id) {
                TokenLookup::Found(record) => return Ok(Some(record)),
                TokenLookup::Absent => return Ok(None),
                TokenLookup::Unknown => {}
            }
        }
        let record = self.store().await?.get(id).await?;
        Ok(record.filter(|record| record.id == id).map(Arc::new))
    }

    fn mark_used(&self, id: &str, now: u64) {
        if let Some(at) = self.last_used.read().expect("last-used lock").get(id) {
            at.store(now, Ordering::Relaxed);
            return;
        }
        self.last_used.write().expect("last-used lock").insert(id.to_owned(), AtomicU64::new(now));
    }

    /// When this api last saw token `id` used (unix ms).
    pub fn last_used(&self, id: &str) -> Option<u64> {
        self.last_used.read().expect("last-used lock").get(id).map(|at| at.load(Ordering::Relaxed))
    }

    /// The last use of every token as the apis shared it (up to one flush
    /// interval old); empty when the bucket cannot be read.
    pub async fn shared_last_uses(&self) -> HashMap<String, u64> {
        let Ok(usage) = self.usage.get_or_try_init(|| TokenUsage::open(&self.client, &self.layout)).await
        else {
            return HashMap::new();
        };
        usage.all().await.unwrap_or_default()
    }

    /// Forgets what this api and the shared bucket know about a revoked token.
    pub async fn forget(&self, id: &str) {
        self.last_used.write().expect("last-used lock").remove(id);
        if let Ok(usage) = self.usage.get_or_try_init(|| TokenUsage::open(&self.client, &self.layout)).await {
            let _ = usage.forget(id).await;
        }
    }
}

fn unknown_token() -> ApiError {
    unauthenticated("the token is unknown or revoked")
}

fn unauthenticated(why: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, why)
}

/// Middleware: the caller's [`Principal`] as an extension, or 401 with
/// `WWW-Authenticate: Bearer`.
///
/// A change refused for a missing scope (403 on a method other than `GET`
/// or `HEAD`, calls of functions and pipelines aside) is audited here, the
/// one place every route passes.
pub async fn middleware(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match state.auth.authenticate(request.headers().get(header::AUTHORIZATION)).await {
        Ok(principal) => {
            // Only what a refused change needs, and only for a change:
            // reads and calls (every exec) allocate nothing more.
            let path = request.uri().path();
            let changes = !matches!(*request.method(), Method::GET | Method::HEAD)
                && !path.starts_with("/exec/")
                && !path.starts_with("/async/");
            let refusal = changes.then(|| {
                let request_id = request.extensions().get::<RequestId>().map(|id| id.as_str().to_owned());
                (format!("{} {path}", request.method()), request_id.unwrap_or_default(), principal.audited())
            });
            request.extensions_mut().insert(principal);
            let response = next.run(request).await;
            if let Some((route, request_id, principal)) = refusal
                && response.status() == StatusCode::FORBIDDEN
            {
                let event = AuditEvent {
                    at_ms: protocol::jobs::now_ms(),
                    request_id,
                    action: audit::FORBIDDEN.to_owned(),
                    principal,
                    target: audit::Target { route: Some(route), ..Default::default() },
                    outcome: Outcome::Error(ErrorCode::Forbidden),
                };
                bus::audit::record(&state.client, &state.subjects, &event).await;
            }
            response
        }
        Err(err) => challenge(err),
    }
}

/// Middleware of `/ready` and `/metrics`: open while probes are public
/// (`FAAS_PUBLIC_PROBES`, the default), the `admin` scope otherwise.
pub async fn probe_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.config.public_probes {
        return next.run(request).await;
    }
    let admitted = state
        .auth
        .authenticate(request.headers().get(header::AUTHORIZATION))
        .await
        .and_then(|principal| principal.require_admin());
    match admitted {
        Ok(()) => next.run(request).await,
        Err(err) => challenge(err),
    }
}

/// The error, with `WWW-Authenticate: Bearer` on a 401.
pub(crate) fn challenge(err: ApiError) -> Response {
    let unauthenticated = err.body().code == ErrorCode::Unauthenticated;
    let mut response = err.into_response();
    if unauthenticated {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

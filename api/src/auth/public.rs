//! Public buckets: a bucket marked `public_invoke` runs its functions for
//! callers without a token (webhooks), and nothing else.
//!
//! Only the function call routes (`POST /exec/{bucket}/{function}`, `POST
//! /async/{bucket}/{function}`, `/run/{bucket}/{function}[/{*path}]`) pass
//! [`middleware`]: there, a request with
//! no `Authorization` header to a public bucket runs as an anonymous
//! [`Principal`] holding `invoke:<bucket>` alone. A request that presents a
//! token is checked like any other, so a bad one is still 401, never
//! silently anonymous; a valid one may call a public bucket whatever its
//! scopes, as anyone may. The settings come from a live copy of the
//! `faas-buckets` store ([`bus::BucketSettingsWatch`]): a map read.

use std::sync::Arc;

use axum::RequestExt as _;
use axum::extract::{RawPathParams, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use bus::{BucketSettingsStore, BucketSettingsWatch};
use protocol::auth::{Access, Scope};
use protocol::{BucketName, ErrorBody};
use tokio::sync::OnceCell;

use super::{Principal, challenge};
use crate::error::ApiError;
use crate::state::AppState;

/// The id anonymous callers go by.
pub const ANONYMOUS_ID: &str = "anonymous";

/// Which buckets are public, as far as this api knows.
pub struct PublicBuckets {
    client: async_nats::Client,
    layout: bus::JetStreamLayout,
    /// The live copy of the settings, set by a task once JetStream answers.
    watch: Arc<OnceCell<BucketSettingsWatch>>,
    store: OnceCell<BucketSettingsStore>,
}

impl PublicBuckets {
    /// Follows the bucket settings from a task of its own, as soon as
    /// JetStream answers (a dispatcher creates the store).
    pub fn follow(client: async_nats::Client, layout: bus::JetStreamLayout) -> Self {
        let watch = Arc::<OnceCell<BucketSettingsWatch>>::default();
        let cell = Arc::downgrade(&watch);
        let (follower, follower_layout) = (client.clone(), layout.clone());
        tokio::spawn(async move {
            let watch = bus::retry("bucket settings watch", || async {
                BucketSettingsStore::open(&follower, &follower_layout).await?.watch(&follower).await
            })
            .await;
            if let Some(cell) = cell.upgrade() {
                let _ = cell.set(watch);
            }
        });
        Self { client, layout, watch, store: OnceCell::new() }
    }

    /// Whether `bucket` is marked `public_invoke`: from memory when the
    /// copy is current, else from the store.
    pub async fn is_public(&self, bucket: &BucketName) -> Result<bool, ApiError> {
        if let Some(settings) = self.watch.get().and_then(|watch| watch.settings(bucket)) {
            return Ok(settings.public_invoke);
        }
        let store =
            self.store.get_or_try_init(|| BucketSettingsStore::open(&self.client, &self.layout)).await;
        let settings = async { store?.get(bucket).await }.await;
        Ok(settings.map_err(|err| ApiError::from(ErrorBody::from(err)))?.public_invoke)
    }
}

impl Principal {
    /// A caller without a token, on a public bucket: it may run that
    /// bucket's functions and nothing else.
    fn anonymous(bucket: BucketName) -> Self {
        Self {
            id: ANONYMOUS_ID.into(),
            name: format!("anonymous (public bucket {bucket})"),
            scopes: vec![Scope::needed(Access::Invoke, &bucket)],
        }
    }
}

/// Middleware of the function call routes: as [`super::middleware`], but a
/// request without `Authorization` to a public bucket runs as an anonymous
/// caller, and a token without `invoke` on a public bucket may call it too.
pub async fn middleware(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let principal = match &state.auth.public {
        Some(public) => caller(&state, public, &mut request).await,
        // Authentication is off.
        None => state.auth.authenticate(request.headers().get(header::AUTHORIZATION)).await,
    };
    match principal {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(err) => challenge(err),
    }
}

/// Who calls a function of the route's bucket, public or not.
async fn caller(
    state: &AppState,
    public: &PublicBuckets,
    request: &mut Request,
) -> Result<Principal, ApiError> {
    let bucket = route_bucket(request).await;
    let authorization = request.headers().get(header::AUTHORIZATION);
    let Some(bucket) = bucket else { return state.auth.authenticate(authorization).await };
    if authorization.is_none() {
        if public.is_public(&bucket).await? {
            return Ok(Principal::anonymous(bucket));
        }
        return state.auth.authenticate(None).await;
    }
    let mut principal = state.auth.authenticate(authorization).await?;
    // Only a caller that lacks the scope pays for the lookup; one the
    // settings cannot be read for gets its own scopes' answer.
    if !principal.may(Access::Invoke, &bucket) && matches!(public.is_public(&bucket).await, Ok(true)) {
        principal.scopes.push(Scope::needed(Access::Invoke, &bucket));
    }
    Ok(principal)
}

/// The `{bucket}` of the route, if it is a valid name.
async fn route_bucket(request: &mut Request) -> Option<BucketName> {
    let params = request.extract_parts::<RawPathParams>().await.ok()?;
    let bucket = params.iter().find(|(name, _)| *name == "bucket")?.1;
    BucketName::new(bucket).ok()
}

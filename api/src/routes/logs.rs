//! `GET /logs/{bucket}/{function}`: the logs of a function's calls, as the
//! executors published them (`<prefix>.logs.<bucket>.<function>`) and the
//! stream `FAAS_LOGS` keeps them; with `follow=true`, the newest and then
//! every new one as it comes, as newline-delimited JSON.
//!
//! Reading logs needs the scope that reads the function (`read` on its
//! bucket). A function that is not deployed (never, or no longer) is not a
//! 404: its kept logs are listed like any other's, so the logs of a deleted
//! function stay readable until they expire, and a name never deployed
//! simply has none.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use protocol::ErrorCode;
use protocol::logs::CallLog;
use serde::Deserialize;

use super::function_path::{FunctionAt, ToRead};
use crate::error::ApiError;
use crate::state::AppState;

/// Logs listed when the query names no `limit`.
const DEFAULT_LIMIT: usize = 50;

/// Logs a follow starts with when the query names no `limit`.
const DEFAULT_FOLLOW_LIMIT: usize = 10;

/// Most logs one listing returns.
const MAX_LIMIT: usize = 1000;

/// How often a followed log sends a blank line while no call ends, so
/// proxies and clients see the connection alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Query of `GET /logs/{bucket}/{function}`, read by hand so that a bad
/// value is a JSON error like every other.
#[derive(Debug, Deserialize)]
pub struct LogsQuery {
    /// How many of the newest logs, 0 to 1000.
    pub limit: Option<String>,
    /// `true`: keep the answer open and send new logs as they come.
    pub follow: Option<String>,
}

impl LogsQuery {
    fn follow(&self) -> Result<bool, ApiError> {
        match self.follow.as_deref() {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1" | "") => Ok(true),
            Some(other) => Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("follow is `true` or `false`, got {other:?}"),
            )),
        }
    }

    fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.limit.as_deref() {
            None => Ok(default),
            Some(text) => text.parse::<usize>().map(|n| n.min(MAX_LIMIT)).map_err(|_| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("limit is a number from 0 to {MAX_LIMIT}, got {text:?}"),
                )
            }),
        }
    }
}

/// `GET /logs/{bucket}/{function}?limit=N[&follow=true]`.
#[utoipa::path(
    get,
    path = "/logs/{bucket}/{function}",
    operation_id = "get_logs",
    tag = "logs",
    params(
        ("bucket" = String, Path, description = "The function's bucket."),
        ("function" = String, Path, description = "The function."),
        ("limit" = Option<u64>, Query, description = "How many of the newest logs (0 to 1000; default 50, or 10 with `follow`)."),
        ("follow" = Option<bool>, Query, description = "`true`: keep the answer open and send each new call's log as it comes."),
    ),
    responses((
        status = 200,
        description = "The newest call logs, oldest first (none for a function never called or not deployed). With `follow=true`: newline-delimited JSON, one call log per line, blank lines as keep-alives, until the client goes away.",
        content(
            (Vec<protocol::logs::CallLog> = "application/json"),
            (protocol::logs::CallLog = "application/x-ndjson"),
        )
    ))
)]
pub async fn get(
    State(state): State<AppState>,
    FunctionAt { function, .. }: FunctionAt<ToRead>,
    Query(query): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let follow = query.follow()?;
    let limit = query.limit(if follow { DEFAULT_FOLLOW_LIMIT } else { DEFAULT_LIMIT })?;
    let store_error = |err: bus::StoreError| ApiError::new(err.code(), err.to_string());
    let logs = state.call_logs().await.map_err(store_error)?;
    let recent = logs.recent(&function, limit).await.map_err(store_error)?;
    if !follow {
        return Ok(Json(recent.logs).into_response());
    }
    let live = logs.follow(&function, recent.next_sequence).await.map_err(store_error)?;
    let lines = Followed {
        history: recent.logs.into(),
        live: Box::pin(live),
        keep_alive: tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE),
        stopping: Box::pin(state.stopping()),
    }
    .into_lines();
    Ok((
        [(header::CONTENT_TYPE, protocol::headers::CONTENT_TYPE_NDJSON), (header::CACHE_CONTROL, "no-cache")],
        Body::from_stream(lines),
    )
        .into_response())
}

/// A followed log: what is left of the history, then the live logs.
struct Followed {
    history: VecDeque<CallLog>,
    live: Pin<Box<dyn Stream<Item = Result<CallLog, bus::StoreError>> + Send>>,
    keep_alive: tokio::time::Interval,
    stopping: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl Followed {
    /// The answer's lines. It ends when the api stops or the stream fails;
    /// a client that goes away drops it, and its consumer with it.
    fn into_lines(self) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        futures::stream::unfold(self, |mut followed| async move {
            if let Some(log) = followed.history.pop_front() {
                return Some((Ok(line(&log)), followed));
            }
            let next = tokio::select! {
                () = &mut followed.stopping => None,
                next = followed.live.next() => match next {
                    Some(Ok(log)) => Some(line(&log)),
                    Some(Err(err)) => {
                        tracing::warn!(%err, "a followed call log ended");
                        None
                    }
                    None => None,
                },
                _ = followed.keep_alive.tick() => Some(Bytes::from_static(b"\n")),
            };
            next.map(|bytes| (Ok(bytes), followed))
        })
    }
}

fn line(log: &CallLog) -> Bytes {
    let mut bytes = serde_json::to_vec(log).expect("call logs always serialise");
    bytes.push(b'\n');
    Bytes::from(bytes)
}

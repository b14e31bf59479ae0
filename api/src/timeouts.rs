//! Request bodies read under deadlines, so a client that trickles its body
//! cannot hold a handler (and its buffers) for as long as it likes.
//!
//! tower-http's `RequestBodyTimeout` resets on every frame and so bounds
//! only the gaps; a body must also end within a total time. One wrapper
//! does both, with one error type that the handlers answer as 408
//! `request_timeout`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// How long request bodies may take.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadlines {
    /// Longest wait for the next chunk.
    pub idle: Duration,
    /// Longest time from the request's head to the body's end.
    pub total: Duration,
}

/// A request body was not received in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyTimeout {
    /// No byte arrived for this long.
    #[error("no part of the request body arrived for {0:?}")]
    Idle(Duration),
    /// The body did not end within this time.
    #[error("the request body was not received in full within {0:?}")]
    Total(Duration),
}

/// A request body that fails with [`BodyTimeout`] when a deadline passes.
pub struct TimedBody {
    body: Incoming,
    deadlines: BodyDeadlines,
    end_by: Instant,
    // Both made on the first poll that waits: most bodies never wait.
    idle: Option<Pin<Box<Sleep>>>,
    total: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    /// `body`, which must end within `deadlines.total` from now.
    pub fn new(body: Incoming, deadlines: BodyDeadlines) -> Self {
        Self { body, deadlines, end_by: Instant::now() + deadlines.total, idle: None, total: None }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            if let Some(idle) = &mut this.idle {
                idle.as_mut().reset(Instant::now() + this.deadlines.idle);
            }
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let end_by = this.end_by;
        let total = this.total.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(end_by)));
        if total.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimeout::Total(this.deadlines.total).into())));
        }
        let idle_for = this.deadlines.idle;
        let idle = this.idle.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle_for)));
        if idle.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimeout::Idle(idle_for).into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

//! The cheapest possible request over each transport, served by the bench.
//!
//! On a 2-core machine shared by the load generator, NATS and every service,
//! absolute numbers say little on their own; a NATS echo and an HTTP handler
//! that returns a constant, measured in the same run, are the floor the
//! platform's figures are read against.

use anyhow::Context as _;
use axum::Router;
use axum::routing::post;
use futures::StreamExt as _;
use tokio::task::JoinHandle;

/// Subject of the echo responder.
pub const ECHO_SUBJECT: &str = "bench.echo";

/// What the constant handler answers; the same bytes an exec of `hello`
/// returns, so both sides move the same amount of data.
pub const CONSTANT_ANSWER: &[u8] = crate::ops::HELLO_HTTP_ANSWER;

/// A background task; aborted on drop so a failed run leaves nothing behind.
pub struct Background(JoinHandle<()>);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Answers every request on [`ECHO_SUBJECT`] with its own payload, on a
/// client of its own so requester and responder do not share a connection,
/// as with the api and an executor.
pub async fn start_echo(client: async_nats::Client) -> anyhow::Result<Background> {
    let mut requests = client.subscribe(ECHO_SUBJECT).await.context("subscribe the echo responder")?;
    // A subscription is active once the server has it; a round trip to the
    // server guarantees that before the first request is sent.
    client.flush().await.context("flush the echo subscription")?;
    let task = tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            if let Some(reply) = message.reply {
                // A lost reply shows up as a timeout on the requesting side.
                let _ = client.publish(reply, message.payload).await;
            }
        }
    });
    Ok(Background(task))
}

/// Serves `POST /` answering [`CONSTANT_ANSWER`] on a free port; returns the
/// URL and the server task.
pub async fn start_constant_http() -> anyhow::Result<(String, Background)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("bind the constant server")?;
    let url = format!("http://{}/", listener.local_addr()?);
    let app = Router::new().route(
        "/",
        post(|| async { ([(axum::http::header::CONTENT_TYPE, "application/json")], CONSTANT_ANSWER) }),
    );
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("constant HTTP server failed: {e}");
        }
    });
    Ok((url, Background(task)))
}

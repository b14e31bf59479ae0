//! `publisher`: publishes an event, or sends a request, through
//! `wasmcloud:messaging/consumer` (world `faas-exec-messaging`), so that a
//! trigger on the subject runs another function; the example of a function
//! whose event a trigger picks up.
//!
//! Input: `{"subject": "orders.created", "body": "..."}` publishes `body`
//! and answers `published`; with `"request": true` it sends a request
//! instead and answers the reply's body; `"reply_to"` sets the message's
//! reply subject; `"repeat": true` publishes the input itself as the body
//! (a function that runs again on its own event, for chains); `"times": n`
//! publishes n times. A refusal answers `error: <what the host said>`.

wit_bindgen::generate!({ world: "faas-exec-messaging", path: "../../wit", generate_all });

use wasmcloud::messaging::consumer;
use wasmcloud::messaging::types::BrokerMessage;

struct Component;

#[derive(serde::Deserialize)]
struct Input {
    subject: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    request: bool,
    #[serde(default)]
    reply_to: Option<String>,
    #[serde(default)]
    repeat: bool,
    #[serde(default)]
    timeout_ms: Option<u32>,
    #[serde(default)]
    times: Option<u32>,
}

fn run(raw: &str) -> Result<String, String> {
    let input: Input = serde_json::from_str(raw).map_err(|e| format!("invalid input: {e}"))?;
    let body = if input.repeat { raw.as_bytes().to_vec() } else { input.body.into_bytes() };
    if input.request {
        let reply = consumer::request(&input.subject, &body, input.timeout_ms.unwrap_or(1_000))?;
        return Ok(String::from_utf8_lossy(&reply.body).into_owned());
    }
    for _ in 0..input.times.unwrap_or(1) {
        let message = BrokerMessage {
            subject: input.subject.clone(),
            body: body.clone(),
            reply_to: input.reply_to.clone(),
        };
        consumer::publish(&message)?;
    }
    Ok("published".to_owned())
}

impl Guest for Component {
    fn exec(input: String) -> String {
        run(&input).unwrap_or_else(|error| format!("error: {error}"))
    }
}

export!(Component);

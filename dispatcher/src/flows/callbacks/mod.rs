//! The callback sender: POSTs finished jobs' records to their
//! `X-Callback-Url`, from the callbacks stream.
//!
//! The job worker only stores a delivery ([`bus::JobQueue::enqueue_callback`])
//! before it acks the job; every dispatcher takes deliveries from the durable
//! consumer [`callback_senders`](protocol::JetStreamNames::callback_senders), at most `FAAS_CALLBACK_CONCURRENCY` at once,
//! and acks one only once the receiver answered 2xx. A refusal or a network
//! failure is retried with the jobs' back-off (a NAK with delay, so the
//! attempt count is JetStream's and survives a restart) up to
//! `FAAS_CALLBACK_MAX_ATTEMPTS`; a destination the [`policy`] refuses, or a
//! redirect (never followed), is final at once. A delivery given up is
//! logged, counted, and written on the job's record (`callback_error`).
//! Each POST is signed ([`signature`]).

pub mod policy;
pub mod signature;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::{self, AckKind};
use bus::{JobError, JobQueue};
use protocol::{JobRecord, headers};
use tracing::{Instrument as _, info, info_span, warn};

use self::policy::{CallbackPolicy, PolicyResolver, Refused};
use self::signature::WebhookSecret;
use super::attempts::backoff;
use super::consumer;
use crate::config::JobSettings;
use crate::flows::metrics::FlowMetrics;

/// How long one callback POST may take.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long JetStream waits for a sender's ack before handing a delivery
/// to another: above one POST's time.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// The callback settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CallbackSetupError {
    /// An entry of `FAAS_CALLBACK_ALLOW` is unusable.
    #[error(transparent)]
    Allow(#[from] policy::BadAllowEntry),
    /// `FAAS_WEBHOOK_SECRET` is unusable.
    #[error(transparent)]
    Secret(#[from] signature::BadSecret),
    /// The CA file or the HTTP client.
    #[error("callback HTTP client: {0}")]
    Client(String),
}

/// What the sender needs, checked at start so a bad setting stops the
/// dispatcher there rather than failing every delivery.
pub struct Sender {
    http: reqwest::Client,
    policy: Arc<CallbackPolicy>,
    secret: WebhookSecret,
    settings: JobSettings,
}

impl Sender {
    /// Checks the settings and builds the HTTP client.
    pub fn new(settings: &JobSettings) -> Result<Self, CallbackSetupError> {
        let callbacks = &settings.callbacks;
        let policy = Arc::new(policy::callback_policy(&callbacks.callback_allow)?);
        let secret = match callbacks.webhook_secret.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(text) => WebhookSecret::parse(text)?,
            None => {
                warn!(
                    "FAAS_WEBHOOK_SECRET is not set: callbacks are signed with a random secret of \
                     this process, which receivers cannot verify"
                );
                WebhookSecret::random()
            }
        };
        let http = client(settings, policy.clone())?;
        Ok(Self { http, policy, secret, settings: settings.clone() })
    }

    /// Sends deliveries until `shutdown`, then lets running ones finish.
    pub async fn run(
        self,
        queue: JobQueue,
        metrics: Arc<FlowMetrics>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), JobError> {
        let unavailable = |e: &dyn std::fmt::Display| JobError::Unavailable(e.to_string());
        let names = queue.names();
        let senders = names.callback_senders();
        let stream =
            queue.context().get_stream(names.callbacks_stream()).await.map_err(|e| unavailable(&e))?;
        let concurrency = self.settings.callbacks.callback_concurrency.max(1);
        let max_attempts = self.settings.callbacks.callback_max_attempts.max(1);
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                &senders,
                pull::Config {
                    durable_name: Some(senders.clone()),
                    description: Some("wasm-faas: dispatchers' callback senders".into()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    // One more than the attempts: a sender that died during
                    // the last attempt leaves one delivery to record the end.
                    max_deliver: i64::from(max_attempts) + 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| unavailable(&e))?;
        let sender = Arc::new(Running { sender: self, queue, metrics, max_attempts });
        let handle = move |message| {
            let sender = sender.clone();
            async move { sender.handle(message).await }
        };
        consumer::take_bounded("callback sender", &consumer, concurrency, handle, shutdown).await
    }
}

/// A started sender.
struct Running {
    sender: Sender,
    queue: JobQueue,
    metrics: Arc<FlowMetrics>,
    max_attempts: u32,
}

/// Why one attempt did not deliver.
enum Failure {
    /// Another attempt may succeed.
    Retry(String),
    /// Another attempt would fail the same way.
    Final(String),
}

impl Running {
    async fn handle(&self, message: jetstream::Message) {
        let job_id = bus::header(&message, headers::JOB_ID).unwrap_or_default().to_owned();
        let url = bus::header(&message, headers::CALLBACK_URL).map(str::to_owned);
        let record = serde_json::from_slice::<JobRecord>(&message.payload);
        let (Some(url), Ok(record)) = (url, record) else {
            warn!(job_id, "malformed callback delivery; dropped");
            let _ = message.ack_with(AckKind::Term).await;
            return;
        };
        let shown = protocol::callbacks::redact(&url);
        let span = info_span!("callback", job_id = %record.job_id, url = %shown);
        async {
            let attempt = message.info().map_or(1, |info| info.delivered.max(1) as u32);
            let outcome = if attempt > self.max_attempts {
                Err(Failure::Final(format!("no answer after {} attempts", self.max_attempts)))
            } else {
                self.send(&url, &record, &message.payload).await
            };
            let target = record.function.to_string();
            match outcome {
                Ok(()) => {
                    info!(attempt, "callback delivered");
                    self.metrics.callback(&target, "delivered");
                    let _ = message.ack().await;
                }
                Err(Failure::Retry(why)) if attempt < self.max_attempts => {
                    let delay = backoff(attempt, &self.sender.settings);
                    warn!(attempt, ?delay, why, "callback attempt failed; will retry");
                    let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                }
                Err(Failure::Retry(why) | Failure::Final(why)) => {
                    warn!(attempt, why, "callback given up");
                    self.metrics.callback(&target, "failed");
                    self.record_failure(&record.job_id, &format!("{why} (attempt {attempt})")).await;
                    let _ = message.ack_with(AckKind::Term).await;
                }
            }
        }
        .instrument(span)
        .await
    }

    /// One signed POST of `body` (the record as stored) to `url`.
    async fn send(&self, url: &str, record: &JobRecord, body: &bytes::Bytes) -> Result<(), Failure> {
        // Checked again here: the delivery may come from an older api.
        let parsed = protocol::callbacks::check_url(url).map_err(Failure::Final)?;
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) => self.check_literal(&parsed, ip.into())?,
            Some(url::Host::Ipv6(ip)) => self.check_literal(&parsed, ip.into())?,
            // Names are checked by the resolver, on the addresses connected to.
            _ => {}
        }
        let id = protocol::callbacks::delivery_id(record);
        let timestamp = protocol::jobs::now_ms() / 1000;
        let signature = self.sender.secret.sign(&id, timestamp, body);
        let sent = self
            .sender
            .http
            .post(parsed)
            .header(headers::CONTENT_TYPE, headers::CONTENT_TYPE_JSON)
            .header(headers::JOB_ID, record.job_id.as_str())
            .header(headers::WEBHOOK_ID, id)
            .header(headers::WEBHOOK_TIMESTAMP, timestamp.to_string())
            .header(headers::WEBHOOK_SIGNATURE, signature)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) if resp.status().is_redirection() => Err(Failure::Final(format!(
                "the receiver answered {} (a redirect): redirects are not followed",
                resp.status()
            ))),
            Ok(resp) => Err(Failure::Retry(format!("the receiver answered {}", resp.status()))),
            Err(err) => match refusal(&err) {
                Some(refused) => Err(Failure::Final(refused.to_string())),
                None => Err(Failure::Retry(describe(err))),
            },
        }
    }

    fn check_literal(&self, url: &url::Url, ip: std::net::IpAddr) -> Result<(), Failure> {
        let host = url.host_str().unwrap_or_default();
        self.sender.policy.check_ip(host, ip).map_err(|refused| Failure::Final(refused.to_string()))
    }

    /// Writes why the callback was given up on the job's record.
    async fn record_failure(&self, job_id: &str, why: &str) {
        for _ in 0..3 {
            let (mut record, revision) = match self.queue.record(job_id).await {
                Ok(found) => found,
                Err(err) => {
                    warn!(%err, "could not note the failed callback on the job's record");
                    return;
                }
            };
            record.callback_error = Some(why.to_owned());
            match self.queue.update(&record, revision).await {
                Ok(_) => return,
                Err(JobError::Conflict(_)) => continue,
                Err(err) => {
                    warn!(%err, "could not note the failed callback on the job's record");
                    return;
                }
            }
        }
    }
}

/// The policy's refusal, if that is why the request failed (the resolver's
/// error travels as the source of reqwest's connect error).
fn refusal(err: &reqwest::Error) -> Option<&Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return Some(refused);
        }
        source = current.source();
    }
    None
}

/// A request error and its causes, without the URL (which may hold a secret).
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The HTTP client callbacks go out with: http and https, trusting the
/// system's CAs and those of `--callback-ca-file`, resolving through the
/// policy, never through a proxy, never following a redirect.
fn client(
    settings: &JobSettings,
    policy: Arc<CallbackPolicy>,
) -> Result<reqwest::Client, CallbackSetupError> {
    // reqwest is built without a crypto provider: ring, as for S3.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .timeout(CALLBACK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(PolicyResolver(policy));
    if let Some(path) = &settings.callbacks.callback_ca_file {
        let failed = |e: &dyn std::fmt::Display| {
            CallbackSetupError::Client(format!("callback CA file {}: {e}", path.display()))
        };
        let pem = std::fs::read(path).map_err(|e| failed(&e))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| failed(&e))?;
        builder = builder.tls_certs_merge(certificates);
    }
    builder.build().map_err(|e| CallbackSetupError::Client(e.to_string()))
}

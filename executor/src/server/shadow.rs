//! Shadow traffic: a sample of the live calls to a function's current
//! version also run on a candidate version, after the live reply went out,
//! and the pair's outcome is published on the function's shadow subject.
//!
//! The live call is never delayed or changed by it:
//! - the decision ([`Shadows::sample`]) is a map read of the followed
//!   shadow configurations, a random draw and a token bucket, all in
//!   memory; the live output is kept by a reference-counted clone;
//! - the candidate runs in a task of its own, spawned after the reply is
//!   published and never awaited by the call's task, holding none of the
//!   live calls' slots: an executor-wide semaphore of
//!   `FAAS_SHADOW_CONCURRENCY` shadow runs (taken with `try_acquire`: when
//!   all are busy the pair is skipped and counted as `skipped`), and room
//!   for them is added to the instance pool so a shadow run never takes a
//!   live call's instance;
//! - the outcome is a core NATS publish.
//!
//! Side effects: the candidate runs with the function's limits and
//! configuration but read-only grants ([`protocol::CapabilityGrants::read_only`]:
//! key-value and blobs at most read, no messaging publish) and no outgoing
//! HTTP, so a shadow run can read what the live version reads but never
//! change anything or tell anyone.
//!
//! Only calls on the exec subject by the function's plain name (no
//! `Faas-Version`) are shadowed; HTTP-world requests through `/run` are
//! not (their bodies may be staged in the transfer store and taken once).
//!
//! This is a child module of `server` (it runs the candidate the way a
//! call runs, with the server's private pieces).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::Message;
use bus::metrics::{CALL_BUCKETS, LabelCap};
use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use protocol::shadow::{ShadowConfig, ShadowOutcome, ShadowSide, Verdict};
use protocol::{ErrorBody, FunctionRef, World, headers};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{Instrument as _, info_span};

use super::{Answer, Executor, Failure, RunFailure, Version, run_in_world};
use crate::capabilities::CallIdentity;
use crate::error::ExecError;
use crate::runtime::SpentSandbox;
use crate::settings::CallSettings;

type Labels = [(&'static str, String); 2];

/// The `verdict` label of a sampled pair that did not run because every
/// shadow slot was busy.
const SKIPPED: &str = "skipped";

/// What the executor keeps to shadow calls.
pub(super) struct Shadows {
    watch: bus::ShadowWatch,
    /// Shadow runs at once, executor-wide.
    slots: Arc<Semaphore>,
    /// Per function: tokens left and when they were last counted.
    rates: Mutex<HashMap<String, (f64, Instant)>>,
    functions: LabelCap,
    calls: Family<Labels, Counter>,
    durations: Family<Labels, Histogram>,
}

/// A live call picked for shadowing, with what the pair needs of it.
pub(super) struct Pending {
    config: Arc<ShadowConfig>,
    function: FunctionRef,
    message: Message,
    request_id: String,
    live: Result<Bytes, ErrorBody>,
    live_digest: String,
    live_duration: Duration,
    slot: OwnedSemaphorePermit,
}

impl Shadows {
    /// Follows the shadow configurations; `slots` shadow runs at once; the
    /// metrics registered in `registry`, functions past `max_functions`
    /// counted as `(other)`.
    pub(super) async fn start(
        client: &async_nats::Client,
        layout: &bus::JetStreamLayout,
        registry: &mut Registry,
        slots: usize,
        max_functions: usize,
    ) -> Result<Self, bus::DefinitionError> {
        let store = bus::ShadowStore::open_when_ready(client, layout).await;
        let watch = store.watch(client).await?;
        let calls = Family::default();
        registry.register(
            "faas_shadow_calls",
            "Live calls picked for shadowing, by function and verdict (equal, different, candidate_failed, \
             live_failed, both_failed; skipped when every shadow slot was busy)",
            calls.clone(),
        );
        let durations: Family<Labels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(CALL_BUCKETS));
        registry.register(
            "faas_shadow_duration_seconds",
            "Run time of both sides of shadow pairs, by function and side (live, candidate)",
            durations.clone(),
        );
        Ok(Self {
            watch,
            slots: Arc::new(Semaphore::new(slots)),
            rates: Mutex::default(),
            functions: LabelCap::new(max_functions),
            calls,
            durations,
        })
    }

    /// Whether this live call is shadowed, decided from memory: a call to
    /// the current version on the exec subject of a shadowed function,
    /// drawn by the sample, within the function's rate, with a shadow slot
    /// free (else counted as skipped).
    pub(super) fn sample(
        &self,
        function: &FunctionRef,
        route: World,
        message: &Message,
        request_id: &str,
        outcome: &Result<(Answer, Version, Option<SpentSandbox>), Failure>,
        live_duration: Duration,
    ) -> Option<Pending> {
        // Only live calls to current: not a version asked for, not a replay.
        if route != World::Exec
            || bus::header(message, headers::VERSION).is_some()
            || bus::header(message, headers::SIDE_EFFECTS) == Some(headers::SIDE_EFFECTS_NONE)
        {
            return None;
        }
        let config = self.watch.config(function)?;
        if random_unit() >= config.sample {
            return None;
        }
        let (live, live_digest) = match outcome {
            Ok((Answer::Exec(output, _), version, _)) => (Ok(output.result.clone()), version.digest.clone()),
            Ok((Answer::Http(_), _, _)) => return None,
            // Refused before a version was loaded (at its concurrency
            // limit, say): nothing ran to compare with.
            Err(failure) => {
                let digest = failure.digest.clone()?;
                (Err(ErrorBody::new(failure.error.code(), failure.error.to_string())), digest)
            }
        };
        // A weighted `current` may have picked the candidate itself: no pair.
        if live_digest == config.candidate || !self.within_rate(function, &config) {
            return None;
        }
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            self.count(function, SKIPPED);
            return None;
        };
        Some(Pending {
            config,
            function: function.clone(),
            message: message.clone(),
            request_id: request_id.to_owned(),
            live,
            live_digest,
            live_duration,
            slot,
        })
    }

    /// Takes a token of `function`'s bucket (`max_per_sec` a second, as
    /// many at most), if one is left.
    fn within_rate(&self, function: &FunctionRef, config: &ShadowConfig) -> bool {
        let rate = f64::from(config.max_per_sec.max(1));
        let now = Instant::now();
        let mut rates = self.rates.lock().expect("shadow rates lock");
        let (tokens, last) = rates.entry(function.to_string()).or_insert((rate, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn count(&self, function: &FunctionRef, verdict: &str) {
        let function = self.functions.label(&function.to_string());
        self.calls.get_or_create(&[("function", function), ("verdict", verdict.to_owned())]).inc();
    }

    fn observe(&self, function: &FunctionRef, side: &str, duration: Duration) {
        let function = self.functions.label(&function.to_string());
        self.durations
            .get_or_create(&[("function", function), ("side", side.to_owned())])
            .observe(duration.as_secs_f64());
    }
}

impl Pending {
    /// Runs the candidate in a task of its own and publishes the outcome;
    /// the caller does not wait for it.
    pub(super) fn spawn(self, executor: Arc<Executor>) {
        let span = info_span!("shadow", request_id = %self.request_id, function = %self.function);
        tokio::spawn(self.run(executor).instrument(span));
    }

    async fn run(self, executor: Arc<Executor>) {
        let Self { config, function, message, request_id, live, live_digest, live_duration, slot } = self;
        let started = Instant::now();
        let candidate = run_candidate(&executor, &function, &config.candidate, &message, &request_id).await;
        let candidate_duration = started.elapsed();
        drop(slot);
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let side = |digest: &str, result: &Result<Bytes, ErrorBody>, duration| match result {
            Ok(output) => ShadowSide::answered(digest, output, micros(duration)),
            Err(error) => ShadowSide::failed(digest, error, micros(duration)),
        };
        let same_output = matches!((&live, &candidate), (Ok(a), Ok(b)) if a == b);
        let live_side = side(&live_digest, &live, live_duration);
        let candidate_side = side(&config.candidate, &candidate, candidate_duration);
        let verdict = Verdict::of(&live_side, &candidate_side, same_output);
        let shadows = &executor.shadows;
        shadows.count(&function, verdict.as_str());
        shadows.observe(&function, "live", live_duration);
        shadows.observe(&function, "candidate", candidate_duration);
        let outcome = ShadowOutcome {
            at_ms: protocol::jobs::now_ms(),
            request_id,
            verdict,
            live: live_side,
            candidate: candidate_side,
            executor: executor.id.clone(),
        };
        bus::publish_shadow_outcome(&executor.client, &executor.subjects, &function, &outcome).await;
    }
}

/// Runs `function`'s version `digest` on the live call's input, with the
/// function's settings made read-only.
async fn run_candidate(
    executor: &Executor,
    function: &FunctionRef,
    digest: &str,
    message: &Message,
    request_id: &str,
) -> Result<Bytes, ErrorBody> {
    let failed = |error: ExecError| ErrorBody::new(error.code(), error.to_string());
    let loaded = executor.components.load_version(function, digest).await.map_err(failed)?;
    let config = executor
        .configs
        .config(function)
        .await
        .map_err(|e| failed(ExecError::ConfigUnavailable(e.to_string())))?;
    let bucket = match executor.buckets.0.settings(&function.bucket) {
        Some(settings) => settings,
        None => executor
            .buckets
            .1
            .get(&function.bucket)
            .await
            .map_err(|e| failed(ExecError::ConfigUnavailable(format!("bucket settings: {e}"))))?,
    };
    let mut settings = CallSettings::for_function(
        executor.runtime.limits(),
        function,
        config.as_deref(),
        bucket.capabilities.as_ref(),
        executor.secrets_key.as_ref(),
    )
    .map_err(failed)?
    .read_only();
    settings.identity = Some(CallIdentity {
        function: function.clone(),
        request_id: request_id.to_owned(),
        hops: bus::hops(message),
    });
    match run_in_world(executor, &loaded.component, message, None, &settings).await {
        Ok((Answer::Exec(output, _), _spent)) => Ok(output.result),
        Ok((Answer::Http(_), _)) => Err(failed(ExecError::Internal("a shadow run answered as HTTP".into()))),
        Err(RunFailure::Before(error) | RunFailure::After { error, .. }) => Err(failed(error)),
        Err(RunFailure::Ran(failure)) => Err(failed(failure.error)),
    }
}

/// A uniform draw in [0, 1), from the OS randomness uuid already uses.
fn random_unit() -> f64 {
    // The low 53 bits: the version and variant bits are higher up.
    let bits = uuid::Uuid::new_v4().as_u128() as u64 & ((1 << 53) - 1);
    bits as f64 / (1u64 << 53) as f64
}

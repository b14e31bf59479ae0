//! The cost of one call inside the executor, without NATS or HTTP.
//!
//! The end-to-end figures mix the sandbox's own cost (a fresh store, instantiate,
//! call) with messaging; running the executor's runtime in this process
//! separates the two, and tells how far transport work could ever bring the
//! platform down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use executor::runtime::FunctionRuntime;
use executor::{CallSettings, ExecLimits};
use serde::Serialize;

use crate::load::histogram;
use crate::ops::{HELLO_INPUT, HELLO_OUTPUT};

/// Calls measured at most, whatever the duration.
const MAX_CALLS: u64 = 20_000;

/// What the in-process measurement found.
#[derive(Debug, Clone, Serialize)]
pub struct InProcess {
    /// Compiling the component once, in ms.
    pub compile_ms: f64,
    /// Linking it against the sandbox once, in ms.
    pub prepare_ms: f64,
    /// Sequential calls measured.
    pub calls: u64,
    /// Calls per second on one task.
    pub calls_per_s: f64,
    /// Median store + instantiate + call + freeing the sandbox, in µs.
    pub p50_us: f64,
    /// Median time until the output was there, in µs: what a reply waits
    /// for, since the executor frees the sandbox after replying.
    pub to_output_p50_us: f64,
    /// 99th percentile, in µs.
    pub p99_us: f64,
    /// Slowest call, in µs.
    pub max_us: f64,
}

impl InProcess {
    /// The part of a call a reply waits for (p50, in ms): the floor the
    /// executor's share of a warm call cannot go below.
    pub fn until_reply_ms(&self) -> f64 {
        self.to_output_p50_us / 1000.0
    }
}

/// Compiles `component` once with the executor's runtime, then calls it
/// back to back for `duration`.
pub async fn measure(component: Vec<u8>, duration: Duration) -> anyhow::Result<InProcess> {
    // Concurrency 1: the pool then holds one instance slot, all one
    // sequential caller needs.
    let runtime = Arc::new(FunctionRuntime::new(ExecLimits::default(), 1).context("build the runtime")?);

    let started = Instant::now();
    let compiled = {
        let runtime = runtime.clone();
        tokio::task::spawn_blocking(move || runtime.compile(&component)).await?.context("compile hello")?
    };
    let compile_ms = ms(started.elapsed());
    let started = Instant::now();
    let prepared = runtime.prepare(&compiled).context("prepare hello")?;
    let prepare_ms = ms(started.elapsed());

    let input = std::str::from_utf8(HELLO_INPUT).expect("the input is UTF-8");
    // One call outside the measurement: first-touch page faults are a
    // cold-start cost, measured elsewhere.
    runtime
        .call(&prepared, input.to_owned(), &CallSettings::defaults(runtime.limits()))
        .await
        .map_err(|f| anyhow::anyhow!("{}", f.error))?;

    let mut latency = histogram();
    let mut to_output = histogram();
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    let mut calls = 0;
    let started = Instant::now();
    while started.elapsed() < duration && calls < MAX_CALLS {
        let t = Instant::now();
        let (out, spent) = runtime
            .call_keeping_sandbox(&prepared, input.to_owned(), &CallSettings::defaults(runtime.limits()))
            .await
            .map_err(|f| anyhow::anyhow!("{}", f.error))?;
        to_output.saturating_record(micros(t.elapsed()));
        drop(spent);
        latency.saturating_record(micros(t.elapsed()));
        anyhow::ensure!(out.result.as_bytes() == HELLO_OUTPUT, "unexpected result {:?}", out.result);
        calls += 1;
    }
    let elapsed = started.elapsed();
    Ok(InProcess {
        compile_ms,
        prepare_ms,
        calls,
        calls_per_s: calls as f64 / elapsed.as_secs_f64(),
        p50_us: latency.value_at_quantile(0.5) as f64,
        to_output_p50_us: to_output.value_at_quantile(0.5) as f64,
        p99_us: latency.value_at_quantile(0.99) as f64,
        max_us: latency.max() as f64,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

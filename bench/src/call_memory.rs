//! How much memory one call of a component takes: the peak of its linear
//! memories and tables together, the sum the executor's per-call budget
//! (`FAAS_EXEC_MEMORY_MIB`) charges.
//!
//! The executor's budget is internal to it, and a process's resident memory
//! mixes every call with the instance pool's kept pages; so here a limiter of
//! the bench's own records the same sum (every memory and table growth of
//! every core instance in one store) while a fresh instance, compiled by the
//! executor's own engine and linked against WASI 0.2 as the sandbox is, runs
//! one `exec` call. Exec-world components only: an HTTP handler would need
//! `wasi:http` linked here too.
//!
//! The same place splits a warm call's cost without NATS: warm calls through
//! the executor's own `FunctionRuntime::call` (fresh store, instantiate,
//! call, drop, as the executor runs them), instantiations alone (instantiate
//! and drop, no call), and the minor page faults a warm call takes, which is
//! what a large guest pays when the pool cannot keep its touched pages
//! resident between calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use executor::runtime::FunctionRuntime;
use executor::{CallSettings, ExecLimits};
use serde::Serialize;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::procstat;

/// Epoch ticks the measured call may run (the runtime's ticker advances one
/// every 5 ms): far more than a `hello` needs, and still an end.
const DEADLINE_TICKS: u64 = 12_000;

/// Warm calls (and instantiations) timed in process, after a few unmeasured.
pub const WARM_CALLS: usize = 300;
const WARM_UP: usize = 10;

/// What one call of a component took in memory, and its compile.
#[derive(Debug, Clone, Serialize)]
pub struct CallMemory {
    /// Linear memories and tables once instantiated, in KiB.
    pub instantiated_kib: u64,
    /// The most they held during the call, in KiB.
    pub peak_kib: u64,
    /// Compiling the component in this process, in ms.
    pub compile_ms: f64,
    /// Median warm call through the executor's runtime (store, instantiate,
    /// call, drop), in µs.
    pub warm_call_p50_us: f64,
    /// Median time of the warm call until its output was there, in µs:
    /// what a reply waits for, since the executor frees the sandbox after.
    pub to_output_p50_us: f64,
    /// Median instantiate and drop alone (no call), in µs.
    pub instantiate_p50_us: f64,
    /// Minor page faults per warm call.
    pub faults_per_call: f64,
}

/// The memory and table growth of one store, recorded, never refused.
#[derive(Default)]
struct Peak {
    used: usize,
    peak: usize,
}

impl Peak {
    fn grow(&mut self, bytes: usize) -> wasmtime::Result<bool> {
        self.used = self.used.saturating_add(bytes);
        self.peak = self.peak.max(self.used);
        Ok(true)
    }
}

impl ResourceLimiter for Peak {
    fn memory_growing(&mut self, current: usize, desired: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        self.grow(desired.saturating_sub(current))
    }

    fn table_growing(&mut self, current: usize, desired: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        // As the executor's budget counts a table element: one pointer.
        self.grow(desired.saturating_sub(current).saturating_mul(size_of::<usize>()))
    }
}

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    peak: Peak,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Compiles `component` with the executor's engine and runs `exec(input)`
/// once in a fresh store, recording its memory; fails unless it returns
/// `expected`.
pub async fn measure(component: Vec<u8>, input: &str, expected: &[u8]) -> anyhow::Result<CallMemory> {
    let runtime = Arc::new(FunctionRuntime::new(ExecLimits::default(), 1).context("build the runtime")?);
    let started = Instant::now();
    let compiled = {
        let runtime = runtime.clone();
        tokio::task::spawn_blocking(move || runtime.compile(&component)).await?.context("compile")?
    };
    let compile_ms = started.elapsed().as_secs_f64() * 1000.0;

    let engine = runtime.engine();
    let mut linker = Linker::<State>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| wasm_error("link WASI", e))?;
    let state =
        State { wasi: WasiCtx::builder().build(), table: ResourceTable::new(), peak: Peak::default() };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.peak);
    store.set_epoch_deadline(DEADLINE_TICKS);

    let instance =
        linker.instantiate_async(&mut store, &compiled).await.map_err(|e| wasm_error("instantiate", e))?;
    let instantiated = store.data().peak.peak;
    let exec = instance
        .get_typed_func::<(&str,), (String,)>(&mut store, "exec")
        .map_err(|e| wasm_error("find exec", e))?;
    let call = async {
        let (result,) = exec.call_async(&mut store, (input,)).await.map_err(|e| wasm_error("call", e))?;
        anyhow::Ok(result)
    };
    let result =
        tokio::time::timeout(Duration::from_secs(60), call).await.context("the call timed out")??;
    anyhow::ensure!(result.as_bytes() == expected, "unexpected result {result:?}");
    let kib = |bytes: usize| u64::try_from(bytes / 1024).unwrap_or(u64::MAX);
    let (instantiated_kib, peak_kib) = (kib(instantiated), kib(store.data().peak.peak));
    drop(store);

    // Imports resolved once, as the executor's `prepare` does: what is
    // timed is the instantiation a warm call pays.
    let pre = linker.instantiate_pre(&compiled).map_err(|e| wasm_error("pre-instantiate", e))?;
    let mut instantiations = Vec::with_capacity(WARM_CALLS);
    for i in 0..WARM_UP + WARM_CALLS {
        let state =
            State { wasi: WasiCtx::builder().build(), table: ResourceTable::new(), peak: Peak::default() };
        let started = Instant::now();
        let mut store = Store::new(engine, state);
        store.set_epoch_deadline(DEADLINE_TICKS);
        pre.instantiate_async(&mut store).await.map_err(|e| wasm_error("instantiate", e))?;
        drop(store);
        if i >= WARM_UP {
            instantiations.push(started.elapsed());
        }
    }

    let prepared = runtime.prepare(&compiled).context("prepare")?;
    let settings = CallSettings::defaults(runtime.limits());
    let mut calls = Vec::with_capacity(WARM_CALLS);
    let mut outputs = Vec::with_capacity(WARM_CALLS);
    let mut faults = 0;
    for i in 0..WARM_UP + WARM_CALLS {
        if i == WARM_UP {
            faults = procstat::minor_faults(std::process::id())?;
        }
        let started = Instant::now();
        let (out, spent) = runtime
            .call_keeping_sandbox(&prepared, input.to_owned(), &settings)
            .await
            .map_err(|f| anyhow::anyhow!("warm call: {}", f.error))?;
        let output_at = started.elapsed();
        drop(spent);
        if i >= WARM_UP {
            calls.push(started.elapsed());
            outputs.push(output_at);
        }
        anyhow::ensure!(out.result.as_bytes() == expected, "unexpected result {:?}", out.result);
    }
    // The bench's other threads are idle meanwhile: the faults are the calls'.
    let faults = procstat::minor_faults(std::process::id())?.saturating_sub(faults);
    Ok(CallMemory {
        instantiated_kib,
        peak_kib,
        compile_ms,
        warm_call_p50_us: p50_us(&mut calls),
        to_output_p50_us: p50_us(&mut outputs),
        instantiate_p50_us: p50_us(&mut instantiations),
        faults_per_call: faults as f64 / WARM_CALLS as f64,
    })
}

/// The median of `samples`, in µs.
fn p50_us(samples: &mut [Duration]) -> f64 {
    samples.sort_unstable();
    samples.get(samples.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

/// A Wasmtime error (its own type, not anyhow's) with its whole chain.
fn wasm_error(what: &str, error: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{what}: {error:#}")
}

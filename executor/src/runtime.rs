//! One Wasmtime engine and the sandbox every call runs in.
//!
//! The engine (with the pooling allocator, so instantiation reuses slots
//! instead of mapping memory per call), the linker and the epoch ticker are
//! built once per process; a component is linked once into a
//! [`PreparedComponent`]; each call gets a fresh `Store` with its own WASI
//! context (stdout and stderr captured in memory; no filesystem, sockets
//! or arguments, and no environment but the function's configured
//! variables, which `wasi:config/store` serves too) and its own limits
//! ([`CallSettings`]: the function's, never above the executor's). A guest
//! that loops, traps or grows memory past its cap fails only its own call.
//!
//! One linker serves both worlds: WASI 0.2 plus `wasi:http`. An exec
//! function is called with [`FunctionRuntime::call`]; a `wasi:http/proxy`
//! function with [`FunctionRuntime::call_http`], under the same limits, its
//! response body read while the guest writes it. Its outgoing requests go
//! through [`crate::outgoing`]: refused unless the call's allow-list and the
//! address policy allow them.
//!
//! The memory cap is the call's, not each memory's: every linear memory and
//! table of every core instance of the component draws on one budget
//! (`CallBudget`), and the pool caps how many instances, memories and
//! tables one component may hold, so splitting memory over many instances
//! buys nothing. The pool is shared by all calls; a call that finds it
//! empty fails as `unavailable` (retryable) and is counted, never as a
//! fault of its component.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bus::address_policy::{self, AddressPolicy};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use std::collections::BTreeSet;

use protocol::{Capability, World};
use tracing::warn;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Enabled, Engine, InstanceAllocationStrategy, PoolConcurrencyLimitError, ResourceLimiter, Store, Trap,
    UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capabilities::{self, CallCapabilities, CapabilityHosts, CapabilityView};
use crate::config::ExecLimits;
use crate::error::ExecError;
use crate::outgoing::{HostAllowList, OutgoingHooks};
use crate::settings::CallSettings;

/// Host bindings generated from `wit/faas.wit`, the same file guests use.
mod bindings {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "faas-exec",
        exports: { default: async },
    });
}
use bindings::FaasExecPre;

/// How often the epoch advances: the granularity of timeouts and of yielding
/// a running guest back to the async runtime.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Bytes of each pooled memory and table kept mapped between calls.
///
/// Larger buys nothing for the interpreters (measured up to 32 MiB: the same
/// faults per call): Wasmtime 48's scan stops at 32 dirty regions and
/// decommits the rest, and CPython dirties more runs than that. See
/// ARCHITECTURE.md, "The instance pool".
const KEEP_RESIDENT: usize = 4 << 20;

/// Per-call host state.
struct CallState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutgoingHooks,
    table: ResourceTable,
    budget: CallBudget,
    /// What `wasi:config/store` answers: the same variables as the environment.
    config_vars: WasiConfigVariables,
    /// Key-value, blobs and messaging: what the call is granted and has used.
    capabilities: CallCapabilities,
}

impl CallState {
    fn capabilities(&mut self) -> CapabilityView<'_> {
        CapabilityView { call: &mut self.capabilities, table: &mut self.table }
    }
}

/// One call's memory budget, shared by every memory and table of every
/// instance in its store (a table element costs a pointer), and its
/// instance, memory and table counts.
struct CallBudget {
    limit: usize,
    used: usize,
    /// The last growth granted, given back if Wasmtime then fails it.
    pending: usize,
}

impl CallBudget {
    fn new(limit: usize) -> Self {
        Self { limit, used: 0, pending: 0 }
    }

    fn charge(&mut self, bytes: usize) -> wasmtime::Result<bool> {
        let used = self.used.saturating_add(bytes);
        if used > self.limit {
            return Err(wasmtime::Error::new(BudgetSpent));
        }
        (self.used, self.pending) = (used, bytes);
        Ok(true)
    }

    fn refund(&mut self) {
        self.used -= std::mem::take(&mut self.pending);
    }
}

/// A call asked for more memory than its budget: a trap that
/// [`FunctionRuntime::classify`] recognises by type.
#[derive(Debug, thiserror::Error)]
#[error("the call's memory budget is spent")]
struct BudgetSpent;

impl ResourceLimiter for CallBudget {
    fn memory_growing(&mut self, current: usize, desired: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        self.charge(desired.saturating_sub(current))
    }

    fn memory_grow_failed(&mut self, _: wasmtime::Error) -> wasmtime::Result<()> {
        self.refund();
        Ok(())
    }

    fn table_growing(&mut self, current: usize, desired: usize, _: Option<usize>) -> wasmtime::Result<bool> {
        self.charge(desired.saturating_sub(current).saturating_mul(size_of::<usize>()))
    }

    fn table_grow_failed(&mut self, _: wasmtime::Error) -> wasmtime::Result<()> {
        self.refund();
        Ok(())
    }

    fn instances(&self) -> usize {
        engine::MAX_CORE_INSTANCES_PER_COMPONENT as usize
    }

    fn memories(&self) -> usize {
        engine::MAX_MEMORIES_PER_COMPONENT as usize
    }

    fn tables(&self) -> usize {
        engine::MAX_TABLES_PER_COMPONENT as usize
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// What a successful call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutput {
    /// The returned string.
    pub result: String,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
}

/// The sandbox a successful call ran in (its store: the instance, and its
/// memories and tables in the pool), kept by whoever answers the call.
/// Freeing it resets the instance's pool slot, about a tenth of a warm
/// call's CPU on the executor (issue 15, `perf` at c=1): dropped after the
/// reply is out, that work is off the caller's wait.
pub struct SpentSandbox(#[allow(dead_code, reason = "held only to be dropped later")] Store<CallState>);

/// A failed call with whatever the guest logged before failing.
#[derive(Debug)]
pub struct CallFailure {
    /// Why it failed.
    pub error: ExecError,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
}

/// A component linked against the sandbox's imports, ready to instantiate:
/// everything about a call that can be done once per component version.
pub struct PreparedComponent {
    prepared: Prepared,
    /// The host capabilities it imports: each must be granted before a call.
    capabilities: BTreeSet<Capability>,
    /// Length of its compiled image (code and the metadata it was
    /// serialized with), the bulk of what it keeps in memory.
    image_bytes: u64,
}

/// What a prepared component keeps in memory beyond its compiled image: the
/// metadata Wasmtime deserializes from the image (types, module info), the
/// pre-instance's resolved imports, and the copy-on-write memory image made
/// at the first instantiation. Measured with `scripts/bench.sh --only many`
/// as the executor's VmRSS growth per cached `hello` (about 530 KiB, with
/// evictions going on) less its 272 KiB image; for the large guests the
/// image dominates.
pub const PREPARED_OVERHEAD_BYTES: u64 = 256 << 10;

/// The two worlds' pre-instances.
enum Prepared {
    /// `exec: func(string) -> string`.
    Exec(FaasExecPre<CallState>),
    /// A `wasi:http/proxy` handler.
    Http(ProxyPre<CallState>),
}

impl PreparedComponent {
    /// Which world the component exports.
    pub fn world(&self) -> World {
        match self.prepared {
            Prepared::Exec(_) => World::Exec,
            Prepared::Http(_) => World::Http,
        }
    }

    /// The host capabilities it imports.
    pub fn capabilities(&self) -> &BTreeSet<Capability> {
        &self.capabilities
    }

    /// Length of its compiled image, in bytes.
    pub fn image_bytes(&self) -> u64 {
        self.image_bytes
    }

    /// What keeping it costs in memory, in bytes: the weight the component
    /// cache counts against its budget.
    pub fn weight(&self) -> u64 {
        self.image_bytes + PREPARED_OVERHEAD_BYTES
    }
}

/// An HTTP request for a `wasi:http/proxy` function.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// The method.
    pub method: http::Method,
    /// Path and query, starting with `/`.
    pub path_with_query: String,
    /// The headers the function sees.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// What an HTTP function answered.
#[derive(Debug, Clone)]
pub struct HttpOutput {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
}

/// The engine and linker shared by all calls.
pub struct FunctionRuntime {
    engine: Engine,
    linker: Linker<CallState>,
    limits: ExecLimits,
    /// What outgoing HTTP may reach (the operator's private ranges).
    address_policy: Arc<AddressPolicy>,
    ticker_stop: Arc<AtomicBool>,
    pool_exhausted: AtomicU64,
    /// The capability backends; `None`: capability calls fail.
    capabilities: Option<Arc<CapabilityHosts>>,
}

impl FunctionRuntime {
    /// Builds the engine for up to `concurrency` simultaneous calls and
    /// starts the epoch ticker thread.
    pub fn new(limits: ExecLimits, concurrency: usize) -> Result<Self, ExecError> {
        let engine = match Engine::new(&pooled_config(&limits, concurrency)) {
            Ok(engine) => engine,
            Err(err) => {
                // Pooling reserves address space up front; where that is
                // refused (a tight `ulimit -v`), allocating per call still works.
                tracing::warn!(error = %format!("{err:#}"), "pooling allocator unavailable; allocating per call");
                Engine::new(&engine::config()).map_err(|e| ExecError::Internal(format!("engine: {e:#}")))?
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| ExecError::Internal(format!("linking WASI: {e:#}")))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| ExecError::Internal(format!("linking wasi:http: {e:#}")))?;
        // Components written for other hosts (Spin, wasmCloud) read their
        // configuration through `wasi:config/store`.
        wasmtime_wasi_config::add_to_linker(&mut linker, |state: &mut CallState| {
            WasiConfig::from(&state.config_vars)
        })
        .map_err(|e| ExecError::Internal(format!("linking wasi:config: {e:#}")))?;
        capabilities::add_to_linker(&mut linker, CallState::capabilities)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (ticker_engine, stop) = (engine.clone(), ticker_stop.clone());
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| ExecError::Internal(format!("epoch ticker: {e}")))?;
        Ok(Self {
            engine,
            linker,
            limits,
            address_policy: Arc::new(AddressPolicy::strict(address_policy::HTTP_OUTGOING)),
            ticker_stop,
            pool_exhausted: AtomicU64::new(0),
            capabilities: None,
        })
    }

    /// The runtime with `policy` deciding which addresses HTTP functions'
    /// outgoing requests may reach (default: public addresses only).
    pub fn with_address_policy(mut self, policy: AddressPolicy) -> Self {
        self.address_policy = Arc::new(policy);
        self
    }

    /// The runtime with `hosts` answering guests' key-value, blob and
    /// messaging calls (default: none, every such call fails).
    pub fn with_capabilities(mut self, hosts: Arc<CapabilityHosts>) -> Self {
        self.capabilities = Some(hosts);
        self
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &ExecLimits {
        &self.limits
    }

    /// The engine, for compiling components.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles component bytes. CPU-heavy: call it off the async workers.
    pub fn compile(&self, bytes: &[u8]) -> Result<Component, ExecError> {
        engine::compile_checked(&self.engine, bytes).map_err(|e| ExecError::InvalidComponent(e.to_string()))
    }

    /// Resolves a component's imports against the sandbox once, so calls
    /// only instantiate.
    pub fn prepare(&self, component: &Component) -> Result<PreparedComponent, ExecError> {
        let world = engine::world_of(&self.engine, component)
            .map_err(|e| ExecError::InvalidComponent(e.to_string()))?;
        let capabilities = engine::capabilities_of(&self.engine, component);
        let pre = self.linker.instantiate_pre(component);
        let prepared = match world {
            World::Exec => pre.and_then(FaasExecPre::new).map(Prepared::Exec),
            World::Http => pre.and_then(ProxyPre::new).map(Prepared::Http),
        };
        let prepared = prepared.map_err(|e| ExecError::InvalidComponent(format!("{e:#}")))?;
        let image = component.image_range();
        let image_bytes = image.end.addr().saturating_sub(image.start.addr()) as u64;
        Ok(PreparedComponent { prepared, capabilities, image_bytes })
    }

    /// A fresh store for one call under `settings`: captured output, the
    /// function's variables (environment and `wasi:config/store`), no
    /// outgoing HTTP but to its allowed hosts, the memory budget and the
    /// epoch deadline.
    fn store(&self, settings: &CallSettings) -> (Store<CallState>, MemoryOutputPipe, MemoryOutputPipe) {
        let limits = &self.limits;
        let stdout = MemoryOutputPipe::new(limits.max_log);
        let stderr = MemoryOutputPipe::new(limits.max_log);
        let wasi =
            WasiCtxBuilder::new().stdout(stdout.clone()).stderr(stderr.clone()).envs(&settings.vars).build();
        let config_vars = WasiConfigVariables::from_iter(settings.vars.iter().cloned());
        // Never above the pool's slot size, which the executor's limit sets.
        let budget = CallBudget::new(settings.memory_bytes().min(limits.memory_bytes()));
        let hosts = HostAllowList::new(&settings.http_outgoing_allow);
        let timeout = settings.timeout();
        let deadline = Instant::now() + timeout;
        let state = CallState {
            wasi,
            http: WasiHttpCtx::new(),
            hooks: OutgoingHooks::new(hosts, self.address_policy.clone()),
            table: ResourceTable::new(),
            budget,
            config_vars,
            capabilities: CallCapabilities {
                hosts: self.capabilities.clone(),
                identity: settings.identity.clone(),
                grants: settings.grants.clone(),
                usage: Default::default(),
                deadline: Some(deadline),
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.budget);

        // Yield to the async runtime on every tick, so a spinning guest never
        // holds a worker thread, and trap once the wall-clock budget is spent.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(Trap::Interrupt.into())
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        (store, stdout, stderr)
    }

    /// Refuses a call whose component imports a capability `settings` do
    /// not grant, before anything of it runs.
    fn check_grants(imports: &BTreeSet<Capability>, settings: &CallSettings) -> Result<(), CallFailure> {
        let function = settings.identity.as_ref().map(|identity| &identity.function);
        capabilities::check_grants(imports, &settings.grants, function).map_err(|error| CallFailure {
            error,
            stdout: String::new(),
            stderr: String::new(),
        })
    }

    /// Runs `exec(input)` in a fresh sandbox with `settings`.
    pub async fn call(
        &self,
        component: &PreparedComponent,
        input: String,
        settings: &CallSettings,
    ) -> Result<CallOutput, CallFailure> {
        self.call_keeping_sandbox(component, input, settings).await.map(|(output, _spent)| output)
    }

    /// [`Self::call`], handing back the sandbox of a successful call to be
    /// freed when the caller has answered. A failed call's sandbox is freed
    /// at once: a timed-out guest's slots are given back before anything else.
    pub async fn call_keeping_sandbox(
        &self,
        component: &PreparedComponent,
        input: String,
        settings: &CallSettings,
    ) -> Result<(CallOutput, SpentSandbox), CallFailure> {
        let PreparedComponent { prepared: Prepared::Exec(component), capabilities, .. } = component else {
            let error = ExecError::Internal("an HTTP function called as an exec function".into());
            return Err(CallFailure { error, stdout: String::new(), stderr: String::new() });
        };
        Self::check_grants(capabilities, settings)?;
        let limits = &self.limits;
        let (mut store, stdout, stderr) = self.store(settings);

        let run = async {
            let instance =
                component.instantiate_async(&mut store).await.map_err(|e| (Stage::Instantiate, e))?;
            instance.call_exec(&mut store, &input).await.map_err(|e| (Stage::Call, e))
        };
        // The epoch only interrupts wasm code; a guest waiting in a host call
        // (a sleep, a poll) is stopped here instead: dropping the future at
        // the deadline abandons the call wherever it is, instantiation
        // included, and dropping the store frees its pool slots at once.
        let outcome = tokio::time::timeout(settings.timeout(), run).await;
        let text = |pipe: &MemoryOutputPipe| String::from_utf8_lossy(&pipe.contents()).into_owned();
        let result = match outcome {
            Ok(Ok(result)) if result.len() <= limits.max_output => {
                return Ok((
                    CallOutput { result, stdout: text(&stdout), stderr: text(&stderr) },
                    SpentSandbox(store),
                ));
            }
            outcome => outcome,
        };
        drop(store);

        let (stdout, stderr) = (text(&stdout), text(&stderr));
        let Ok(outcome) = result else {
            let error = ExecError::Timeout { limit_ms: settings.timeout_ms };
            return Err(CallFailure { error, stdout, stderr });
        };
        match outcome {
            Ok(result) => Err(CallFailure {
                error: ExecError::OutputTooLarge { size: result.len(), limit: limits.max_output },
                stdout,
                stderr,
            }),
            Err((stage, err)) => {
                let error = self.classify(stage, &err, &stderr, settings);
                Err(CallFailure { error, stdout, stderr })
            }
        }
    }

    /// Runs a `wasi:http/proxy` function's handler on `request` in a fresh
    /// sandbox, under the same `settings` as [`Self::call`]; its outgoing
    /// requests may reach the settings' allowed hosts only. The response
    /// body is read while the guest writes it, up to the limit on HTTP bodies.
    /// Like [`Self::call_keeping_sandbox`], a successful call hands its
    /// sandbox back, to be freed once the caller has answered; a failed
    /// one's is freed at once (a timed-out guest's task is aborted).
    pub async fn call_http(
        &self,
        component: &PreparedComponent,
        request: HttpRequest,
        settings: &CallSettings,
    ) -> Result<(HttpOutput, SpentSandbox), CallFailure> {
        let PreparedComponent { prepared: Prepared::Http(pre), capabilities, .. } = component else {
            let error = ExecError::Internal("an exec function called as an HTTP function".into());
            return Err(CallFailure { error, stdout: String::new(), stderr: String::new() });
        };
        Self::check_grants(capabilities, settings)?;
        let limits = &self.limits;
        let (mut store, stdout, stderr) = self.store(settings);
        let text = |pipe: &MemoryOutputPipe| String::from_utf8_lossy(&pipe.contents()).into_owned();
        let fail = |error| CallFailure { error, stdout: text(&stdout), stderr: text(&stderr) };

        let HttpRequest { method, path_with_query, headers, body } = request;
        let mut builder =
            http::Request::builder().method(method).uri(format!("http://localhost{path_with_query}"));
        if let Some(map) = builder.headers_mut() {
            *map = headers;
        }
        let body = http_body_util::Full::new(body)
            .map_err(|never: std::convert::Infallible| -> wasmtime_wasi_http::Error { match never {} });
        let request =
            builder.body(body).map_err(|e| fail(ExecError::InvalidInput(format!("bad request: {e}"))))?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let prepared = (|| -> wasmtime::Result<_> {
            let mut view = store.data_mut().http();
            let request = view.new_incoming_request(Scheme::Http, request)?;
            let out = view.new_response_outparam(sender)?;
            Ok((request, out))
        })();
        let (request, out) = prepared.map_err(|e| fail(ExecError::InvalidInput(format!("{e:#}"))))?;

        // The guest runs in a task of its own: it writes the body after
        // handing over the response, while this call reads it. The handle
        // aborts the task when dropped (the timeout below), which drops the
        // store and frees its pool slots; a task that finishes hands the
        // store back.
        let pre = pre.clone();
        let guest = wasmtime_wasi::runtime::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await.map_err(|e| (Stage::Instantiate, e))?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, out)
                .await
                .map_err(|e| (Stage::Call, e))?;
            Ok(SpentSandbox(store))
        });
        let max_body = limits.max_http_body;
        let run = async {
            let response = match receiver.await {
                Ok(Ok(response)) => response,
                Ok(Err(code)) => {
                    // The guest answered with an error instead of a response.
                    guest.await?;
                    return Ok(Err(ExecError::Trapped(format!("the handler answered the error {code:?}"))));
                }
                Err(_) => {
                    guest.await?;
                    return Ok(Err(ExecError::Trapped(
                        "the handler returned without setting a response".into(),
                    )));
                }
            };
            let (parts, mut body) = response.into_parts();
            let mut bytes = Vec::new();
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    // The guest stopped writing: its own error says why.
                    guest.await?;
                    return Ok(Err(ExecError::Trapped(
                        "the handler did not finish its response body".into(),
                    )));
                };
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                    if bytes.len() > max_body {
                        return Ok(Err(ExecError::OutputTooLarge { size: bytes.len(), limit: max_body }));
                    }
                }
            }
            let spent = guest.await?;
            Ok(Ok((parts, Bytes::from(bytes), spent)))
        };
        let outcome: Result<Result<_, ExecError>, (Stage, wasmtime::Error)> =
            match tokio::time::timeout(settings.timeout(), run).await {
                Ok(outcome) => outcome,
                Err(_) => return Err(fail(ExecError::Timeout { limit_ms: settings.timeout_ms })),
            };
        match outcome {
            Ok(Ok((parts, body, spent))) => Ok((
                HttpOutput {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body,
                    stdout: text(&stdout),
                    stderr: text(&stderr),
                },
                spent,
            )),
            Ok(Err(error)) => Err(fail(error)),
            Err((stage, err)) => {
                let stderr = text(&stderr);
                let error = self.classify(stage, &err, &stderr, settings);
                Err(CallFailure { error, stdout: text(&stdout), stderr })
            }
        }
    }

    /// Calls refused because the instance pool was out of slots, since start.
    pub fn pool_exhaustions(&self) -> u64 {
        self.pool_exhausted.load(Ordering::Relaxed)
    }

    fn classify(
        &self,
        stage: Stage,
        err: &wasmtime::Error,
        stderr: &str,
        settings: &CallSettings,
    ) -> ExecError {
        let chain = format!("{err:#}");
        if err.is::<BudgetSpent>() {
            return ExecError::MemoryLimit { limit_mib: settings.memory_mib.min(self.limits.memory_mib) };
        }
        if err.is::<PoolConcurrencyLimitError>() {
            let count = self.pool_exhausted.fetch_add(1, Ordering::Relaxed) + 1;
            warn!(error = %chain, pool_exhaustions = count, "instance pool exhausted; call refused as unavailable");
            return ExecError::PoolExhausted(chain);
        }
        if chain.contains("write beyond capacity of MemoryOutputPipe") {
            return ExecError::LogLimit { limit: self.limits.max_log };
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => ExecError::Timeout { limit_ms: settings.timeout_ms },
            Some(trap) => ExecError::Trapped(with_guest_message(&trap.to_string(), stderr)),
            None if stage == Stage::Instantiate => ExecError::InvalidComponent(chain),
            None => ExecError::Trapped(with_guest_message(&chain, stderr)),
        }
    }
}

/// The shared compile settings plus the pooling allocator sized for
/// `concurrency` live calls (with room to spare for slots still being
/// released), each of the largest component a call may hold, so calls within
/// the executor's concurrency never find it empty.
fn pooled_config(limits: &ExecLimits, concurrency: usize) -> wasmtime::Config {
    let instances = u32::try_from(concurrency.max(1) * 2 + 2).unwrap_or(u32::MAX);
    let mut pool = engine::pooling(instances);
    pool.max_memory_size(limits.memory_bytes())
        // Reset a freed slot by rewriting the pages the guest touched (found
        // with PAGEMAP_SCAN where the kernel has it) instead of unmapping
        // them: no page faults on the next call, and no TLB shootdown
        // interrupts across cores, which dominated a warm call's kernel time.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        // What does get released goes in batches: one madvise round per batch.
        .decommit_batch_size(instances as usize);
    let mut config = engine::config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

impl Drop for FunctionRuntime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Instantiate,
    Call,
}

/// A trap says only "unreachable executed"; a Rust guest's panic message is
/// among the last lines it wrote to stderr, and that is what the user needs.
fn with_guest_message(trap: &str, stderr: &str) -> String {
    let trap = trap.lines().next().unwrap_or(trap);
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    let tail = lines[lines.len().saturating_sub(2)..].join(" ");
    let tail: String = tail.chars().take(1000).collect();
    if tail.is_empty() { trap.to_owned() } else { format!("{trap} (guest stderr: {tail})") }
}

#[cfg(test)]
mod tests {
    use super::with_guest_message;

    #[test]
    fn trap_messages_carry_the_guest_panic() {
        let stderr =
            "\nthread '<unnamed>' panicked at src/lib.rs:5:9:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        let msg = with_guest_message("wasm trap: unreachable\nbacktrace...", stderr);
        assert_eq!(
            msg,
            "wasm trap: unreachable (guest stderr: thread '<unnamed>' panicked at src/lib.rs:5:9: boom)"
        );
        assert_eq!(with_guest_message("wasm trap: unreachable", ""), "wasm trap: unreachable");
    }
}

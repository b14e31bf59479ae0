//! What a run measures, in order, against one running platform.
//!
//! The order matters: floors first (nothing else is loaded yet), then the
//! warm paths while the first executor is still the one memory was measured
//! on at idle, then the scenarios that restart the executor, then async jobs
//! (whose queue and records stay behind in JetStream).

mod async_jobs;
mod hotpath;
mod languages;
mod many;
mod peer;
mod pipelines;
mod shadow;

use std::time::Duration;

use anyhow::Context as _;

use crate::floors;
use crate::inprocess;
use crate::jobs::{self, JobLoad, JobTarget};
use crate::load::{Op, closed_loop, open_loop};
use crate::ops::{self, HELLO_HTTP_ANSWER, HELLO_INPUT, HELLO_OUTPUT};
use crate::platform::{ExecutorMode, PREFIX, Platform};
use crate::procstat;
use crate::report::{AuthCost, LoadStats, PhaseName, Report, Samples, Settings};

pub use languages::{EXEC_GUESTS, HTTP_GUESTS, LanguagesReport};
pub use many::{ARTIFACT_P99_GOAL_MS, ManyReport};
pub use peer::PeerTools;
pub use pipelines::PipelineCost;

/// Bucket every function of the run lives in.
const BUCKET: &str = "bench";
/// Concurrencies of the warm closed-loop phases.
const WARM_CONCURRENCY: [usize; 3] = [1, 16, 64];
/// Concurrencies of the floors.
const FLOOR_CONCURRENCY: [usize; 2] = [1, 64];
/// The original path takes ~100 ms or more per call; its c=1 phase stops
/// after this many requests.
const ORIGINAL_C1_MAX_REQUESTS: u64 = 20;
/// How long open-loop stragglers may take after the last send.
const OPEN_LOOP_DRAIN: Duration = Duration::from_secs(10);
/// Concurrencies of the authentication cost phases.
const AUTH_CONCURRENCY: [usize; 2] = [1, 16];
/// Concurrencies of the trigger and pipeline phases.
const FLOW_CONCURRENCY: [usize; 2] = [1, 16];
/// Name of the bench's trigger and pipeline.
const PIPELINE: &str = "greet";
/// Subject of the bench's trigger.
const TRIGGER_SUBJECT: &str = "bench.greet";
/// Workers submitting async jobs: as many as the sync HTTP c=64 phase
/// has, so issue 15's ratios compare like with like.
const ASYNC_CONCURRENCY: usize = 64;
/// Jobs of the async phase's warm-up, which also creates what the api and
/// the dispatcher set up on first use.
const ASYNC_WARMUP_JOBS: u64 = 32;
/// How long async jobs may take to finish after the last submit.
const ASYNC_DRAIN: Duration = Duration::from_secs(30);

/// The run's state: the platform, clients for load, and the report.
pub struct Bench {
    /// The services under test.
    pub platform: Platform,
    /// Results so far.
    pub report: Report,
    settings: Settings,
    /// Load has its own clients so control requests never queue behind it.
    http: reqwest::Client,
    nats: async_nats::Client,
    hello: Vec<u8>,
    /// Makes variant tags unique across runs, not only within one.
    run_tag: String,
}

impl Bench {
    /// Connects the load clients.
    pub async fn new(platform: Platform, report: Report, hello: Vec<u8>) -> anyhow::Result<Self> {
        // With auth on, as deployed: the token check is part of what is measured.
        let http = load_client(Some(platform.admin_token()))?;
        let nats = platform.nats_client("faas-bench load").await?;
        let settings = report.settings.clone();
        Ok(Self {
            platform,
            report,
            settings,
            http,
            nats,
            hello,
            run_tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        })
    }

    fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.settings.duration_s)
    }

    fn exec_url(&self, function: &str) -> String {
        format!("{}/exec/{BUCKET}/{function}", self.platform.api_url)
    }

    fn exec_subject(function: &str) -> String {
        format!("{PREFIX}.exec.{BUCKET}.{function}")
    }

    fn http_hello(&self) -> Op {
        ops::http_post(&self.http, self.exec_url("hello"), HELLO_INPUT, HELLO_HTTP_ANSWER)
    }

    fn nats_hello(&self) -> Op {
        ops::nats_request(&self.nats, Self::exec_subject("hello"), HELLO_INPUT, HELLO_OUTPUT, true)
    }

    /// A closed-loop phase: unmeasured warm-up (`warmup`: how long, and at
    /// most how many requests) at the same concurrency, then the measurement,
    /// recorded and printed.
    async fn closed(
        &mut self,
        name: &PhaseName,
        op: &Op,
        concurrency: usize,
        duration: Duration,
        max_requests: Option<u64>,
        warmup: (Duration, Option<u64>),
    ) -> LoadStats {
        closed_loop(op, concurrency, warmup.0, warmup.1).await;
        let out = closed_loop(op, concurrency, duration, max_requests.or(self.settings.max_requests)).await;
        let stats = LoadStats::new(name, Some(concurrency), None, &out);
        self.report.add_load(stats.clone());
        stats
    }

    fn warmup(&self) -> (Duration, Option<u64>) {
        (Duration::from_secs_f64(self.settings.warmup_s), None)
    }

    /// Creates the bucket, deploys `hello` and `fibonacci` through the api,
    /// and checks both answer correctly over HTTP and NATS.
    pub async fn deploy(&mut self, fibonacci: Vec<u8>) -> anyhow::Result<()> {
        let p = &self.platform;
        p.create_bucket(BUCKET).await?;
        p.upload(BUCKET, "hello", self.hello.clone()).await?;
        p.upload(BUCKET, "fibonacci", fibonacci).await?;
        p.exec_once(BUCKET, "hello", HELLO_INPUT, HELLO_HTTP_ANSWER).await.context("first hello call")?;
        p.exec_once(BUCKET, "fibonacci", br#"{"n":10}"#, br#"{"result":"55"}"#)
            .await
            .context("fibonacci call")?;
        let nats = self.nats_hello();
        nats().await.context("hello over NATS")?;
        Ok(())
    }

    /// Event triggers and pipelines: a NATS request on a sync trigger's
    /// subject (runs `hello`), and the README's three-step pipeline
    /// validate → normalize → hello over HTTP and over NATS. Each pipeline
    /// run is one request to an executor, which calls the three steps in
    /// process (`scenarios/pipelines.rs` sets the p50 against one call's).
    pub async fn flows(&mut self) -> anyhow::Result<()> {
        self.define_pipeline().await?;
        let api = self.platform.api_url.clone();
        let trigger = serde_json::json!({"subject": TRIGGER_SUBJECT, "function": format!("{BUCKET}/hello")});
        let path = format!("/trigger/{PIPELINE}");
        let resp = self.platform.http.put(format!("{api}{path}")).json(&trigger).send().await?;
        anyhow::ensure!(resp.status().is_success(), "PUT {path}: {} {}", resp.status(), resp.text().await?);

        let on_trigger =
            ops::nats_request(&self.nats, TRIGGER_SUBJECT.to_owned(), HELLO_INPUT, HELLO_OUTPUT, true);
        let name = PhaseName::new("trigger", "trigger → hello: NATS request on its subject", "nats");
        for c in FLOW_CONCURRENCY {
            self.closed(&name, &on_trigger, c, self.duration(), None, self.warmup()).await;
        }
        let url = format!("{api}/exec/pipeline/{PIPELINE}");
        let over_http = ops::http_post(&self.http, url, HELLO_INPUT, HELLO_HTTP_ANSWER);
        let name = PhaseName::new("pipeline", "pipeline validate → normalize → hello: HTTP api", "http");
        for c in FLOW_CONCURRENCY {
            self.closed(&name, &over_http, c, self.duration(), None, self.warmup()).await;
        }
        let subject = format!("{PREFIX}.pipeline.{PIPELINE}");
        let over_nats = ops::nats_request(&self.nats, subject, HELLO_INPUT, HELLO_OUTPUT, true);
        let name = PhaseName::new("pipeline", "pipeline validate → normalize → hello: NATS request", "nats");
        self.closed(&name, &over_nats, 1, self.duration(), None, self.warmup()).await;
        Ok(())
    }

    /// Resident memory of the services with nothing to do.
    pub async fn idle_memory(&mut self) {
        // Let anything the deploy set off (logging, cache fills) settle.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let res = &mut self.report.resources;
        res.executor_idle = procstat::memory(self.platform.executor_pid()).ok();
        res.api_idle = procstat::memory(self.platform.api_pid()).ok();
        res.dispatcher_idle = procstat::memory(self.platform.dispatcher_pid()).ok();
        if let Some(m) = res.executor_idle {
            println!("executor idle after deploy: VmRSS {} KiB, VmHWM {} KiB", m.rss_kib, m.hwm_kib);
        }
    }

    /// A NATS echo and a constant HTTP handler, at each floor concurrency.
    pub async fn floors(&mut self) -> anyhow::Result<()> {
        let _echo = floors::start_echo(self.platform.nats_client("faas-bench echo").await?).await?;
        let (url, _server) = floors::start_constant_http().await?;
        let nats =
            ops::nats_request(&self.nats, floors::ECHO_SUBJECT.to_owned(), HELLO_INPUT, HELLO_INPUT, false);
        let http = ops::http_post(&self.http, url, HELLO_INPUT, floors::CONSTANT_ANSWER);
        let nats_name = PhaseName::new("floor", "floor: NATS echo (bench responder)", "nats");
        let http_name = PhaseName::new("floor", "floor: HTTP constant (in-process axum)", "http");
        for c in FLOOR_CONCURRENCY {
            self.closed(&nats_name, &nats, c, self.duration(), None, self.warmup()).await;
        }
        for c in FLOOR_CONCURRENCY {
            self.closed(&http_name, &http, c, self.duration(), None, self.warmup()).await;
        }
        Ok(())
    }

    /// Warm `hello` over NATS then HTTP at each concurrency; CPU per call and
    /// memory around the HTTP c=64 phase.
    pub async fn warm(&mut self) -> anyhow::Result<()> {
        let nats = self.nats_hello();
        let name = PhaseName::new("warm", "warm hello: NATS direct", "nats");
        for c in WARM_CONCURRENCY {
            self.closed(&name, &nats, c, self.duration(), None, self.warmup()).await;
        }
        let http = self.http_hello();
        let name = PhaseName::new("warm", "warm hello: HTTP api", "http");
        for c in WARM_CONCURRENCY {
            if c != 64 {
                self.closed(&name, &http, c, self.duration(), None, self.warmup()).await;
                continue;
            }
            // Written out rather than through `closed` so the CPU counters
            // bracket exactly the measured part.
            let (warmup, warmup_max) = self.warmup();
            closed_loop(&http, c, warmup, warmup_max).await;
            let pids = [self.platform.executor_pid(), self.platform.api_pid(), std::process::id()];
            let before = pids.map(|pid| procstat::cpu_ticks(pid).ok());
            let out = closed_loop(&http, c, self.duration(), self.settings.max_requests).await;
            let after = pids.map(|pid| procstat::cpu_ticks(pid).ok());
            let stats = LoadStats::new(&name, Some(c), None, &out);

            let res = &mut self.report.resources;
            res.clock_ticks_per_s = procstat::clock_ticks_per_second();
            res.cpu_phase = Some(stats.id.clone());
            res.cpu_requests = out.ok + out.errors;
            let per_call = |i: usize| -> Option<f64> {
                let ticks = after[i]?.checked_sub(before[i]?)?;
                (res.cpu_requests > 0)
                    .then(|| ticks as f64 / res.clock_ticks_per_s as f64 * 1e6 / res.cpu_requests as f64)
            };
            (res.executor_cpu_us_per_call, res.api_cpu_us_per_call, res.bench_cpu_us_per_call) =
                (per_call(0), per_call(1), per_call(2));
            res.executor_after_load = procstat::memory(self.platform.executor_pid()).ok();
            res.api_after_load = procstat::memory(self.platform.api_pid()).ok();
            self.report.add_load(stats);
            let res = &self.report.resources;
            let us = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{} µs", crate::report::num(v)));
            println!(
                "      CPU per request: executor {}, api {}, bench {}; executor VmRSS after: {} KiB",
                us(res.executor_cpu_us_per_call),
                us(res.api_cpu_us_per_call),
                us(res.bench_cpu_us_per_call),
                res.executor_after_load.map_or("-".to_owned(), |m| m.rss_kib.to_string())
            );
        }
        Ok(())
    }

    /// What a host capability costs a warm call: `counter` (one
    /// `wasi:keyvalue` increment, a read and a revision-checked write on
    /// JetStream) over HTTP at c=1 and c=16 on one key, beside warm
    /// `hello` at c=1 (measured here when the run has no such phase yet).
    pub async fn keyvalue(&mut self) -> anyhow::Result<()> {
        let counter = tokio::task::spawn_blocking(|| std::fs::read(stack::guests::guest_path("counter")))
            .await?
            .context("reading the counter guest (scripts/build-functions.sh builds it)")?;
        self.platform.upload(BUCKET, "counter", counter).await?;
        let grant = serde_json::json!({"capabilities": {"keyvalue": "write"}});
        self.platform.put_config(BUCKET, "counter", grant).await?;
        let http = ops::http_post_checked(&self.http, self.exec_url("counter"), b"", ops::is_count);
        http().await.context("first counter call")?;
        if self.report.phase("warm-http-c1").is_none() {
            let hello = self.http_hello();
            let name = PhaseName::new("warm", "warm hello: HTTP api", "http");
            self.closed(&name, &hello, 1, self.duration(), None, self.warmup()).await;
        }
        let name = PhaseName::new("keyvalue", "warm counter (kv increment): HTTP api", "http");
        for c in FLOW_CONCURRENCY {
            self.closed(&name, &http, c, self.duration(), None, self.warmup()).await;
        }
        let p50 = |id: &str| self.report.phase(id).map(|s| s.p50_ms);
        if let (Some(counter), Some(hello)) = (p50("keyvalue-http-c1"), p50("warm-http-c1")) {
            println!(
                "      counter / hello at c=1: p50 {} / {} ms, an increment adds {} ms",
                crate::report::num(counter),
                crate::report::num(hello),
                crate::report::num(counter - hello)
            );
        }
        Ok(())
    }

    /// What checking tokens costs a warm call: `hello` over HTTP with a
    /// minted `invoke:bench` token on the api, then with none on a second
    /// api started with `FAAS_AUTH=off`, at each concurrency.
    pub async fn auth_cost(&mut self) -> anyhow::Result<()> {
        let result = self.measure_auth_cost().await;
        if let Err(e) = &result {
            self.report.auth_cost_unavailable = Some(format!("{e:#}"));
        }
        result
    }

    async fn measure_auth_cost(&mut self) -> anyhow::Result<()> {
        let token = self.platform.mint_token("bench invoker", &[&format!("invoke:{BUCKET}")]).await?;
        let (_api, off_url) = self.platform.start_api_without_auth().await?;
        let on = ops::http_post(
            &load_client(Some(&token))?,
            self.exec_url("hello"),
            HELLO_INPUT,
            HELLO_HTTP_ANSWER,
        );
        let off_exec = format!("{off_url}/exec/{BUCKET}/hello");
        let off = ops::http_post(&load_client(None)?, off_exec, HELLO_INPUT, HELLO_HTTP_ANSWER);
        let on_name = PhaseName::new("auth-on", "warm hello: HTTP, invoke token checked", "http");
        let off_name = PhaseName::new("auth-off", "warm hello: HTTP, api with FAAS_AUTH=off", "http");
        for c in AUTH_CONCURRENCY {
            let on = self.closed(&on_name, &on, c, self.duration(), None, self.warmup()).await;
            let off = self.closed(&off_name, &off, c, self.duration(), None, self.warmup()).await;
            anyhow::ensure!(
                on.ok > 0 && off.ok > 0,
                "no successful calls: {:?}",
                on.first_error.or(off.first_error)
            );
            let cost = AuthCost::new(c, &on, &off);
            println!(
                "      auth on / off at c={c}: p50 {}x, p99 {}x",
                crate::report::num(cost.p50_ratio),
                crate::report::num(cost.p99_ratio)
            );
            self.report.auth_cost.push(cost);
        }
        self.report.auth_cost_unavailable = None;
        Ok(())
    }

    /// Warm `hello` at a fixed rate over HTTP and NATS.
    pub async fn open_loop(&mut self) -> anyhow::Result<()> {
        let rate = self.settings.open_loop_rate;
        let warmup = Duration::from_secs_f64(self.settings.warmup_s);
        for (op, name) in [
            (self.http_hello(), PhaseName::new("open", "warm hello: HTTP api, fixed rate", "http")),
            (self.nats_hello(), PhaseName::new("open", "warm hello: NATS direct, fixed rate", "nats")),
        ] {
            open_loop(&op, rate, warmup, OPEN_LOOP_DRAIN).await;
            let out = open_loop(&op, rate, self.duration(), OPEN_LOOP_DRAIN).await;
            self.report.add_load(LoadStats::new(&name, None, Some(rate), &out));
        }
        Ok(())
    }

    /// The original platform's path (download and compile on every call) at
    /// the warm concurrencies, bounded because each call is slow; then the
    /// executor goes back to normal.
    pub async fn original(&mut self) -> anyhow::Result<()> {
        let started = self.platform.restart_executor(ExecutorMode::CompileEveryCall).await?;
        println!("executor restarted with FAAS_EXEC_COMPILE_EVERY_CALL=true in {} ms", started.as_millis());
        let http = self.http_hello();
        let name = PhaseName::new("original", "original path (compile every call): HTTP", "http");
        // One call warms connections and the S3 client; more would only
        // cost time, there being nothing else to warm.
        let warmup = (Duration::from_secs(10), Some(1));
        let short = self.duration().min(Duration::from_secs(3));
        let long = self.duration().mul_f64(5.0 / 3.0);
        self.closed(&name, &http, 1, short, Some(ORIGINAL_C1_MAX_REQUESTS), warmup).await;
        self.closed(&name, &http, 16, long, None, warmup).await;
        let original = self.closed(&name, &http, 64, long, None, warmup).await;

        let warm = self.report.phase("warm-http-c64").map(|s| s.throughput_rps);
        self.report.warm_over_original_c64 =
            warm.filter(|_| original.throughput_rps > 0.0).map(|w| w / original.throughput_rps);
        if let Some(r) = self.report.warm_over_original_c64 {
            println!("warm / original throughput at c=64: {}x", crate::report::num(r));
        }
        self.platform.restart_executor(ExecutorMode::Normal).await?;
        Ok(())
    }

    /// Uploads fresh variants of `hello` and times each one's first call.
    pub async fn first_call_after_upload(&mut self) -> anyhow::Result<()> {
        for i in 0..self.settings.upload_runs {
            let function = format!("hello-up-{i}");
            let bytes = stack::guests::with_tag(&self.hello, &format!("{}-{function}", self.run_tag));
            let cold = &mut self.report.cold;
            match self.platform.upload(BUCKET, &function, bytes).await {
                Ok(d) => cold.upload.push(d),
                Err(e) => {
                    cold.upload.fail(&e);
                    continue;
                }
            }
            let first = self.platform.exec_once(BUCKET, &function, HELLO_INPUT, HELLO_HTTP_ANSWER).await;
            record(&mut cold.first_call_after_upload, first);
            let second = self.platform.exec_once(BUCKET, &function, HELLO_INPUT, HELLO_HTTP_ANSWER).await;
            record(&mut cold.second_call_after_upload, second);
        }
        let c = &self.report.cold;
        println!(
            "first call after upload: {} (p50 / min / max ms; upload {}; second call {})",
            brief(&c.first_call_after_upload),
            brief(&c.upload),
            brief(&c.second_call_after_upload)
        );
        Ok(())
    }

    /// For each mode: upload a fresh variant, restart the executor, time the
    /// variant's first call. The executor is left in normal mode.
    pub async fn first_call_after_restart(&mut self) -> anyhow::Result<()> {
        for mode in [ExecutorMode::Normal, ExecutorMode::NoArtifactKey] {
            let label = if mode == ExecutorMode::Normal { "key" } else { "nokey" };
            for i in 0..self.settings.restart_runs {
                let function = format!("hello-restart-{label}-{i}");
                let bytes = stack::guests::with_tag(&self.hello, &format!("{}-{function}", self.run_tag));
                self.platform.upload(BUCKET, &function, bytes).await?;
                let started = self.platform.restart_executor(mode).await?;
                let first = self.platform.exec_once(BUCKET, &function, HELLO_INPUT, HELLO_HTTP_ANSWER).await;
                let cold = &mut self.report.cold;
                let (start, call) = if mode == ExecutorMode::Normal {
                    (&mut cold.executor_start_shared_cache, &mut cold.first_call_after_restart_shared_cache)
                } else {
                    (&mut cold.executor_start_no_key, &mut cold.first_call_after_restart_no_key)
                };
                start.push(started);
                record(call, first);
            }
        }
        self.platform.restart_executor(ExecutorMode::Normal).await?;
        let c = &self.report.cold;
        println!(
            "first call on a fresh executor: with key {} (start {}); without key {} (start {})",
            brief(&c.first_call_after_restart_shared_cache),
            brief(&c.executor_start_shared_cache),
            brief(&c.first_call_after_restart_no_key),
            brief(&c.executor_start_no_key)
        );
        Ok(())
    }

    /// Async `hello` jobs: a warm-up whose jobs are waited for, then up to
    /// `async_jobs` submits within the phase duration, each job's outcome
    /// read from the results subject.
    pub async fn async_jobs(&mut self) -> anyhow::Result<()> {
        let target = JobTarget {
            http: self.http.clone(),
            nats: self.nats.clone(),
            api_url: self.platform.api_url.clone(),
            function: format!("{BUCKET}/hello"),
            results_subject: format!("{PREFIX}.results.{BUCKET}.hello"),
            ping_subject: format!("{PREFIX}.ping.dispatcher"),
            processes: self.job_processes(),
        };
        let warmup = JobLoad {
            concurrency: ASYNC_CONCURRENCY,
            max_jobs: ASYNC_WARMUP_JOBS,
            duration: Duration::from_secs_f64(self.settings.warmup_s).max(Duration::from_secs(1)),
            drain: ASYNC_DRAIN,
        };
        let measured = JobLoad {
            concurrency: ASYNC_CONCURRENCY,
            max_jobs: self.settings.async_jobs.min(self.settings.max_requests.unwrap_or(u64::MAX)),
            duration: self.duration(),
            drain: ASYNC_DRAIN,
        };
        let result = async {
            let w = jobs::measure(&target, warmup).await.context("warm-up")?;
            anyhow::ensure!(
                w.completed > 0,
                "warm-up: none of {} jobs completed: {}",
                w.accepted + w.submit_errors,
                w.first_error.as_deref().unwrap_or("no error seen")
            );
            jobs::measure(&target, measured).await
        }
        .await;
        match result {
            Ok(mut j) => {
                j.compare_with_sync(self.report.phase("warm-http-c64").map(|s| s.throughput_rps));
                self.report.add_async_jobs(j);
                Ok(())
            }
            Err(e) => {
                self.report.async_jobs_unavailable = Some(format!("{e:#}"));
                Err(e)
            }
        }
    }

    /// The executor runtime's own cost per call, in this process.
    pub async fn in_process(&mut self) {
        let duration = self.duration().min(Duration::from_secs(2));
        match inprocess::measure(self.hello.clone(), duration).await {
            Ok(p) => {
                println!(
                    "in-process store + instantiate + call + free: p50 {} µs (output at {} µs), p99 {} µs, \
                     {} calls/s (compile {} ms)",
                    crate::report::num(p.p50_us),
                    crate::report::num(p.to_output_p50_us),
                    crate::report::num(p.p99_us),
                    crate::report::num(p.calls_per_s),
                    crate::report::num(p.compile_ms)
                );
                self.report.in_process = Some(p);
                self.report.in_process_unavailable = None;
            }
            Err(e) => {
                println!("in-process measurement not available: {e:#}");
                self.report.in_process_unavailable = Some(format!("{e:#}"));
            }
        }
    }
}

/// An HTTP client for load, sending `token` if given.
fn load_client(token: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        // Every worker keeps its connection between requests.
        .pool_max_idle_per_host(1024);
    let builder = match token {
        Some(token) => stack::services::authorized(builder, token),
        None => builder,
    };
    Ok(builder.build()?)
}

fn record(samples: &mut Samples, result: anyhow::Result<Duration>) {
    match result {
        Ok(d) => samples.push(d),
        Err(e) => samples.fail(&e),
    }
}

fn brief(s: &Samples) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), crate::report::num);
    let errors = if s.errors.is_empty() { String::new() } else { format!(", {} errors", s.errors.len()) };
    format!("{} / {} / {} ms{errors}", ms(s.p50_ms), ms(s.min_ms), ms(s.max_ms))
}

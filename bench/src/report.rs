//! Results: the data a run collects, the table printed as phases finish, the
//! targets verdict, and the Markdown and JSON files.
//!
//! One struct holds everything so the JSON is the complete raw record and the
//! Markdown is only a view of it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::inprocess::InProcess;
use crate::jobs::AsyncJobs;
use crate::load::Outcome;
use crate::machine::RunInfo;
use crate::procstat::Memory;

/// Throughput goal of warm HTTP calls at c=64, req/s.
const HTTP_C64_GOAL: f64 = 8000.0;

/// How the run was configured.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Length of a measured load phase, in s.
    pub duration_s: f64,
    /// Unmeasured load before each phase, in s.
    pub warmup_s: f64,
    /// Most requests per closed-loop phase, if bounded.
    pub max_requests: Option<u64>,
    /// Rate of the open-loop phases, per s.
    pub open_loop_rate: u32,
    /// A `--quick` smoke run.
    pub quick: bool,
    /// Uploads of a fresh variant, each followed by a first call.
    pub upload_runs: usize,
    /// Executor restarts per mode, each followed by a first call.
    pub restart_runs: usize,
    /// Most async jobs the async phase submits (it also ends after
    /// `duration_s`).
    pub async_jobs: u64,
}

/// One load phase, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct LoadStats {
    /// Stable key, e.g. `warm-http-c64`.
    pub id: String,
    /// What was measured, for people.
    pub label: String,
    /// `http` or `nats`.
    pub transport: String,
    /// Closed loop: concurrent workers.
    pub concurrency: Option<usize>,
    /// Open loop: requests per second sent.
    pub rate_per_s: Option<u32>,
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests that failed or were answered wrongly.
    pub errors: u64,
    /// The first error, if any.
    pub first_error: Option<String>,
    /// Length of the measured phase, in s.
    pub elapsed_s: f64,
    /// Successful requests per second.
    pub throughput_rps: f64,
    /// Latency percentiles of successful requests, in ms (open loop: from
    /// the scheduled send time).
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Open loop: median from the actual send, ms.
    pub service_p50_ms: Option<f64>,
    /// Open loop: 99th percentile from the actual send, ms.
    pub service_p99_ms: Option<f64>,
}

/// Identity of a load phase.
#[derive(Debug, Clone)]
pub struct PhaseName {
    /// Key prefix, e.g. `warm-http`.
    pub group: String,
    /// Label, e.g. `warm hello, HTTP`.
    pub label: String,
    /// `http` or `nats`.
    pub transport: &'static str,
}

impl PhaseName {
    /// A phase of `group` over `transport`.
    pub fn new(group: &str, label: &str, transport: &'static str) -> Self {
        Self { group: format!("{group}-{transport}"), label: label.to_owned(), transport }
    }
}

impl LoadStats {
    /// Summarises a closed-loop (`concurrency`) or open-loop (`rate`) phase.
    pub fn new(name: &PhaseName, concurrency: Option<usize>, rate: Option<u32>, out: &Outcome) -> Self {
        let id = match (concurrency, rate) {
            (Some(c), _) => format!("{}-c{c}", name.group),
            (None, Some(r)) => format!("{}-{r}rps", name.group),
            (None, None) => name.group.clone(),
        };
        let ms = |us: u64| us as f64 / 1000.0;
        let h = &out.latency;
        let empty = h.is_empty();
        let q = |quantile| if empty { 0.0 } else { ms(h.value_at_quantile(quantile)) };
        Self {
            id,
            label: name.label.clone(),
            transport: name.transport.to_owned(),
            concurrency,
            rate_per_s: rate,
            ok: out.ok,
            errors: out.errors,
            first_error: out.first_error.clone(),
            elapsed_s: out.elapsed.as_secs_f64(),
            throughput_rps: out.ok as f64 / out.elapsed.as_secs_f64().max(1e-9),
            p50_ms: q(0.5),
            p90_ms: q(0.9),
            p99_ms: q(0.99),
            max_ms: if empty { 0.0 } else { ms(h.max()) },
            mean_ms: if empty { 0.0 } else { h.mean() / 1000.0 },
            service_p50_ms: out
                .service
                .as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| ms(s.value_at_quantile(0.5))),
            service_p99_ms: out
                .service
                .as_ref()
                .filter(|s| !s.is_empty())
                .map(|s| ms(s.value_at_quantile(0.99))),
        }
    }
}

/// Single timings repeated a few times (cold starts), in ms.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Samples {
    /// Every successful timing, in order.
    pub samples_ms: Vec<f64>,
    /// Median (the lower middle value for an even count).
    pub p50_ms: Option<f64>,
    /// Fastest.
    pub min_ms: Option<f64>,
    /// Slowest.
    pub max_ms: Option<f64>,
    /// What failed, if anything did.
    pub errors: Vec<String>,
}

impl Samples {
    /// Adds a timing.
    pub fn push(&mut self, d: std::time::Duration) {
        self.samples_ms.push(d.as_secs_f64() * 1000.0);
        let mut sorted = self.samples_ms.clone();
        sorted.sort_by(f64::total_cmp);
        self.p50_ms = sorted.get((sorted.len() - 1) / 2).copied();
        self.min_ms = sorted.first().copied();
        self.max_ms = sorted.last().copied();
    }

    /// Adds a failure.
    pub fn fail(&mut self, error: &anyhow::Error) {
        self.errors.push(format!("{error:#}"));
    }

    fn cell(&self) -> String {
        match (self.p50_ms, self.min_ms, self.max_ms) {
            (Some(p50), Some(min), Some(max)) => {
                format!("{} / {} / {}", num(p50), num(min), num(max))
            }
            _ => "-".to_owned(),
        }
    }
}

/// Cold starts: first calls after an upload and after an executor restart.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cold {
    /// `POST /file` of a fresh variant.
    pub upload: Samples,
    /// The first exec call right after that upload.
    pub first_call_after_upload: Samples,
    /// The call after that one, for comparison.
    pub second_call_after_upload: Samples,
    /// Executor spawn to first answered ping, with the artifact key.
    pub executor_start_shared_cache: Samples,
    /// First call on a fresh executor that has the artifact key.
    pub first_call_after_restart_shared_cache: Samples,
    /// Executor spawn to first answered ping, without the key.
    pub executor_start_no_key: Samples,
    /// First call on a fresh executor without the key.
    pub first_call_after_restart_no_key: Samples,
}

/// What checking tokens costs a warm call: the same `hello` over HTTP on
/// the api that checks tokens and on one with `FAAS_AUTH=off`, in the same
/// run, at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct AuthCost {
    /// Concurrent workers.
    pub concurrency: usize,
    /// With a token checked: p50 and p99, ms; req/s.
    pub on_p50_ms: f64,
    /// 99th percentile with a token checked, ms.
    pub on_p99_ms: f64,
    /// Throughput with a token checked, req/s.
    pub on_rps: f64,
    /// With `FAAS_AUTH=off`: p50, ms.
    pub off_p50_ms: f64,
    /// 99th percentile with `FAAS_AUTH=off`, ms.
    pub off_p99_ms: f64,
    /// Throughput with `FAAS_AUTH=off`, req/s.
    pub off_rps: f64,
    /// `on_p50_ms / off_p50_ms`.
    pub p50_ratio: f64,
    /// `on_p99_ms / off_p99_ms`.
    pub p99_ratio: f64,
}

impl AuthCost {
    /// The comparison of two phases at the same concurrency.
    pub fn new(concurrency: usize, on: &LoadStats, off: &LoadStats) -> Self {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Self {
            concurrency,
            on_p50_ms: on.p50_ms,
            on_p99_ms: on.p99_ms,
            on_rps: on.throughput_rps,
            off_p50_ms: off.p50_ms,
            off_p99_ms: off.p99_ms,
            off_rps: off.throughput_rps,
            p50_ratio: ratio(on.p50_ms, off.p50_ms),
            p99_ratio: ratio(on.p99_ms, off.p99_ms),
        }
    }
}

/// Memory and CPU of the processes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Resources {
    /// `getconf CLK_TCK`.
    pub clock_ticks_per_s: u64,
    /// Executor after deploy, before any load.
    pub executor_idle: Option<Memory>,
    /// api after deploy, before any load.
    pub api_idle: Option<Memory>,
    /// Dispatcher after deploy.
    pub dispatcher_idle: Option<Memory>,
    /// Executor after the warm HTTP c=64 phase.
    pub executor_after_load: Option<Memory>,
    /// api after the warm HTTP c=64 phase.
    pub api_after_load: Option<Memory>,
    /// Phase the CPU figures cover.
    pub cpu_phase: Option<String>,
    /// Requests (ok and failed) in that phase.
    pub cpu_requests: u64,
    /// Executor user+system CPU per request, in µs.
    pub executor_cpu_us_per_call: Option<f64>,
    /// api user+system CPU per request, in µs.
    pub api_cpu_us_per_call: Option<f64>,
    /// This process (load generator and the in-process S3 server), per request, µs.
    pub bench_cpu_us_per_call: Option<f64>,
}

/// One target and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What is measured.
    pub name: String,
    /// The goal, e.g. `<= 0.5 ms`.
    pub goal: String,
    /// What this run got.
    pub actual: String,
    /// `None` when the figure is missing.
    pub met: Option<bool>,
    /// By how much it was met or missed.
    pub margin: String,
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Commit, machine, time.
    pub run: RunInfo,
    /// How the run was configured.
    pub settings: Settings,
    /// Every load phase, in the order run.
    pub load: Vec<LoadStats>,
    /// Warm HTTP c=64 throughput over the original path's.
    pub warm_over_original_c64: Option<f64>,
    /// Cold starts.
    pub cold: Cold,
    /// What checking tokens costs, per concurrency.
    pub auth_cost: Vec<AuthCost>,
    /// Why `auth_cost` is missing.
    pub auth_cost_unavailable: Option<String>,
    /// The runtime's own cost per call.
    pub in_process: Option<InProcess>,
    /// Why `in_process` is missing.
    pub in_process_unavailable: Option<String>,
    /// Memory and CPU.
    pub resources: Resources,
    /// Async jobs: submit and completion throughput.
    pub async_jobs: Option<AsyncJobs>,
    /// Why `async_jobs` is missing.
    pub async_jobs_unavailable: Option<String>,
    /// Many functions (`--only many`).
    pub many: Option<crate::scenarios::ManyReport>,
    /// Scenarios that could not be completed.
    pub failures: Vec<String>,
    /// The targets verdict, filled in by [`Report::judge`].
    pub targets: Vec<Target>,
    /// wrk against the platform, the peer and the HTTP floor; the
    /// per-request breakdown; the issue-15 verdict.
    pub issue15: crate::issue15::Issue15,
    /// A three-step pipeline's p50 over one call's (`scenarios/pipelines.rs`).
    pub pipeline_cost: Option<crate::scenarios::PipelineCost>,
}

impl Report {
    /// An empty report for a run about to start.
    pub fn new(run: RunInfo, settings: Settings) -> Self {
        Self {
            run,
            settings,
            load: Vec::new(),
            warm_over_original_c64: None,
            cold: Cold::default(),
            auth_cost: Vec::new(),
            auth_cost_unavailable: Some("not run".to_owned()),
            in_process: None,
            in_process_unavailable: Some("not run".to_owned()),
            resources: Resources::default(),
            async_jobs: None,
            async_jobs_unavailable: Some("not run".to_owned()),
            many: None,
            failures: Vec::new(),
            targets: Vec::new(),
            issue15: crate::issue15::Issue15::default(),
            pipeline_cost: None,
        }
    }

    /// A load phase by id.
    pub fn phase(&self, id: &str) -> Option<&LoadStats> {
        self.load.iter().find(|s| s.id == id)
    }

    /// The floor to read `stats` against: same transport and concurrency.
    fn floor_of(&self, stats: &LoadStats) -> Option<&LoadStats> {
        if stats.id.starts_with("floor-") {
            return None;
        }
        let concurrency = stats.concurrency.unwrap_or(1);
        // wrk's phases are read against wrk's floor: one generator each.
        if stats.id.starts_with("wrk-") {
            return self.phase(&crate::issue15::floor_id(concurrency)).filter(|f| f.id != stats.id);
        }
        self.phase(&format!("floor-{}-c{concurrency}", stats.transport))
    }

    /// Records a phase and prints its row.
    pub fn add_load(&mut self, stats: LoadStats) {
        print_row(&stats, self.floor_of(&stats));
        self.load.push(stats);
    }

    /// Records the async-job phase and prints its rows.
    pub fn add_async_jobs(&mut self, jobs: AsyncJobs) {
        print_row(&jobs.submit, None);
        print_row(&jobs.completion, None);
        println!("      errors: {}; GET /jobs/{{id}} check: {}", jobs.error_summary(), jobs.record_check);
        self.async_jobs = Some(jobs);
        self.async_jobs_unavailable = None;
    }

    /// One line for the end of the run.
    pub fn async_jobs_summary(&self) -> String {
        match &self.async_jobs {
            Some(j) => format!(
                "{} jobs/s completed ({} of {} accepted, {}), {} accepted/s submitted (POST p50 {} ms, p99 {} ms); {} errors",
                num(j.completion.throughput_rps),
                j.completed,
                j.accepted,
                j.function,
                num(j.submit.throughput_rps),
                num(j.submit.p50_ms),
                num(j.submit.p99_ms),
                j.errors
            ),
            None => format!("not measured: {}", self.async_jobs_unavailable.as_deref().unwrap_or("unknown")),
        }
    }

    /// Compares the run with the targets.
    pub fn judge(&mut self) {
        let p = |id: &str| self.phase(id).cloned();
        let mut targets = Vec::new();
        let http1 = p("warm-http-c1");
        targets.push(judge(
            "warm hello HTTP c=1 p50",
            Goal::AtMost(0.5),
            http1.as_ref().map(|s| s.p50_ms),
            "ms",
        ));
        targets.push(judge(
            "warm hello HTTP c=1 p99",
            Goal::AtMost(5.0),
            http1.as_ref().map(|s| s.p99_ms),
            "ms",
        ));
        let nats1 = p("warm-nats-c1");
        targets.push(judge(
            "warm hello NATS direct c=1 p50",
            Goal::AtMost(0.3),
            nats1.map(|s| s.p50_ms),
            "ms",
        ));
        let http64 = p("warm-http-c64");
        for (name, goal) in [
            ("warm hello HTTP c=64 throughput", 8000.0),
            ("warm hello HTTP c=64 throughput (stretch)", 12000.0),
        ] {
            let mut t = judge(name, Goal::AtLeast(goal), http64.as_ref().map(|s| s.throughput_rps), "req/s");
            if let Some(s) = http64.as_ref().filter(|s| s.errors > 0) {
                t.met = Some(false);
                t.margin = format!("{} errors (target: none); {}", s.errors, t.margin);
            }
            t.goal = format!("{}, no errors", t.goal);
            targets.push(t);
        }
        let mut ratio =
            judge("warm HTTP c=64 vs original path", Goal::AtLeast(500.0), self.warm_over_original_c64, "x");
        ratio.goal = ">= 500x the original's throughput".to_owned();
        targets.push(ratio);
        targets.push(judge(
            "first call after upload p50",
            Goal::AtMost(10.0),
            self.cold.first_call_after_upload.p50_ms,
            "ms",
        ));
        targets.push(judge(
            "first call on a fresh executor (shared cache) p50",
            Goal::AtMost(10.0),
            self.cold.first_call_after_restart_shared_cache.p50_ms,
            "ms",
        ));
        targets.push(judge(
            "executor idle RSS",
            Goal::AtMost(50.0),
            self.resources.executor_idle.map(|m| m.rss_kib as f64 / 1024.0),
            "MiB",
        ));
        self.targets = targets;
    }

    /// When the HTTP floor itself stays under the throughput goal, no
    /// platform figure measured from this machine can reach it, and the
    /// verdict says more about the machine than about the platform.
    pub fn generator_note(&self) -> Option<String> {
        let floor = self.phase("floor-http-c64")?;
        (floor.throughput_rps < HTTP_C64_GOAL).then(|| {
            format!(
                "On this machine the HTTP floor itself (a constant handler, no platform) reached only {} req/s \
                 at c=64: the load generator shares the cores with everything it measures, so an HTTP c=64 \
                 figure above that cannot be shown here; read the platform's HTTP c=64 throughput as a \
                 share of that floor ({}).",
                num(floor.throughput_rps),
                self.phase("warm-http-c64")
                    .map_or("-".to_owned(), |w| format!("{}%", num(w.throughput_rps / floor.throughput_rps * 100.0)))
            )
        })
    }

    /// The Markdown view of the report.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let r = &self.run;
        let s = &self.settings;
        let _ = writeln!(md, "# wasm-faas benchmark, {}\n", r.started_utc);
        let _ = writeln!(md, "- commit: `{}`", r.commit);
        let _ = writeln!(md, "- date (UTC): {}", r.started_utc);
        let _ = writeln!(
            md,
            "- machine: {} cores, {} MiB RAM, {}",
            r.cores,
            r.memory_mib.map_or("?".to_owned(), |m| m.to_string()),
            r.cpu_model.as_deref().unwrap_or("unknown CPU")
        );
        let _ = writeln!(md, "- profile: {}", r.profile);
        let _ = writeln!(
            md,
            "- nats-server: `GOMAXPROCS={}` (the local stack's setting)",
            stack::nats::go_max_procs()
        );
        if !r.service_env.is_empty() {
            let _ = writeln!(
                md,
                "- service settings (`--service-env`, not the defaults): `{}`",
                r.service_env.join("`, `")
            );
        }
        let _ = writeln!(
            md,
            "- settings: {} s per load phase after {} s warm-up{}{}; open loop at {} req/s; {} uploads; {} restarts per mode; up to {} async jobs",
            num(s.duration_s),
            num(s.warmup_s),
            s.max_requests.map_or(String::new(), |m| format!(", at most {m} requests")),
            if s.quick { " (--quick smoke run)" } else { "" },
            s.open_loop_rate,
            s.upload_runs,
            s.restart_runs,
            s.async_jobs
        );
        md.push_str(
            "\nEverything runs on this one machine: the load generator and the S3 server (both in the \
             bench process), nats-server, faas-api, faas-executor and faas-dispatcher share its cores, \
             so the floors below (measured in the same run) are the yardstick rather than absolute \
             numbers. Services log at `RUST_LOG=warn`. Latencies count successful requests only; \
             errors are counted separately.\n",
        );

        md.push_str(&self.issue15_markdown());
        md.push_str(
            "\n## Targets\n\n| target | goal | this run | verdict | by how much |\n|---|---|---|---|---|\n",
        );
        for t in &self.targets {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "no figure",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                t.name.trim(),
                t.goal,
                t.actual,
                verdict,
                t.margin
            );
        }
        if let Some(note) = self.generator_note() {
            let _ = writeln!(md, "\n{note}");
        }

        md.push_str(
            "\n## Load\n\nClosed loop: N workers, each sends the next request when the last is answered. \
             Open loop: requests sent on a fixed schedule; latency counted from the scheduled time (no \
             coordinated omission), the `from send` columns exclude the generator's timer slack \
             (tokio timers have 1 ms granularity). \"vs floor\": throughput as a share of the \
             floor's, and p50 as a multiple of the floor's, same transport and concurrency.\n\n",
        );
        md.push_str("| phase | load | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | vs floor |\n");
        md.push_str("|---|---|---|---|---|---|---|---|---|\n");
        for stats in &self.load {
            let cells = Cells::of(stats, self.floor_of(stats));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                stats.label,
                cells.load,
                cells.rps,
                cells.p50,
                cells.p90,
                cells.p99,
                cells.max,
                cells.errors,
                cells.vs_floor
            );
        }
        let open: Vec<&LoadStats> = self.load.iter().filter(|s| s.rate_per_s.is_some()).collect();
        if !open.is_empty() {
            md.push_str("\nOpen loop, from the actual send:\n\n| phase | p50 ms | p99 ms |\n|---|---|---|\n");
            for s in open {
                let _ = writeln!(
                    md,
                    "| {} @ {}/s | {} | {} |",
                    s.label,
                    s.rate_per_s.unwrap_or(0),
                    s.service_p50_ms.map_or("-".to_owned(), num),
                    s.service_p99_ms.map_or("-".to_owned(), num)
                );
            }
        }
        if let Some(cost) = &self.pipeline_cost {
            md.push_str(&cost.markdown());
        }
        let errors: Vec<&LoadStats> = self.load.iter().filter(|s| s.first_error.is_some()).collect();
        if !errors.is_empty() {
            md.push_str("\nFirst error of each phase with errors:\n\n");
            for s in errors {
                let _ =
                    writeln!(md, "- {}: `{}`", s.id, truncate(s.first_error.as_deref().unwrap_or(""), 300));
            }
        }
        let _ = writeln!(
            md,
            "\nWarm HTTP c=64 throughput / original path (`FAAS_EXEC_COMPILE_EVERY_CALL=true`) c=64 throughput: **{}**",
            self.warm_over_original_c64.map_or("-".to_owned(), |r| format!("{}x", num(r)))
        );

        md.push_str(
            "\n## Cost of authentication\n\nWarm `hello` over HTTP, measured back to back: on the api \
             that checks tokens, with a minted `invoke:bench` token (parse, map read of the api's live copy \
             of `faas-tokens`, SHA-256 and constant-time compare, scope check), and on a second api \
             started with `FAAS_AUTH=off` against the same NATS and executor. A ratio of 1 means \
             authentication costs nothing measurable.\n\n",
        );
        if self.auth_cost.is_empty() {
            let why = self.auth_cost_unavailable.as_deref().unwrap_or("unknown");
            let _ = writeln!(md, "Not measured: {}", truncate(why, 500));
        } else {
            md.push_str(
                "| load | auth on p50 / p99 ms | auth off p50 / p99 ms | on / off p50 | on / off p99 | req/s on / off |\n\
                 |---|---|---|---|---|---|\n",
            );
            for a in &self.auth_cost {
                let _ = writeln!(
                    md,
                    "| c={} | {} / {} | {} / {} | {} | {} | {} / {} |",
                    a.concurrency,
                    num(a.on_p50_ms),
                    num(a.on_p99_ms),
                    num(a.off_p50_ms),
                    num(a.off_p99_ms),
                    num(a.p50_ratio),
                    num(a.p99_ratio),
                    num(a.on_rps),
                    num(a.off_rps)
                );
            }
        }

        let c = &self.cold;
        md.push_str(
            "\n## Cold starts\n\nEach sample uses a variant of `hello` never seen before (a custom \
             section with a fresh tag appended, so its sha256 differs), so no cache of an earlier \
             sample can help. Restarts kill the executor (SIGKILL), start a new one and wait \
             until it answers a ping on `faas.ping.executor`; the timed first call goes through \
             the HTTP api.\n\n| what | samples | p50 / min / max ms | errors |\n|---|---|---|---|\n",
        );
        for (name, samples) in [
            ("upload (`POST /file`) of a new variant", &c.upload),
            ("first call after upload", &c.first_call_after_upload),
            ("second call after upload", &c.second_call_after_upload),
            ("executor start to first pong, with FAAS_ARTIFACT_KEY", &c.executor_start_shared_cache),
            (
                "first call on a fresh executor, with FAAS_ARTIFACT_KEY (shared cache)",
                &c.first_call_after_restart_shared_cache,
            ),
            ("executor start to first pong, without the key", &c.executor_start_no_key),
            ("first call on a fresh executor, without the key", &c.first_call_after_restart_no_key),
        ] {
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} |",
                samples.samples_ms.len(),
                samples.cell(),
                samples.errors.first().map_or(String::new(), |e| format!(
                    "{}: `{}`",
                    samples.errors.len(),
                    truncate(e, 200)
                ))
            );
        }

        md.push_str("\n## In-process cost of one call\n\n");
        match &self.in_process {
            Some(p) => {
                let _ = writeln!(
                    md,
                    "The executor crate's `FunctionRuntime` in the bench process: compile `hello` once \
                     ({} ms), prepare (link) once ({} ms), then fresh store + instantiate + call + free \
                     the sandbox, back to back on one task: {} calls, {} calls/s, p50 {} µs, p99 {} µs, \
                     max {} µs. The output was there at p50 {} µs: the executor replies then and frees \
                     the sandbox (its pool slot's reset) after the reply is written.",
                    num(p.compile_ms),
                    num(p.prepare_ms),
                    p.calls,
                    num(p.calls_per_s),
                    num(p.p50_us),
                    num(p.p99_us),
                    num(p.max_us),
                    num(p.to_output_p50_us)
                );
            }
            None => {
                let why = self.in_process_unavailable.as_deref().unwrap_or("unknown");
                let _ = writeln!(md, "Not available: {why}");
            }
        }

        let res = &self.resources;
        let mem = |m: &Option<Memory>| {
            m.map_or("-".to_owned(), |m| {
                format!("{} / {}", num(m.rss_kib as f64 / 1024.0), num(m.hwm_kib as f64 / 1024.0))
            })
        };
        md.push_str("\n## Resources\n\n| process | when | VmRSS / VmHWM MiB |\n|---|---|---|\n");
        let _ = writeln!(md, "| faas-executor | idle after deploy | {} |", mem(&res.executor_idle));
        let _ = writeln!(md, "| faas-executor | after warm HTTP c=64 | {} |", mem(&res.executor_after_load));
        let _ = writeln!(md, "| faas-api | idle after deploy | {} |", mem(&res.api_idle));
        let _ = writeln!(md, "| faas-api | after warm HTTP c=64 | {} |", mem(&res.api_after_load));
        let _ = writeln!(md, "| faas-dispatcher | idle after deploy | {} |", mem(&res.dispatcher_idle));
        let per_call = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{} µs", num(v)));
        let _ = writeln!(
            md,
            "\nCPU time (user + system, `/proc/<pid>/stat`, {} ticks/s) per request over the measured \
             `{}` phase ({} requests): executor {}, api {}, bench process (load generator and S3) {}.",
            res.clock_ticks_per_s,
            res.cpu_phase.as_deref().unwrap_or("-"),
            res.cpu_requests,
            per_call(res.executor_cpu_us_per_call),
            per_call(res.api_cpu_us_per_call),
            per_call(res.bench_cpu_us_per_call)
        );

        md.push_str("\n## Async jobs\n\n");
        match &self.async_jobs {
            Some(j) => async_jobs_markdown(&mut md, j),
            None => {
                let why = self.async_jobs_unavailable.as_deref().unwrap_or("unknown");
                let _ = writeln!(md, "Not measured: {}", truncate(why, 500));
            }
        }
        if let Some(many) = &self.many {
            many.markdown(&mut md);
        }
        if !self.failures.is_empty() {
            md.push_str("\n## Could not be measured\n\n");
            for f in &self.failures {
                let _ = writeln!(md, "- {}", truncate(f, 500));
            }
        }
        md
    }

    /// Writes `<date>-<commit>.md`, `.json` and `latest.md` into `dir`;
    /// returns the Markdown file's path.
    pub fn write(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        self.write_as(dir, None)
    }

    /// Writes a run of one part (`--only <part>`) as
    /// `<date>-<commit>-<part>.md`, `.json` and `latest-<part>.md`, beside
    /// the full runs' files rather than over `latest.md`.
    pub fn write_part(&self, dir: &Path, part: &str) -> anyhow::Result<PathBuf> {
        self.write_as(dir, Some(part))
    }

    fn write_as(&self, dir: &Path, part: Option<&str>) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let suffix = part.map(|part| format!("-{part}")).unwrap_or_default();
        let stem = format!("{}-{}{suffix}", self.run.date_utc, self.run.short_commit);
        let md = self.markdown();
        let md_path = dir.join(format!("{stem}.md"));
        std::fs::write(&md_path, &md).with_context(|| format!("write {}", md_path.display()))?;
        let json_path = dir.join(format!("{stem}.json"));
        std::fs::write(&json_path, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("write {}", json_path.display()))?;
        let latest = dir.join(format!("latest{suffix}.md"));
        std::fs::write(&latest, &md).with_context(|| format!("write {}", latest.display()))?;
        Ok(md_path)
    }
}

fn async_jobs_markdown(md: &mut String, j: &AsyncJobs) {
    let _ = writeln!(
        md,
        "`{}` jobs (input `{}`) submitted with `POST /async/{}` by {} workers, each sending the \
         next when the last is answered, up to {} jobs or the phase duration. The api answers 202 \
         once a job is stored durably. The bench subscribes to the jobs' results subject \
         (`faas.results.<bucket>.<function>`) before the first submit and matches every record \
         published there with its 202. Submit: accepted jobs per second over the submitting time, \
         latency of the POST. Completion: jobs whose `succeeded` record with the right result \
         arrived, per second from the first submit to the last such record; latency from a job's \
         POST being sent to its record arriving. Targets (issue 15): submit >= 1.0x and \
         completion >= 0.8x the warm HTTP c=64 throughput of the same run (below).\n",
        j.function.rsplit('/').next().unwrap_or(&j.function),
        String::from_utf8_lossy(crate::ops::HELLO_INPUT),
        j.function,
        j.concurrency,
        j.max_jobs
    );
    md.push_str("| what | jobs | jobs/s | p50 ms | p90 ms | p99 ms | max ms | errors |\n");
    md.push_str("|---|---|---|---|---|---|---|---|\n");
    for (what, s) in [
        ("submit: `POST /async` answered 202", &j.submit),
        ("completion: succeeded record on the results subject", &j.completion),
    ] {
        let _ = writeln!(
            md,
            "| {what} | {} | {} | {} | {} | {} | {} | {} |",
            s.ok,
            num(s.throughput_rps),
            num(s.p50_ms),
            num(s.p90_ms),
            num(s.p99_ms),
            num(s.max_ms),
            s.errors
        );
    }
    let _ = writeln!(
        md,
        "\nErrors: {}. `GET /jobs/{{id}}` of a completed job: {}.",
        j.error_summary(),
        truncate(&j.record_check, 200)
    );
    if let Some(e) = &j.first_error {
        let _ = writeln!(md, "First error: `{}`", truncate(e, 300));
    }
    md.push_str(&j.extra_markdown());
}

/// Prints a phase's row, with the open loop's from-send latencies and the
/// first error when there are any.
fn print_row(stats: &LoadStats, floor: Option<&LoadStats>) {
    println!("{}", row_text(stats, floor));
    if let (Some(p50), Some(p99)) = (stats.service_p50_ms, stats.service_p99_ms) {
        println!("      from the actual send: p50 {} ms, p99 {} ms", num(p50), num(p99));
    }
    if let Some(e) = &stats.first_error {
        println!("      first error: {}", truncate(e, 300));
    }
}

/// The header of the printed table.
pub fn print_header() {
    println!(
        "{:<44} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}  vs floor",
        "phase", "load", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
    );
}

struct Cells {
    load: String,
    rps: String,
    p50: String,
    p90: String,
    p99: String,
    max: String,
    errors: String,
    vs_floor: String,
}

impl Cells {
    fn of(s: &LoadStats, floor: Option<&LoadStats>) -> Self {
        let load = match (s.concurrency, s.rate_per_s) {
            (Some(c), _) => format!("c={c}"),
            (None, Some(r)) => format!("{r}/s"),
            (None, None) => "-".to_owned(),
        };
        let vs_floor = floor.map_or("-".to_owned(), |f| {
            let share =
                if f.throughput_rps > 0.0 { s.throughput_rps / f.throughput_rps * 100.0 } else { 0.0 };
            let slower = if f.p50_ms > 0.0 { s.p50_ms / f.p50_ms } else { 0.0 };
            if s.rate_per_s.is_some() {
                format!("p50 {}x", num(slower))
            } else {
                format!("{}% thr, p50 {}x", num(share), num(slower))
            }
        });
        Self {
            load,
            rps: num(s.throughput_rps),
            p50: num(s.p50_ms),
            p90: num(s.p90_ms),
            p99: num(s.p99_ms),
            max: num(s.max_ms),
            errors: s.errors.to_string(),
            vs_floor,
        }
    }
}

fn row_text(s: &LoadStats, floor: Option<&LoadStats>) -> String {
    let c = Cells::of(s, floor);
    format!(
        "{:<44} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}  {}",
        truncate(&s.label, 44),
        c.load,
        c.rps,
        c.p50,
        c.p90,
        c.p99,
        c.max,
        c.errors,
        c.vs_floor
    )
}

/// Which side of the threshold is good.
#[derive(Debug, Clone, Copy)]
enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

fn judge(name: &str, goal: Goal, actual: Option<f64>, unit: &str) -> Target {
    let (goal_text, threshold) = match goal {
        Goal::AtMost(t) => (format!("<= {}", qty(t, unit)), t),
        Goal::AtLeast(t) => (format!(">= {}", qty(t, unit)), t),
    };
    let Some(value) = actual else {
        return Target {
            name: name.to_owned(),
            goal: goal_text,
            actual: "-".to_owned(),
            met: None,
            margin: "not measured".to_owned(),
        };
    };
    let diff = (value - threshold).abs();
    let ratio = if threshold > 0.0 { value / threshold } else { 0.0 };
    let (met, margin) = match goal {
        Goal::AtMost(_) if value <= threshold => {
            (true, format!("{} under ({}% of the limit)", qty(diff, unit), num(ratio * 100.0)))
        }
        Goal::AtMost(_) => (false, format!("{} over ({}x the limit)", qty(diff, unit), num(ratio))),
        Goal::AtLeast(_) if value >= threshold => {
            (true, format!("{} above ({}x the goal)", qty(diff, unit), num(ratio)))
        }
        Goal::AtLeast(_) => (
            false,
            format!(
                "{} short ({}% of the goal; {}x needed)",
                qty(diff, unit),
                num(ratio * 100.0),
                num(if value > 0.0 { threshold / value } else { f64::INFINITY })
            ),
        ),
    };
    Target { name: name.to_owned(), goal: goal_text, actual: qty(value, unit), met: Some(met), margin }
}

/// Prints the targets verdict.
pub fn print_targets(targets: &[Target]) {
    println!("\n{:<52} {:<28} {:>14}  verdict", "target", "goal", "this run");
    for t in targets {
        let verdict = match t.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "no figure",
        };
        println!("{:<52} {:<28} {:>14}  {verdict}: {}", t.name, t.goal, t.actual, t.margin);
    }
}

/// A number and its unit; a ratio is written `3.5x`.
fn qty(v: f64, unit: &str) -> String {
    if unit == "x" { format!("{}x", num(v)) } else { format!("{} {unit}", num(v)) }
}

/// A number with a precision that suits its size.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "inf".to_owned()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_both_directions() {
        let t = judge("p50", Goal::AtMost(0.5), Some(0.25), "ms");
        assert_eq!((t.met, t.margin.as_str()), (Some(true), "0.250 ms under (50.0% of the limit)"));
        let t = judge("p50", Goal::AtMost(0.5), Some(2.0), "ms");
        assert_eq!((t.met, t.margin.as_str()), (Some(false), "1.50 ms over (4.00x the limit)"));
        let t = judge("thr", Goal::AtLeast(8000.0), Some(2000.0), "req/s");
        assert_eq!(t.met, Some(false));
        assert!(t.margin.contains("4.00x needed"), "{}", t.margin);
        assert_eq!(judge("x", Goal::AtLeast(1.0), None, "x").met, None);
    }

    #[test]
    fn async_jobs_get_their_own_table_and_json() {
        let run = RunInfo {
            commit: "abc".to_owned(),
            short_commit: "abc".to_owned(),
            started_utc: "2026-01-01T00:00:00Z".to_owned(),
            date_utc: "2026-01-01".to_owned(),
            profile: "dev".to_owned(),
            cores: 2,
            memory_mib: None,
            cpu_model: None,
            service_env: Vec::new(),
        };
        let settings = Settings {
            duration_s: 1.0,
            warmup_s: 0.2,
            max_requests: None,
            open_loop_rate: 500,
            quick: true,
            upload_runs: 3,
            restart_runs: 2,
            async_jobs: 300,
        };
        let mut report = Report::new(run, settings);
        assert!(report.markdown().contains("## Async jobs\n\nNot measured: not run"));
        let stats = |group: &str, ok: u64, errors: u64| {
            let mut latency = crate::load::histogram();
            latency.saturating_record(2000);
            let out = Outcome {
                latency,
                service: None,
                ok,
                errors,
                first_error: None,
                elapsed: std::time::Duration::from_millis(500),
            };
            LoadStats::new(&PhaseName::new(group, group, "http"), Some(16), None, &out)
        };
        report.add_async_jobs(AsyncJobs {
            function: "bench/hello".to_owned(),
            concurrency: 16,
            max_jobs: 300,
            submit: stats("async-submit", 300, 0),
            completion: stats("async-complete", 299, 1),
            accepted: 300,
            completed: 299,
            submit_errors: 0,
            failed: 0,
            duplicates: 1,
            missing: 0,
            unexpected: 0,
            errors: 1,
            record_check: "ok".to_owned(),
            first_error: Some("job j: announced 2 times".to_owned()),
            drain_s: 30.0,
            cpu_us_per_job: Vec::new(),
            sync_cpu_us_per_call: Vec::new(),
            cpu_per_job_vs_call: None,
            sync_http_c64_rps: None,
            submit_vs_sync: None,
            completion_vs_sync: None,
        });
        let md = report.markdown();
        assert!(md.contains("| submit: `POST /async` answered 202 | 300 | 600 | 2.00 |"), "{md}");
        assert!(md.contains("| completion: succeeded record on the results subject | 299 | 598 |"), "{md}");
        assert!(md.contains("1 jobs announced more than once"), "{md}");
        assert!(report.async_jobs_summary().starts_with("598 jobs/s completed (299 of 300 accepted"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["async_jobs"]["completion"]["ok"], 299);
        assert_eq!(json["async_jobs_unavailable"], serde_json::Value::Null);
    }

    #[test]
    fn samples_report_the_lower_median() {
        let mut s = Samples::default();
        for ms in [4, 1, 3, 2] {
            s.push(std::time::Duration::from_millis(ms));
        }
        assert_eq!((s.p50_ms, s.min_ms, s.max_ms), (Some(2.0), Some(1.0), Some(4.0)));
    }
}

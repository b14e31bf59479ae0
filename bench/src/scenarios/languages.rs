//! Per-language figures: the same function in Rust, Python and JavaScript.
//!
//! Python and JavaScript components carry their interpreter: tens of MB and
//! seconds of compile where Rust has tens of KB and milliseconds. The limits
//! that matter for them (compile timeouts, call memory, component and upload
//! size) are set from these figures, so each is measured as a user meets
//! it: the component's size, upload to 201 (the dispatcher's compile
//! included), the first call after the upload, the first call on a freshly
//! started executor (the signed-artifact path), warm calls over HTTP at c=1,
//! and memory: what one call's memories and tables grow to
//! ([`crate::call_memory`], which also splits a warm call's cost in process:
//! the whole call, instantiation alone, page faults per call) and the
//! executor's resident memory while [`LOAD_CONCURRENCY`] calls run at once.
//!
//! A guest is one line of [`EXEC_GUESTS`] or [`HTTP_GUESTS`]; the HTTP
//! handlers are called through `ANY /run/{b}/{f}/{*path}` and measured with
//! `--http-guests` (on a platform that serves `/run`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::{BUCKET, Bench, brief, record};
use crate::call_memory::{self, CallMemory, WARM_CALLS};
use crate::load::{Op, closed_loop};
use crate::machine::RunInfo;
use crate::ops::{self, HELLO_HTTP_ANSWER, HELLO_INPUT, HELLO_OUTPUT};
use crate::platform::ExecutorMode;
use crate::procstat;
use crate::report::{LoadStats, PhaseName, Samples, num};

/// Calls running at once while the executor's memory is sampled.
pub const LOAD_CONCURRENCY: usize = 8;
/// How often the executor's memory is sampled under load.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);
/// Uploads of a fresh variant per guest (each one a full compile on the
/// dispatcher, seconds for an interpreter), and executor restarts.
const UPLOAD_RUNS: usize = 3;
const RESTART_RUNS: usize = 2;

/// How a guest is called.
#[derive(Debug, Clone, Copy)]
pub enum Call {
    /// `POST /exec/{b}/{f}` with `input`; the answer is `{"result": ...}`.
    Exec {
        /// Request body.
        input: &'static [u8],
        /// The api's whole answer.
        answer: &'static [u8],
        /// What `exec` returns, for the in-process call.
        output: &'static [u8],
    },
    /// `POST /run/{b}/{f}{path}` with `body`; the answer is the handler's.
    Run {
        /// Path after the function.
        path: &'static str,
        /// Request body.
        body: &'static [u8],
        /// The handler's whole answer.
        answer: &'static [u8],
    },
}

/// One function measured per language.
#[derive(Debug, Clone, Copy)]
pub struct Guest {
    /// Its name in `functions/` (and as deployed).
    pub name: &'static str,
    /// What it is written in.
    pub language: &'static str,
    /// How it is called.
    pub call: Call,
}

const HELLO: Call = Call::Exec { input: HELLO_INPUT, answer: HELLO_HTTP_ANSWER, output: HELLO_OUTPUT };
/// The echo handlers answer a POST with its body.
const ECHO: Call = Call::Run { path: "/bench", body: b"ping", answer: b"ping" };

/// `hello` in each language (world `faas-exec`).
pub const EXEC_GUESTS: [Guest; 3] = [
    Guest { name: "hello", language: "Rust", call: HELLO },
    Guest { name: "hello-py", language: "Python", call: HELLO },
    Guest { name: "hello-js", language: "JavaScript", call: HELLO },
];

/// The HTTP handlers in each language (world `wasi:http/proxy`).
pub const HTTP_GUESTS: [Guest; 3] = [
    Guest { name: "echo-http", language: "Rust", call: ECHO },
    Guest { name: "echo-http-py", language: "Python", call: ECHO },
    Guest { name: "echo-http-js", language: "JavaScript", call: ECHO },
];

/// Everything measured for one guest.
#[derive(Debug, Clone, Serialize)]
pub struct GuestFigures {
    /// Its name in `functions/`.
    pub guest: String,
    /// What it is written in.
    pub language: String,
    /// `exec` or `http`.
    pub world: String,
    /// Component size, in bytes.
    pub size_bytes: u64,
    /// `POST /file` of a fresh variant until its 201.
    pub upload: Samples,
    /// The first call right after each upload.
    pub first_call_after_upload: Samples,
    /// Executor spawn to its first answered ping.
    pub executor_start: Samples,
    /// The first call on that fresh executor (the signed artifact loaded
    /// from the shared store, no compile).
    pub first_call_fresh_executor: Samples,
    /// Warm calls over HTTP at c=1.
    pub warm_http_c1: Option<LoadStats>,
    /// Executor memory around [`LOAD_CONCURRENCY`] concurrent calls.
    pub under_load: Option<UnderLoad>,
    /// One call's memories and tables, in this process (exec guests).
    pub call_memory: Option<CallMemory>,
    /// What could not be measured.
    pub errors: Vec<String>,
}

/// The executor's resident memory before and at most during a phase of
/// concurrent calls.
#[derive(Debug, Clone, Serialize)]
pub struct UnderLoad {
    /// Calls running at once.
    pub concurrency: usize,
    /// VmRSS just before, KiB.
    pub before_kib: u64,
    /// The highest VmRSS sampled during the phase, KiB.
    pub peak_kib: u64,
    /// (peak - before) / concurrency, KiB: an upper bound of one more
    /// concurrent instance's cost, the pool's kept pages included.
    pub per_call_kib: u64,
    /// Calls answered as expected during the phase.
    pub calls: u64,
}

/// The per-language run, written beside the full run's results.
#[derive(Debug, Clone, Serialize)]
pub struct LanguagesReport {
    /// Where and when.
    pub run: RunInfo,
    /// Length of the warm phase, s.
    pub duration_s: f64,
    /// Uploads per guest.
    pub upload_runs: usize,
    /// Executor restarts per guest.
    pub restart_runs: usize,
    /// One entry per guest, in order.
    pub guests: Vec<GuestFigures>,
}

impl Bench {
    fn guest_op(&self, guest: &Guest, function: &str) -> Op {
        let api = &self.platform.api_url;
        match guest.call {
            Call::Exec { input, answer, .. } => {
                ops::http_post(&self.http, format!("{api}/exec/{BUCKET}/{function}"), input, answer)
            }
            Call::Run { path, body, answer } => ops::http_request(
                &self.http,
                reqwest::Method::POST,
                format!("{api}/run/{BUCKET}/{function}{path}"),
                body,
                answer,
            ),
        }
    }

    /// Measures each of `guests` in turn; the executor is restarted along
    /// the way and left running normally.
    pub async fn languages(&mut self, guests: &[Guest]) -> LanguagesReport {
        let quick = self.settings.quick;
        let (uploads, restarts) = if quick { (1, 1) } else { (UPLOAD_RUNS, RESTART_RUNS) };
        let mut figures = Vec::new();
        for guest in guests {
            println!("\n{} ({}):", guest.name, guest.language);
            let mut f = GuestFigures {
                guest: guest.name.to_owned(),
                language: guest.language.to_owned(),
                world: if matches!(guest.call, Call::Exec { .. }) { "exec" } else { "http" }.to_owned(),
                size_bytes: 0,
                upload: Samples::default(),
                first_call_after_upload: Samples::default(),
                executor_start: Samples::default(),
                first_call_fresh_executor: Samples::default(),
                warm_http_c1: None,
                under_load: None,
                call_memory: None,
                errors: Vec::new(),
            };
            if let Err(e) = self.measure_guest(guest, &mut f, uploads, restarts).await {
                println!("  failed: {e:#}");
                f.errors.push(format!("{e:#}"));
            }
            figures.push(f);
        }
        LanguagesReport {
            run: self.report.run.clone(),
            duration_s: self.settings.duration_s,
            upload_runs: uploads,
            restart_runs: restarts,
            guests: figures,
        }
    }

    async fn measure_guest(
        &mut self,
        guest: &Guest,
        f: &mut GuestFigures,
        uploads: usize,
        restarts: usize,
    ) -> anyhow::Result<()> {
        let name = guest.name;
        let bytes = tokio::task::spawn_blocking(move || {
            let path = stack::guests::guest_path(name);
            std::fs::read(&path).with_context(|| format!("read {}", path.display()))
        })
        .await??;
        f.size_bytes = bytes.len() as u64;
        println!("  size {} KiB", bytes.len() / 1024);

        // Uploads of fresh variants (a new digest each: a full compile), each
        // followed by its first call; the last one stays for the rest.
        let mut function = None;
        for i in 0..uploads {
            let variant = format!("lang-{name}-{i}");
            let tagged = stack::guests::with_tag(&bytes, &format!("{}-{variant}", self.run_tag));
            match self.platform.upload(BUCKET, &variant, tagged).await {
                Ok(d) => f.upload.push(d),
                Err(e) => {
                    f.upload.fail(&e);
                    continue;
                }
            }
            record(&mut f.first_call_after_upload, time(&self.guest_op(guest, &variant)).await);
            function = Some(variant);
        }
        println!(
            "  upload to 201 {}; first call after {}",
            brief(&f.upload),
            brief(&f.first_call_after_upload)
        );
        let function =
            function.with_context(|| format!("no upload of {name} succeeded: {:?}", f.upload.errors))?;
        let op = self.guest_op(guest, &function);

        let phase =
            PhaseName::new(&format!("lang-{name}"), &format!("warm {name} ({})", guest.language), "http");
        let warm = self.closed(&phase, &op, 1, self.duration(), None, self.warmup()).await;
        f.warm_http_c1 = Some(warm);
        f.under_load = Some(self.memory_under_load(&op).await?);

        for _ in 0..restarts {
            let started = self.platform.restart_executor(ExecutorMode::Normal).await?;
            f.executor_start.push(started);
            record(&mut f.first_call_fresh_executor, time(&op).await);
        }
        println!("  first call on a fresh executor {}", brief(&f.first_call_fresh_executor));

        if let Call::Exec { input, output, .. } = guest.call {
            let input = std::str::from_utf8(input).context("the input is UTF-8")?;
            match call_memory::measure(bytes, input, output).await {
                Ok(m) => {
                    println!(
                        "  one call: {} KiB of memories and tables (instantiated {} KiB); in-process compile {} ms",
                        m.peak_kib,
                        m.instantiated_kib,
                        num(m.compile_ms)
                    );
                    println!(
                        "  in process: warm call p50 {} µs (output at {} µs), instantiate + drop p50 {} µs, \
                         {} minor faults per call",
                        num(m.warm_call_p50_us),
                        num(m.to_output_p50_us),
                        num(m.instantiate_p50_us),
                        num(m.faults_per_call)
                    );
                    f.call_memory = Some(m);
                }
                Err(e) => f.errors.push(format!("call memory: {e:#}")),
            }
        }
        Ok(())
    }

    /// [`LOAD_CONCURRENCY`] workers calling `op` for the phase duration while
    /// the executor's VmRSS is sampled.
    async fn memory_under_load(&mut self, op: &Op) -> anyhow::Result<UnderLoad> {
        let pid = self.platform.executor_pid();
        let before = procstat::memory(pid)?.rss_kib;
        let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(before)));
        let sampler = {
            let (stop, peak) = (stop.clone(), peak.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(m) = procstat::memory(pid) {
                        peak.fetch_max(m.rss_kib, Ordering::Relaxed);
                    }
                    tokio::time::sleep(SAMPLE_EVERY).await;
                }
            })
        };
        let out = closed_loop(op, LOAD_CONCURRENCY, self.duration(), None).await;
        stop.store(true, Ordering::Relaxed);
        sampler.await?;
        anyhow::ensure!(out.ok > 0, "no call succeeded under load: {:?}", out.first_error);
        let peak = peak.load(Ordering::Relaxed);
        let per_call_kib = peak.saturating_sub(before) / LOAD_CONCURRENCY as u64;
        println!(
            "  executor VmRSS {before} KiB before, {peak} KiB at most with {LOAD_CONCURRENCY} calls at once \
             ({per_call_kib} KiB per call)"
        );
        Ok(UnderLoad {
            concurrency: LOAD_CONCURRENCY,
            before_kib: before,
            peak_kib: peak,
            per_call_kib,
            calls: out.ok,
        })
    }
}

/// Runs `op` once and times it.
async fn time(op: &Op) -> anyhow::Result<Duration> {
    let started = Instant::now();
    op().await?;
    Ok(started.elapsed())
}

impl LanguagesReport {
    /// The report as Markdown: one column per guest.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let r = &self.run;
        let _ = writeln!(md, "# Per-language figures, {} ({})\n", r.started_utc, r.commit);
        let _ = writeln!(
            md,
            "{} cores, {} MiB, {}. Profile: {}.\n",
            r.cores,
            r.memory_mib.unwrap_or(0),
            r.cpu_model.as_deref().unwrap_or("unknown CPU"),
            r.profile
        );
        let _ = writeln!(
            md,
            "The real services as processes (`scripts/bench.sh --only languages`), every limit at its \
             default. Per guest: {} uploads of a fresh variant (a new digest, so a full compile on the \
             dispatcher), each followed by its first call; warm calls over HTTP at c=1 for {} s; \
             {LOAD_CONCURRENCY} workers calling at once while the executor's VmRSS is sampled every \
             {} ms; {} executor restarts (SIGKILL, then a new process with the artifact key), each \
             followed by the first call; one call in the bench's own process on the executor's engine, \
             with a limiter recording the linear memories and tables (the sum the per-call budget \
             charges), then {WARM_CALLS} warm calls through the executor's own runtime (no NATS) and \
             {WARM_CALLS} instantiations alone, counting the bench process's minor page faults over \
             the calls. Timings are p50 / min / max ms.\n",
            self.upload_runs,
            num(self.duration_s),
            SAMPLE_EVERY.as_millis(),
            self.restart_runs
        );
        md.push_str("| |");
        for g in &self.guests {
            let _ = write!(md, " `{}` ({}) |", g.guest, g.language);
        }
        md.push_str("\n|---|");
        md.push_str(&"---|".repeat(self.guests.len()));
        md.push('\n');
        let row = |md: &mut String, what: &str, cell: &dyn Fn(&GuestFigures) -> String| {
            let _ = write!(md, "| {what} |");
            for g in &self.guests {
                let _ = write!(md, " {} |", cell(g));
            }
            md.push('\n');
        };
        let samples = |s: &Samples| match (s.p50_ms, s.min_ms, s.max_ms) {
            (Some(p50), Some(min), Some(max)) => format!("{} / {} / {}", num(p50), num(min), num(max)),
            _ => "-".to_owned(),
        };
        let mib = |kib: u64| format!("{} MiB", num(kib as f64 / 1024.0));
        row(&mut md, "world", &|g| g.world.clone());
        row(&mut md, "component size", &|g| {
            // 0: the guest could not be read (its error is listed below).
            if g.size_bytes == 0 { "-".to_owned() } else { format!("{} MB", num(g.size_bytes as f64 / 1e6)) }
        });
        row(&mut md, "upload to 201 (compile included), ms", &|g| samples(&g.upload));
        row(&mut md, "first call after upload, ms", &|g| samples(&g.first_call_after_upload));
        row(&mut md, "executor start to first pong, ms", &|g| samples(&g.executor_start));
        row(&mut md, "first call on a fresh executor (artifact), ms", &|g| {
            samples(&g.first_call_fresh_executor)
        });
        row(&mut md, "warm call over HTTP, c=1, p50 / p99 ms", &|g| {
            g.warm_http_c1
                .as_ref()
                .map_or("-".to_owned(), |w| format!("{} / {}", num(w.p50_ms), num(w.p99_ms)))
        });
        row(&mut md, "warm calls/s, c=1", &|g| {
            g.warm_http_c1.as_ref().map_or("-".to_owned(), |w| num(w.throughput_rps))
        });
        row(&mut md, "one call: memories + tables at peak (instantiated)", &|g| {
            g.call_memory
                .as_ref()
                .map_or("-".to_owned(), |m| format!("{} ({})", mib(m.peak_kib), mib(m.instantiated_kib)))
        });
        row(&mut md, "in process, warm call p50 (output at) / instantiate + drop p50, µs", &|g| {
            g.call_memory.as_ref().map_or("-".to_owned(), |m| {
                format!(
                    "{} ({}) / {}",
                    num(m.warm_call_p50_us),
                    num(m.to_output_p50_us),
                    num(m.instantiate_p50_us)
                )
            })
        });
        row(&mut md, "in process, minor page faults per warm call", &|g| {
            g.call_memory.as_ref().map_or("-".to_owned(), |m| num(m.faults_per_call))
        });
        row(&mut md, "compile in the bench's process (services idle), ms", &|g| {
            g.call_memory.as_ref().map_or("-".to_owned(), |m| num(m.compile_ms))
        });
        row(&mut md, &format!("executor VmRSS before / peak at c={LOAD_CONCURRENCY}"), &|g| {
            g.under_load
                .as_ref()
                .map_or("-".to_owned(), |u| format!("{} / {}", mib(u.before_kib), mib(u.peak_kib)))
        });
        row(&mut md, "(peak - before) / concurrency", &|g| {
            g.under_load.as_ref().map_or("-".to_owned(), |u| mib(u.per_call_kib))
        });
        let failures: Vec<_> = self
            .guests
            .iter()
            .flat_map(|g| {
                let samples = [&g.upload, &g.first_call_after_upload, &g.first_call_fresh_executor];
                let errors = samples.into_iter().flat_map(|s| s.errors.iter()).chain(&g.errors);
                errors.map(move |e| format!("{}: {e}", g.guest))
            })
            .collect();
        if !failures.is_empty() {
            md.push_str("\n## Errors\n\n");
            for e in failures {
                let _ = writeln!(md, "- {}", e.chars().take(500).collect::<String>());
            }
        }
        md
    }

    /// Writes `<date>-<commit>-languages.md`, `.json` and
    /// `latest-languages.md` into `dir`; returns the Markdown file's path.
    pub fn write(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let stem = format!("{}-{}-languages", self.run.date_utc, self.run.short_commit);
        let md = self.markdown();
        let md_path = dir.join(format!("{stem}.md"));
        std::fs::write(&md_path, &md).with_context(|| format!("write {}", md_path.display()))?;
        let json_path = dir.join(format!("{stem}.json"));
        std::fs::write(&json_path, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("write {}", json_path.display()))?;
        let latest = dir.join("latest-languages.md");
        std::fs::write(&latest, &md).with_context(|| format!("write {}", latest.display()))?;
        Ok(md_path)
    }
}

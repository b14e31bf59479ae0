//! Many functions (`--only many`): more distinct functions than the
//! executor's component cache holds.
//!
//! Deploys `--many-functions` (2,000) distinct variants of `hello` (a custom
//! section with a fresh tag each, so each has its own digest, artifact and
//! cache entry), restarts the executor with a byte budget that holds only
//! [`BUDGET_SHARE`] of them, then calls working sets of 16, 128, 512 and
//! 2,000 functions over the HTTP api at c=16, round-robin and with a Zipf
//! (s = 1.1) popularity. Each phase reports throughput, p50/p99, how many
//! calls each cache source served (`x-faas-cache`: memory, artifact,
//! compiled) with the artifact-sourced calls' own p99 (the path a function
//! not in memory takes), the executor's VmRSS and its cache's entries and
//! bytes from its `/metrics`, and the RSS each cached component costs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures::StreamExt as _;
use hdrhistogram::Histogram;
use serde::Serialize;

use super::{BUCKET, Bench};
use crate::load::{Op, REQUEST_TIMEOUT, closed_loop, histogram, micros};
use crate::ops::{HELLO_HTTP_ANSWER, HELLO_INPUT};
use crate::platform::ExecutorMode;
use crate::procstat;
use crate::report::{LoadStats, PhaseName, num};

/// Working sets measured (each capped at the number of functions deployed).
const WORKING_SETS: [usize; 4] = [16, 128, 512, 2000];
/// Concurrent callers of every phase.
const CONCURRENCY: usize = 16;
/// Uploads at once: each costs the dispatcher a compile, so more would only
/// queue on its two compile slots.
const UPLOAD_CONCURRENCY: usize = 4;
/// The executor's cache budget as a share of all deployed functions' weight:
/// the smaller working sets fit, the full set does not, so eviction shows.
const BUDGET_SHARE: f64 = 0.3;
/// Exponent of the Zipf popularity.
const ZIPF_S: f64 = 1.1;
/// The goal for a call whose function is not in memory.
pub const ARTIFACT_P99_GOAL_MS: f64 = 10.0;
/// The header the api reports the cache source in, spelled as a client sees it.
const CACHE_HEADER: &str = "x-faas-cache";
/// Cache sources, as the header names them.
const SOURCES: [&str; 3] = ["memory", "artifact", "compiled"];

/// The scenario's figures, written beside the load table.
#[derive(Debug, Clone, Serialize)]
pub struct ManyReport {
    /// Distinct functions deployed.
    pub functions: usize,
    /// Time to upload them all, s.
    pub upload_s: f64,
    /// Uploads at once.
    pub upload_concurrency: usize,
    /// Weight of one `hello` cache entry as the executor counts it, bytes.
    pub weight_per_entry_bytes: u64,
    /// Length of one `hello`'s compiled image, bytes.
    pub image_bytes: u64,
    /// The executor's `FAAS_CACHE_MAX_BYTES` during the phases.
    pub budget_bytes: u64,
    /// How many `hello` variants that budget holds.
    pub budget_entries: u64,
    /// Executor VmRSS with one entry cached, after its restart, KiB.
    pub rss_base_kib: Option<u64>,
    /// Every phase, in order.
    pub phases: Vec<ManyPhase>,
    /// 99th percentile of the artifact-sourced calls of the c=1 phase
    /// (round-robin over every function: each call a miss), ms: the
    /// artifact path's own latency, the figure of the goal.
    pub artifact_c1_p99_ms: Option<f64>,
    /// Median of the same, ms.
    pub artifact_c1_p50_ms: Option<f64>,
    /// Median of warm calls (memory) at c=1 over 16 functions, the same
    /// run's yardstick for the two above, ms.
    pub memory_c1_p50_ms: Option<f64>,
    /// 99th percentile of the same, ms.
    pub memory_c1_p99_ms: Option<f64>,
    /// 99th percentile of every artifact-sourced call of the c=16 phases,
    /// ms: the same path under load (queueing behind 15 other misses).
    pub artifact_p99_ms: Option<f64>,
    /// Artifact-sourced calls in all phases.
    pub artifact_calls: u64,
    /// (VmRSS − base) / (entries − 1) at the phase with the most entries, KiB.
    pub rss_per_entry_kib: Option<f64>,
}

/// One working set under one popularity.
#[derive(Debug, Clone, Serialize)]
pub struct ManyPhase {
    /// The load phase's id in the load table.
    pub id: String,
    /// Distinct functions called.
    pub working_set: usize,
    /// Concurrent callers.
    pub concurrency: usize,
    /// `round-robin` or `zipf`.
    pub popularity: &'static str,
    /// Successful calls per second.
    pub throughput_rps: f64,
    /// Median of every call, ms.
    pub p50_ms: f64,
    /// 99th percentile of every call, ms.
    pub p99_ms: f64,
    /// Failed calls.
    pub errors: u64,
    /// Calls, p50 and p99 per cache source.
    pub sources: BTreeMap<String, SourceStats>,
    /// Executor VmRSS before the phase's warm-up, KiB.
    pub rss_before_kib: Option<u64>,
    /// Executor VmRSS after the phase, KiB.
    pub rss_after_kib: Option<u64>,
    /// Cache entries after the phase (`faas_exec_cache_entries`).
    pub cache_entries: Option<u64>,
    /// Cache weight after the phase (`faas_exec_cache_bytes`).
    pub cache_bytes: Option<u64>,
    /// Evictions during the phase and its warm-up.
    pub evictions: Option<u64>,
}

/// The calls one cache source served.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStats {
    /// How many.
    pub calls: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

/// Latencies per cache source, filled by the calls themselves.
type Tally = Arc<Mutex<BTreeMap<String, Histogram<u64>>>>;

/// Which function of the working set a call goes to.
enum Popularity {
    RoundRobin,
    /// Cumulative probabilities of ranks 1..=n.
    Zipf(Vec<f64>),
}

impl Popularity {
    fn zipf(n: usize, s: f64) -> Self {
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        Self::Zipf(
            weights
                .iter()
                .map(|w| {
                    sum += w / total;
                    sum
                })
                .collect(),
        )
    }

    fn name(&self) -> &'static str {
        match self {
            Self::RoundRobin => "round-robin",
            Self::Zipf(_) => "zipf",
        }
    }

    /// The function of call number `i` among `n`.
    fn pick(&self, i: u64, n: usize) -> usize {
        match self {
            Self::RoundRobin => (i % n as u64) as usize,
            Self::Zipf(cdf) => {
                // A uniform draw from a hash of the call number: lock-free,
                // and the same sequence every run.
                let u = (splitmix64(i) >> 11) as f64 / (1u64 << 53) as f64;
                cdf.partition_point(|&c| c < u).min(n - 1)
            }
        }
    }
}

/// SplitMix64's output function: a well-mixed 64-bit value per input.
fn splitmix64(i: u64) -> u64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn function_name(i: usize) -> String {
    format!("many-{i:04}")
}

impl Bench {
    /// Deploys `functions` variants of hello and measures every working set.
    pub async fn many(&mut self, functions: usize) -> anyhow::Result<()> {
        ensure!(functions >= 2, "--many-functions must be at least 2");
        let (image_bytes, weight) = self.hello_weight().await?;
        let upload_s = self.upload_variants(functions).await?;
        let budget_entries = ((functions as f64 * BUDGET_SHARE).ceil() as u64).max(1);
        let budget_bytes = weight * budget_entries;
        let metrics_port = stack::ports::free_port();
        let mode = ExecutorMode::CacheBudget { max_bytes: budget_bytes, metrics_port };
        self.platform.restart_executor(mode).await?;
        let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
        println!(
            "executor restarted with FAAS_CACHE_MAX_BYTES={budget_bytes} ({budget_entries} hellos of {} KiB; \
             image {} KiB)",
            weight >> 10,
            image_bytes >> 10
        );
        // The base: one function cached, the pool and the connections warm.
        self.platform.exec_once(BUCKET, "hello", HELLO_INPUT, HELLO_HTTP_ANSWER).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rss_base_kib = procstat::memory(self.platform.executor_pid()).ok().map(|m| m.rss_kib);
        let mut report = ManyReport {
            functions,
            upload_s,
            upload_concurrency: UPLOAD_CONCURRENCY,
            weight_per_entry_bytes: weight,
            image_bytes,
            budget_bytes,
            budget_entries,
            rss_base_kib,
            phases: Vec::new(),
            artifact_c1_p50_ms: None,
            artifact_c1_p99_ms: None,
            memory_c1_p50_ms: None,
            memory_c1_p99_ms: None,
            artifact_p99_ms: None,
            artifact_calls: 0,
            rss_per_entry_kib: None,
        };
        let mut artifact = histogram();
        let mut sets: Vec<usize> = WORKING_SETS.iter().map(|&w| w.min(functions)).collect();
        sets.dedup();
        for working_set in sets {
            for popularity in [Popularity::RoundRobin, Popularity::zipf(working_set, ZIPF_S)] {
                let (phase, artifact_calls) =
                    self.many_phase(working_set, popularity, CONCURRENCY, &metrics_url).await?;
                let _ = artifact.add(&artifact_calls);
                report.phases.push(phase);
            }
        }
        report.artifact_calls = artifact.len();
        report.artifact_p99_ms = (!artifact.is_empty()).then(|| ms(artifact.value_at_quantile(0.99)));
        // One caller going round all the functions, more than the cache
        // holds: every call a miss, nothing queued behind another.
        let (phase, alone) = self.many_phase(functions, Popularity::RoundRobin, 1, &metrics_url).await?;
        if !alone.is_empty() {
            report.artifact_c1_p50_ms = Some(ms(alone.value_at_quantile(0.5)));
            report.artifact_c1_p99_ms = Some(ms(alone.value_at_quantile(0.99)));
        }
        report.phases.push(phase);
        // The same caller on functions in memory: the yardstick.
        let (phase, _) =
            self.many_phase(functions.min(WORKING_SETS[0]), Popularity::RoundRobin, 1, &metrics_url).await?;
        if let Some(memory) = phase.sources.get("memory") {
            (report.memory_c1_p50_ms, report.memory_c1_p99_ms) = (Some(memory.p50_ms), Some(memory.p99_ms));
        }
        report.phases.push(phase);
        report.rss_per_entry_kib = report
            .phases
            .iter()
            .filter_map(|p| Some((p.cache_entries?, p.rss_after_kib?)))
            .max_by_key(|(entries, _)| *entries)
            .and_then(|(entries, rss)| {
                let base = report.rss_base_kib?;
                (entries > 1).then(|| (rss as f64 - base as f64) / (entries - 1) as f64)
            });
        println!("{}", report.summary());
        self.report.many = Some(report);
        Ok(())
    }

    /// One `hello`'s compiled image and cache weight, from the executor's
    /// own runtime in this process (the same engine settings and formula).
    async fn hello_weight(&self) -> anyhow::Result<(u64, u64)> {
        let hello = self.hello.clone();
        tokio::task::spawn_blocking(move || {
            let runtime = executor::runtime::FunctionRuntime::new(executor::ExecLimits::default(), 1)?;
            let prepared = runtime.prepare(&runtime.compile(&hello)?)?;
            anyhow::Ok((prepared.image_bytes(), prepared.weight()))
        })
        .await?
    }

    /// Uploads the variants, [`UPLOAD_CONCURRENCY`] at a time; returns the
    /// time taken, s.
    async fn upload_variants(&self, functions: usize) -> anyhow::Result<f64> {
        let started = Instant::now();
        let done = AtomicU64::new(0);
        let platform = &self.platform;
        let mut uploads = futures::stream::iter(0..functions)
            .map(|i| {
                let bytes = stack::guests::with_tag(&self.hello, &format!("{}-many-{i}", self.run_tag));
                let done = &done;
                async move {
                    let name = function_name(i);
                    // A busy dispatcher may answer slowly; one retry.
                    if let Err(first) = platform.upload(BUCKET, &name, bytes.clone()).await {
                        platform.upload(BUCKET, &name, bytes).await.with_context(|| format!("{first:#}"))?;
                    }
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_multiple_of(250) {
                        println!("      uploaded {n} of {functions}");
                    }
                    anyhow::Ok(())
                }
            })
            .buffer_unordered(UPLOAD_CONCURRENCY);
        while let Some(uploaded) = uploads.next().await {
            uploaded?;
        }
        let upload_s = started.elapsed().as_secs_f64();
        println!(
            "uploaded {functions} variants of hello in {} s ({} at a time)",
            num(upload_s),
            UPLOAD_CONCURRENCY
        );
        Ok(upload_s)
    }

    /// Warms the working set (one call to each function, unmeasured), then
    /// measures `popularity` over it at [`CONCURRENCY`]. Returns the phase
    /// and the latencies of its artifact-sourced calls.
    async fn many_phase(
        &mut self,
        working_set: usize,
        popularity: Popularity,
        concurrency: usize,
        metrics_url: &str,
    ) -> anyhow::Result<(ManyPhase, Histogram<u64>)> {
        let pid = self.platform.executor_pid();
        let rss_before_kib = procstat::memory(pid).ok().map(|m| m.rss_kib);
        let evictions_before = self.scrape(metrics_url, "faas_exec_cache_evictions_total").await;
        let warm = self.many_op(working_set, Popularity::RoundRobin);
        let warmed = closed_loop(&warm.0, CONCURRENCY, REQUEST_TIMEOUT, Some(working_set as u64)).await;
        if warmed.errors > 0 {
            // Not fatal: a first read of many artifacts at once may find the
            // store busy and compile instead; the phase shows what follows.
            println!(
                "      warming {working_set} functions: {} errors, first: {}",
                warmed.errors,
                warmed.first_error.unwrap_or_default()
            );
        }
        let popularity_name = popularity.name();
        let (op, tally) = self.many_op(working_set, popularity);
        let group = format!("many-{}-w{working_set}", if popularity_name == "zipf" { "zipf" } else { "rr" });
        let label = format!("{working_set} functions, {popularity_name}: HTTP api");
        let out = closed_loop(&op, concurrency, self.duration(), self.settings.max_requests).await;
        let stats = LoadStats::new(&PhaseName::new(&group, &label, "http"), Some(concurrency), None, &out);
        let rss_after_kib = procstat::memory(pid).ok().map(|m| m.rss_kib);
        let cache_entries = self.scrape(metrics_url, "faas_exec_cache_entries").await;
        let cache_bytes = self.scrape(metrics_url, "faas_exec_cache_bytes").await;
        let evictions_after = self.scrape(metrics_url, "faas_exec_cache_evictions_total").await;
        let tally = std::mem::take(&mut *tally.lock().expect("tally lock"));
        let sources = tally
            .iter()
            .map(|(source, h)| {
                let stats = SourceStats {
                    calls: h.len(),
                    p50_ms: ms(h.value_at_quantile(0.5)),
                    p99_ms: ms(h.value_at_quantile(0.99)),
                };
                (source.clone(), stats)
            })
            .collect();
        let phase = ManyPhase {
            id: stats.id.clone(),
            working_set,
            concurrency,
            popularity: popularity_name,
            throughput_rps: stats.throughput_rps,
            p50_ms: stats.p50_ms,
            p99_ms: stats.p99_ms,
            errors: stats.errors,
            sources,
            rss_before_kib,
            rss_after_kib,
            cache_entries,
            cache_bytes,
            evictions: evictions_after.zip(evictions_before).map(|(a, b)| a.saturating_sub(b)),
        };
        println!("      {}", phase.sources_cell());
        self.report.add_load(stats);
        let artifact = tally.get("artifact").cloned().unwrap_or_else(histogram);
        Ok((phase, artifact))
    }

    /// A call to the working set's next function (by `popularity`), which
    /// records its latency under the cache source the answer names.
    fn many_op(&self, working_set: usize, popularity: Popularity) -> (Op, Tally) {
        let tally: Tally = Arc::default();
        let urls: Arc<Vec<String>> =
            Arc::new((0..working_set).map(|i| self.exec_url(&function_name(i))).collect());
        let (http, next, popularity) = (self.http.clone(), Arc::new(AtomicU64::new(0)), Arc::new(popularity));
        let recorded = tally.clone();
        let op: Op = Arc::new(move || {
            let (http, tally, urls) = (http.clone(), recorded.clone(), urls.clone());
            let i = next.fetch_add(1, Ordering::Relaxed);
            let url = urls[popularity.pick(i, urls.len())].clone();
            Box::pin(async move {
                let sent = Instant::now();
                let resp = http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(HELLO_INPUT)
                    .timeout(REQUEST_TIMEOUT)
                    .send()
                    .await?;
                let status = resp.status();
                let source = resp
                    .headers()
                    .get(CACHE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(none)")
                    .to_owned();
                let answer = resp.bytes().await.context("read the answer")?;
                let elapsed = sent.elapsed();
                if status != reqwest::StatusCode::OK {
                    bail!("{url}: HTTP {status}: {}", String::from_utf8_lossy(&answer));
                }
                ensure!(
                    answer == HELLO_HTTP_ANSWER,
                    "unexpected answer {:?}",
                    String::from_utf8_lossy(&answer)
                );
                tally
                    .lock()
                    .expect("tally lock")
                    .entry(source)
                    .or_insert_with(histogram)
                    .saturating_record(micros(elapsed));
                Ok(())
            })
        });
        (op, tally)
    }

    /// One unlabelled value of the executor's metrics, if it answers.
    async fn scrape(&self, url: &str, name: &str) -> Option<u64> {
        let text = self.platform.http.get(url).send().await.ok()?.text().await.ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .map(|value| value as u64)
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl ManyPhase {
    /// `memory / artifact / compiled` call counts, and anything else seen.
    fn sources_cell(&self) -> String {
        let mut cell = SOURCES.map(|s| self.sources.get(s).map_or(0, |s| s.calls).to_string()).join(" / ");
        for (other, stats) in self.sources.iter().filter(|(s, _)| !SOURCES.contains(&s.as_str())) {
            let _ = write!(cell, ", {other}: {}", stats.calls);
        }
        cell
    }
}

impl ManyReport {
    fn summary(&self) -> String {
        format!(
            "many functions: a function not in memory (artifact path, c=1) p99 {} ms (goal < {ARTIFACT_P99_GOAL_MS} ms); \
             at c=16 p99 {} ms over {} calls; executor RSS per cached component {} KiB (weight counted {} KiB)",
            self.artifact_c1_p99_ms.map_or("-".to_owned(), num),
            self.artifact_p99_ms.map_or("-".to_owned(), num),
            self.artifact_calls,
            self.rss_per_entry_kib.map_or("-".to_owned(), num),
            self.weight_per_entry_bytes >> 10
        )
    }

    /// The section of the results file.
    pub fn markdown(&self, md: &mut String) {
        let mib = |b: u64| num(b as f64 / f64::from(1 << 20));
        let kib = |v: Option<u64>| v.map_or("-".to_owned(), |k| num(k as f64 / 1024.0));
        let _ = writeln!(
            md,
            "\n## Many functions\n\n{} distinct variants of `hello` (a custom section with a fresh tag each: \
             its own digest, artifact and cache entry), uploaded {} at a time in {} s. The executor was \
             restarted with `FAAS_CACHE_MAX_BYTES={}` ({} MiB: {} entries of {} KiB, a share of {} of all \
             the functions, so eviction shows; a `hello` entry weighs its {} KiB compiled image plus the \
             fixed allowance). Each phase first calls every function of its working set once (unmeasured), \
             then calls them over the HTTP api (token checked) at c={CONCURRENCY}, round-robin or with a Zipf \
             (s = {ZIPF_S}) popularity over the working set. Sources are the `{CACHE_HEADER}` header of each \
             answer: memory (cached), artifact (the signed precompiled artifact: the executor's local \
             copy, else `faas-artifacts`), compiled.\n",
            self.functions,
            self.upload_concurrency,
            num(self.upload_s),
            self.budget_bytes,
            mib(self.budget_bytes),
            self.budget_entries,
            self.weight_per_entry_bytes >> 10,
            BUDGET_SHARE,
            self.image_bytes >> 10,
        );
        md.push_str(
            "| functions | popularity | load | req/s | p50 ms | p99 ms | calls memory / artifact / compiled | \
             artifact p50 / p99 ms | cache entries | cache MiB | evictions | executor RSS MiB before / after | errors |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for p in &self.phases {
            let artifact = p
                .sources
                .get("artifact")
                .map_or("-".to_owned(), |s| format!("{} / {}", num(s.p50_ms), num(s.p99_ms)));
            let _ = writeln!(
                md,
                "| {} | {} | c={} | {} | {} | {} | {} | {artifact} | {} | {} | {} | {} / {} | {} |",
                p.working_set,
                p.popularity,
                p.concurrency,
                num(p.throughput_rps),
                num(p.p50_ms),
                num(p.p99_ms),
                p.sources_cell(),
                p.cache_entries.map_or("-".to_owned(), |e| e.to_string()),
                p.cache_bytes.map_or("-".to_owned(), mib),
                p.evictions.map_or("-".to_owned(), |e| e.to_string()),
                kib(p.rss_before_kib),
                kib(p.rss_after_kib),
                p.errors
            );
        }
        let verdict = match self.artifact_c1_p99_ms {
            Some(p99) if p99 < ARTIFACT_P99_GOAL_MS => "met",
            Some(_) => "**missed**",
            None => "no figure",
        };
        let _ = writeln!(
            md,
            "\nA function not in memory (artifact-sourced calls of the c=1 round-robin phase over all the \
             functions, each call a miss): p50 {} ms, p99 **{} ms** (goal < {ARTIFACT_P99_GOAL_MS} ms: \
             {verdict}); a warm call (memory) at c=1 in the same run: p50 {} ms, p99 {} ms. Under load (the c={CONCURRENCY} phases, each miss queued behind up to 15 others \
             on the shared cores): {} calls, p99 {} ms.\n\nExecutor RSS with one entry cached after \
             the restart: {} MiB; RSS per cached component ((RSS after − that) / (entries − 1), at the \
             phase with the most entries): **{} KiB**, against the {} KiB the cache counts per entry.",
            self.artifact_c1_p50_ms.map_or("-".to_owned(), num),
            self.artifact_c1_p99_ms.map_or("-".to_owned(), num),
            self.memory_c1_p50_ms.map_or("-".to_owned(), num),
            self.memory_c1_p99_ms.map_or("-".to_owned(), num),
            self.artifact_calls,
            self.artifact_p99_ms.map_or("-".to_owned(), num),
            kib(self.rss_base_kib),
            self.rss_per_entry_kib.map_or("-".to_owned(), num),
            self.weight_per_entry_bytes >> 10
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_puts_the_most_calls_on_the_first_ranks_and_round_robin_none() {
        let n = 2000;
        let zipf = Popularity::zipf(n, ZIPF_S);
        let mut counts = vec![0u32; n];
        for i in 0..200_000 {
            counts[zipf.pick(i, n)] += 1;
        }
        // Rank 1 holds 1 / H(2000, 1.1) ≈ 17 % of the mass; rank 2 half of rank 1's share.
        let first = f64::from(counts[0]) / 200_000.0;
        assert!((0.15..0.19).contains(&first), "rank 1 got {first}");
        let ratio = f64::from(counts[0]) / f64::from(counts[1]);
        assert!((1.9..2.4).contains(&ratio), "rank 1 / rank 2 = {ratio}");
        assert!(counts[n - 1] < counts[0] / 100);
        let rr = Popularity::RoundRobin;
        assert_eq!((0..6).map(|i| rr.pick(i, 3)).collect::<Vec<_>>(), [0, 1, 2, 0, 1, 2]);
    }
}

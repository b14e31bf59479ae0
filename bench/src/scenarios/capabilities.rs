//! What a host capability call costs: a warm key-value increment (the
//! `counter` guest, one `wasi:keyvalue/atomics.increment` on JetStream per
//! call) beside `hello` (no capability), over HTTP with auth on, in the
//! same run.
//!
//! At c=1 the difference is the capability's round trip (a read and a
//! revision-checked write); at c=16 every call increments the same key, so
//! the figure includes the retries of increments that lost the race.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail, ensure};
use reqwest::StatusCode;
use serde::Serialize;

use super::{BUCKET, Bench};
use crate::load::{Op, REQUEST_TIMEOUT, closed_loop};
use crate::machine::RunInfo;

/// Concurrencies measured.
const CONCURRENCY: [usize; 2] = [1, 16];
/// The counter's name as deployed, and the key it increments.
const COUNTER: &str = "counter";
const COUNTER_KEY: &[u8] = b"bench-visits";

/// One function at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct CapabilityRow {
    /// Deployed name.
    pub function: &'static str,
    /// What a call does.
    pub what: &'static str,
    /// Calls at once.
    pub concurrency: usize,
    /// Calls answered as expected.
    pub ok: u64,
    /// Calls that were not.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Calls per second.
    pub per_s: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
}

/// The capability figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct CapabilitiesReport {
    /// Machine and commit.
    pub run: RunInfo,
    /// Seconds per phase.
    pub duration_s: f64,
    /// One row per function and concurrency.
    pub rows: Vec<CapabilityRow>,
    /// What could not be measured.
    pub failures: Vec<String>,
}

impl Bench {
    /// Deploys `counter`, grants it key-value, and measures it beside `hello`.
    pub async fn capabilities(&mut self) -> CapabilitiesReport {
        let mut report = CapabilitiesReport {
            run: self.report.run.clone(),
            duration_s: self.settings.duration_s,
            rows: Vec::new(),
            failures: Vec::new(),
        };
        println!("\ncapabilities: warm key-value increment beside hello");
        if let Err(e) = self.deploy_counter().await {
            report.failures.push(format!("deploying the counter: {e:#}"));
            return report;
        }
        let hello = self.http_hello();
        let counter = counter_op(&self.http, self.exec_url(COUNTER));
        for concurrency in CONCURRENCY {
            for (function, what, op) in
                [("hello", "no capability", &hello), (COUNTER, "one wasi:keyvalue increment", &counter)]
            {
                closed_loop(op, concurrency, self.warmup().0, None).await;
                let out = closed_loop(op, concurrency, self.duration(), self.settings.max_requests).await;
                let row = CapabilityRow {
                    function,
                    what,
                    concurrency,
                    ok: out.ok,
                    errors: out.errors,
                    first_error: out.first_error.clone(),
                    per_s: out.ok as f64 / out.elapsed.as_secs_f64().max(1e-9),
                    p50_us: out.latency.value_at_quantile(0.5),
                    p99_us: out.latency.value_at_quantile(0.99),
                };
                println!(
                    "  {function:<8} c={concurrency:<3} {:>8.0}/s  p50 {:>6} µs  p99 {:>6} µs  errors {}",
                    row.per_s, row.p50_us, row.p99_us, row.errors
                );
                report.rows.push(row);
            }
        }
        report
    }

    async fn deploy_counter(&mut self) -> anyhow::Result<()> {
        let path = stack::guests::guest_path(COUNTER);
        let component = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        self.platform.upload(BUCKET, COUNTER, component).await?;
        let resp = self
            .http
            .put(format!("{}/config/{BUCKET}/{COUNTER}", self.platform.api_url))
            .json(&serde_json::json!({"capabilities": {"keyvalue": "write"}}))
            .send()
            .await?;
        let status = resp.status();
        ensure!(status == StatusCode::OK, "PUT /config: {status} {}", resp.text().await.unwrap_or_default());
        let op = counter_op(&self.http, self.exec_url(COUNTER));
        op().await.context("the first increment")
    }
}

/// `POST url` with the counter's key, expecting 200 and `{"result": "<n>"}`.
fn counter_op(http: &reqwest::Client, url: String) -> Op {
    let http = http.clone();
    let url: Arc<str> = url.into();
    Arc::new(move || {
        let (http, url) = (http.clone(), url.clone());
        Box::pin(async move {
            let resp = http.post(&*url).body(COUNTER_KEY).timeout(REQUEST_TIMEOUT).send().await?;
            let status = resp.status();
            let answer = resp.bytes().await.context("read the answer")?;
            if status != StatusCode::OK {
                bail!("HTTP {status}: {}", String::from_utf8_lossy(&answer));
            }
            let value: serde_json::Value = serde_json::from_slice(&answer)?;
            let count = value["result"].as_str().unwrap_or_default();
            ensure!(count.parse::<u64>().is_ok_and(|n| n > 0), "unexpected answer {value}");
            Ok(())
        })
    })
}

impl CapabilitiesReport {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let r = &self.run;
        let _ = writeln!(md, "# Capability call cost, {} ({})\n", r.started_utc, r.commit);
        let _ = writeln!(
            md,
            "{} cores, {} MiB, {}. Profile: {}. {} s per phase, over HTTP with auth on.\n",
            r.cores,
            r.memory_mib.unwrap_or(0),
            r.cpu_model.as_deref().unwrap_or("unknown CPU"),
            r.profile,
            self.duration_s
        );
        let _ = writeln!(md, "| function | what a call does | c | calls/s | p50 µs | p99 µs | errors |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for row in &self.rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.0} | {} | {} | {} |",
                row.function, row.what, row.concurrency, row.per_s, row.p50_us, row.p99_us, row.errors
            );
        }
        for concurrency in CONCURRENCY {
            let p50 = |function: &str| {
                self.rows
                    .iter()
                    .find(|r| r.function == function && r.concurrency == concurrency)
                    .map(|r| r.p50_us)
            };
            if let (Some(hello), Some(counter)) = (p50("hello"), p50(COUNTER)) {
                let _ = writeln!(
                    md,
                    "\nc={concurrency}: an increment adds {} µs to a call's p50 ({:.2}× hello).",
                    counter.saturating_sub(hello),
                    counter as f64 / hello.max(1) as f64
                );
            }
        }
        for failure in &self.failures {
            let _ = writeln!(md, "\nNot measured: {failure}");
        }
        md
    }

    /// Writes `<date>-<commit>-capabilities.md`, `.json` and
    /// `latest-capabilities.md` into `dir`; returns the Markdown file's path.
    pub fn write(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let stem = format!("{}-{}-capabilities", self.run.date_utc, self.run.short_commit);
        let md = self.markdown();
        let md_path = dir.join(format!("{stem}.md"));
        std::fs::write(&md_path, &md).with_context(|| format!("write {}", md_path.display()))?;
        let json_path = dir.join(format!("{stem}.json"));
        std::fs::write(&json_path, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("write {}", json_path.display()))?;
        let latest = dir.join("latest-capabilities.md");
        std::fs::write(&latest, &md).with_context(|| format!("write {}", latest.display()))?;
        Ok(md_path)
    }
}

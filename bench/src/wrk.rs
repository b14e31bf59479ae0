//! wrk, the external HTTP load generator: runs it and reads its figures.
//!
//! The bench's own generator (reqwest on tokio, [`crate::load`]) costs tens
//! of µs of CPU per request in the bench process, on the same two cores as
//! everything it measures. wrk (a C event loop, one connection per slot,
//! keep-alive) costs a few, and is what `wasmtime serve` would be measured
//! with, so the platform, the peer and the HTTP floor are all driven by it
//! with the same settings. A Lua script sets the request (method, body and
//! headers from the environment, so no token is written to disk) and, in
//! wrk's `done` hook, prints one JSON line with the exact figures (request
//! count, errors by kind, latency percentiles in µs) and wrk's own
//! `getrusage(RUSAGE_SELF)` through LuaJIT's FFI: its CPU time and context
//! switches, all threads included, just before it exits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::proccost::Cost;
use crate::report::{LoadStats, PhaseName};

/// Marks the line the script's `done` hook prints.
const MARK: &str = "FAAS_WRK ";

/// The Lua script every run uses.
const SCRIPT: &str = r#"-- faas-bench: POST the body in FAAS_WRK_BODY with the token in
-- FAAS_WRK_TOKEN (if any); at the end print the figures as one JSON line.
wrk.method = "POST"
wrk.body = os.getenv("FAAS_WRK_BODY") or ""
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("FAAS_WRK_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local has_ffi, ffi = pcall(require, "ffi")
if has_ffi then
  has_ffi = pcall(ffi.cdef, [[
    typedef struct { long tv_sec; long tv_usec; } faas_timeval;
    typedef struct { faas_timeval utime; faas_timeval stime; long rest[14]; } faas_rusage;
    int getrusage(int who, faas_rusage *usage);
  ]])
end

local function rusage()
  if not has_ffi then return "null" end
  local ru = ffi.new("faas_rusage")
  if ffi.C.getrusage(0, ru) ~= 0 then return "null" end
  local us = function(tv) return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec) end
  -- rest[12], rest[13]: ru_nvcsw, ru_nivcsw
  return string.format('{"utime_us":%.0f,"stime_us":%.0f,"voluntary":%.0f,"involuntary":%.0f}',
    us(ru.utime), us(ru.stime), tonumber(ru.rest[12]), tonumber(ru.rest[13]))
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'FAAS_WRK {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"connect_errors":%.0f,"read_errors":%.0f,"write_errors":%.0f,"status_errors":%.0f,"timeouts":%.0f,' ..
    '"min_us":%.0f,"max_us":%.0f,"mean_us":%.3f,"stdev_us":%.3f,' ..
    '"p50_us":%.0f,"p75_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"p999_us":%.0f,"rusage":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), rusage()))
end
"#;

/// wrk's own resource use, from its `getrusage(RUSAGE_SELF)`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub struct Rusage {
    /// User CPU, µs.
    pub utime_us: f64,
    /// System CPU, µs.
    pub stime_us: f64,
    /// Voluntary context switches.
    pub voluntary: f64,
    /// Involuntary context switches.
    pub involuntary: f64,
}

/// What one wrk run measured (its `done` hook's line).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Figures {
    /// Requests completed (any status).
    pub requests: u64,
    /// Length of the run, µs.
    pub duration_us: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Connections that could not be made.
    pub connect_errors: u64,
    /// Socket read errors.
    pub read_errors: u64,
    /// Socket write errors.
    pub write_errors: u64,
    /// Answers with a status above 399.
    pub status_errors: u64,
    /// Requests over wrk's `--timeout`.
    pub timeouts: u64,
    /// Fastest, µs.
    pub min_us: f64,
    /// Slowest, µs.
    pub max_us: f64,
    /// Mean, µs.
    pub mean_us: f64,
    /// Standard deviation, µs.
    pub stdev_us: f64,
    /// Median, µs.
    pub p50_us: f64,
    /// 75th percentile, µs.
    pub p75_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// wrk's CPU time and context switches, if its LuaJIT has the FFI.
    pub rusage: Option<Rusage>,
}

impl Figures {
    /// Reads the marked line out of wrk's output.
    pub fn parse(stdout: &str) -> anyhow::Result<Self> {
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(MARK))
            .with_context(|| format!("wrk printed no {MARK:?} line (is its Lua hook running?)"))?;
        serde_json::from_str(line).with_context(|| format!("unreadable wrk figures {line:?}"))
    }

    /// Every request that did not come back with a status below 400.
    pub fn errors(&self) -> u64 {
        self.connect_errors + self.read_errors + self.write_errors + self.status_errors + self.timeouts
    }

    /// Requests answered with a status below 400.
    pub fn ok(&self) -> u64 {
        self.requests.saturating_sub(self.status_errors)
    }

    /// The phase as the report's load table has it.
    pub fn load_stats(&self, name: &PhaseName, concurrency: usize) -> LoadStats {
        let elapsed_s = self.duration_us as f64 / 1e6;
        let errors = self.errors();
        LoadStats {
            id: format!("{}-c{concurrency}", name.group),
            label: name.label.clone(),
            transport: name.transport.to_owned(),
            concurrency: Some(concurrency),
            rate_per_s: None,
            ok: self.ok(),
            errors,
            first_error: (errors > 0).then(|| {
                format!(
                    "wrk: {} answers >= 400, {} connect, {} read, {} write errors, {} timeouts",
                    self.status_errors,
                    self.connect_errors,
                    self.read_errors,
                    self.write_errors,
                    self.timeouts
                )
            }),
            elapsed_s,
            throughput_rps: self.ok() as f64 / elapsed_s.max(1e-9),
            p50_ms: self.p50_us / 1000.0,
            p90_ms: self.p90_us / 1000.0,
            p99_ms: self.p99_us / 1000.0,
            max_ms: self.max_us / 1000.0,
            mean_ms: self.mean_us / 1000.0,
            service_p50_ms: None,
            service_p99_ms: None,
        }
    }

    /// wrk's own CPU and context switches per request.
    pub fn generator_cost(&self) -> Option<Cost> {
        let ru = self.rusage?;
        let per = |v: f64| if self.requests > 0 { v / self.requests as f64 } else { 0.0 };
        Some(Cost {
            process: "wrk (generator)".to_owned(),
            cpu_us_per_request: per(ru.utime_us + ru.stime_us),
            ctx_switches_per_request: per(ru.voluntary + ru.involuntary),
            voluntary_per_request: per(ru.voluntary),
            ticks_cpu_us_per_request: None,
            source: "wrk's getrusage(RUSAGE_SELF) at exit".to_owned(),
        })
    }
}

/// A request to load: where, what body, which token.
#[derive(Debug, Clone)]
pub struct Request {
    /// Full URL.
    pub url: String,
    /// `POST` body.
    pub body: &'static [u8],
    /// Bearer token, if the target checks one.
    pub token: Option<String>,
}

/// A wrk binary and the script it runs.
#[derive(Debug, Clone)]
pub struct Wrk {
    bin: PathBuf,
    script: PathBuf,
    /// `wrk -v`'s first line.
    pub version: String,
}

impl Wrk {
    /// Checks `bin` runs and writes the script into `dir`.
    pub fn new(bin: &Path, dir: &Path) -> anyhow::Result<Self> {
        let out = Command::new(bin)
            .arg("-v")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run {} -v", bin.display()))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        let version = text.lines().next().unwrap_or("wrk").trim().to_owned();
        anyhow::ensure!(version.starts_with("wrk"), "{} -v does not say it is wrk: {text:?}", bin.display());
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let script = dir.join("faas-bench-wrk.lua");
        std::fs::write(&script, SCRIPT).with_context(|| format!("write {}", script.display()))?;
        Ok(Self { bin: bin.to_path_buf(), script, version })
    }

    /// The command line of a run, for the report (no token in it).
    pub fn command(threads: usize, concurrency: usize, duration: Duration) -> String {
        format!(
            "wrk -t{} -c{concurrency} -d{}s --latency --timeout 30s -s faas-bench-wrk.lua URL",
            threads.clamp(1, concurrency.max(1)),
            whole_seconds(duration)
        )
    }

    /// Runs wrk against `request` with `concurrency` connections on
    /// `threads` threads for `duration` (whole seconds, at least 1);
    /// returns its figures and its whole output.
    pub async fn run(
        &self,
        request: &Request,
        threads: usize,
        concurrency: usize,
        duration: Duration,
    ) -> anyhow::Result<(Figures, String)> {
        let mut command = Command::new(&self.bin);
        command
            .arg(format!("-t{}", threads.clamp(1, concurrency.max(1))))
            .arg(format!("-c{}", concurrency.max(1)))
            .arg(format!("-d{}s", whole_seconds(duration)))
            .args(["--latency", "--timeout", "30s", "-s"])
            .arg(&self.script)
            .arg(&request.url)
            .env("FAAS_WRK_BODY", String::from_utf8_lossy(request.body).as_ref())
            .env("FAAS_WRK_TOKEN", request.token.as_deref().unwrap_or(""))
            .stdin(Stdio::null());
        let out = tokio::task::spawn_blocking(move || command.output())
            .await
            .context("the wrk task panicked")?
            .context("run wrk")?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!("wrk failed ({}): {}{}", out.status, stdout, String::from_utf8_lossy(&out.stderr));
        }
        Ok((Figures::parse(&stdout)?, stdout))
    }
}

fn whole_seconds(duration: Duration) -> u64 {
    (duration.as_secs_f64().ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 1s test @ http://127.0.0.1:1/\n  1 threads and 1 connections\n\
        Requests/sec:   6004.06\n\
        FAAS_WRK {\"requests\":12070,\"duration_us\":2010307,\"bytes\":1940000,\"connect_errors\":0,\
        \"read_errors\":0,\"write_errors\":0,\"status_errors\":70,\"timeouts\":0,\"min_us\":40,\
        \"max_us\":11790,\"mean_us\":890.500,\"stdev_us\":1550.000,\"p50_us\":75,\"p75_us\":1200,\
        \"p90_us\":3013,\"p99_us\":7254,\"p999_us\":9000,\"rusage\":{\"utime_us\":7511,\
        \"stime_us\":75118,\"voluntary\":952,\"involuntary\":3}}\n";

    #[test]
    fn reads_the_hook_line_and_counts_status_errors() {
        let f = Figures::parse(OUTPUT).unwrap();
        assert_eq!((f.requests, f.ok(), f.errors()), (12070, 12000, 70));
        let stats = f.load_stats(&PhaseName::new("wrk-peer", "peer", "http"), 1);
        assert_eq!(stats.id, "wrk-peer-http-c1");
        assert_eq!((stats.p50_ms, stats.p90_ms, stats.p99_ms), (0.075, 3.013, 7.254));
        assert!((stats.throughput_rps - 12000.0 / 2.010307).abs() < 1e-6);
        assert!(stats.first_error.unwrap().contains("70 answers >= 400"));
        let cost = f.generator_cost().unwrap();
        assert!((cost.cpu_us_per_request - (7511.0 + 75118.0) / 12070.0).abs() < 1e-9);
        assert!((cost.ctx_switches_per_request - 955.0 / 12070.0).abs() < 1e-12);
    }

    #[test]
    fn without_the_hook_line_it_says_so() {
        let e = Figures::parse("Requests/sec: 1\n").unwrap_err();
        assert!(format!("{e:#}").contains("FAAS_WRK"), "{e:#}");
        let no_ffi = OUTPUT
            .replace("{\"utime_us\":7511,\"stime_us\":75118,\"voluntary\":952,\"involuntary\":3}", "null");
        assert!(Figures::parse(&no_ffi).unwrap().generator_cost().is_none());
    }

    #[test]
    fn durations_are_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(200)), 1);
        assert_eq!(whole_seconds(Duration::from_secs_f64(2.5)), 3);
        assert!(Wrk::command(2, 1, Duration::from_secs(3)).starts_with("wrk -t1 -c1 -d3s"));
    }
}

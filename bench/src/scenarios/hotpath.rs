//! Where a warm call's CPU goes, per process (`--only hotpath`): warm
//! `hello` over NATS directly and over HTTP, at c=64 and c=1, each phase
//! bracketed by the CPU time (user + system) and the context switches of
//! the executor, the api, nats-server and the bench process itself, per
//! request. These are the figures `perf record` profiles are read against
//! (`bench/results/*-hotpath.md`): proportional, so they hold on a busy
//! machine better than latencies do.

use std::time::Duration;

use super::Bench;
use crate::load::closed_loop;
use crate::procstat;
use crate::report::{LoadStats, PhaseName};

/// The phases, in the order run: the c=64 ones first, while nothing else
/// has warmed anything.
const PHASES: [(&str, usize); 4] = [("nats", 64), ("http", 64), ("nats", 1), ("http", 1)];

/// CPU ticks and context switches of one process at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    ticks: u64,
    switches: u64,
}

fn sample(pid: Option<u32>) -> Option<Sample> {
    let pid = pid?;
    Some(Sample { ticks: procstat::cpu_ticks(pid).ok()?, switches: context_switches(pid)? })
}

/// Voluntary and involuntary context switches of every thread of `pid`.
fn context_switches(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let status = std::fs::read_to_string(task.ok()?.path().join("status")).ok()?;
        total += status
            .lines()
            .filter(|line| {
                line.starts_with("voluntary_ctxt_switches") || line.starts_with("nonvoluntary_ctxt_switches")
            })
            .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Some(total)
}

/// The nats-server this process started (a child named `nats-server`).
fn nats_server_pid() -> Option<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let (name, rest) = stat.split_once(" (")?.1.rsplit_once(')')?;
        let parent = rest.split_whitespace().nth(1)?;
        (name == "nats-server" && parent == me).then_some(pid)
    })
}

impl Bench {
    /// Warm `hello` per transport and concurrency, with CPU µs and context
    /// switches per request of each process.
    pub async fn hotpath(&mut self) -> anyhow::Result<()> {
        let pids = [
            ("executor", Some(self.platform.executor_pid())),
            ("api", Some(self.platform.api_pid())),
            ("nats-server", nats_server_pid()),
            ("bench", Some(std::process::id())),
        ];
        println!("      pids: {pids:?}");
        let ticks_per_s = procstat::clock_ticks_per_second() as f64;
        let mut rows = Vec::new();
        for (transport, c) in PHASES {
            let (op, name) = match transport {
                "nats" => (self.nats_hello(), PhaseName::new("hotpath", "warm hello: NATS direct", "nats")),
                _ => (self.http_hello(), PhaseName::new("hotpath", "warm hello: HTTP api", "http")),
            };
            let (warmup, warmup_max) = self.warmup();
            closed_loop(&op, c, warmup, warmup_max).await;
            println!("      hotpath {transport} c={c}: measuring for {} s", self.duration().as_secs_f64());
            let before = pids.map(|(_, pid)| sample(pid));
            let out = closed_loop(&op, c, self.duration(), self.settings.max_requests).await;
            let after = pids.map(|(_, pid)| sample(pid));
            let stats = LoadStats::new(&name, Some(c), None, &out);
            let requests = (out.ok + out.errors).max(1) as f64;
            let mut row = format!(
                "| {transport} c={c} | {:.0} | {:.3} | {:.3} |",
                stats.throughput_rps, stats.p50_ms, stats.p99_ms
            );
            for i in 0..pids.len() {
                let (Some(b), Some(a)) = (before[i], after[i]) else {
                    row.push_str(" - | - |");
                    continue;
                };
                let us = (a.ticks - b.ticks) as f64 / ticks_per_s * 1e6 / requests;
                let switches = (a.switches - b.switches) as f64 / requests;
                row.push_str(&format!(" {us:.1} | {switches:.2} |"));
            }
            println!("{row}");
            rows.push(row);
            self.report.add_load(stats);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!(
            "\n| phase | req/s | p50 ms | p99 ms | executor µs | executor cs | api µs | api cs | nats µs | nats cs | bench µs | bench cs |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
        Ok(())
    }
}

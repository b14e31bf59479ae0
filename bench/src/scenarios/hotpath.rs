//! Where a warm call's CPU goes, per process (`--only hotpath`): warm
//! `hello` over NATS directly and over HTTP, at c=64 and c=1, each phase
//! bracketed by the on-CPU time and the context switches (`proccost`) of
//! the executor, the api, nats-server and the bench process itself, per
//! request. These are the figures `perf record` profiles are read against
//! (`bench/results/*-hotpath.md`): proportional, so they hold on a busy
//! machine better than latencies do.

use std::time::Duration;

use super::Bench;
use crate::load::closed_loop;
use crate::proccost::Watch;
use crate::report::{LoadStats, PhaseName};

/// The phases, in the order run: the c=64 ones first, while nothing else
/// has warmed anything.
const PHASES: [(&str, usize); 4] = [("nats", 64), ("http", 64), ("nats", 1), ("http", 1)];

impl Bench {
    /// Warm `hello` per transport and concurrency, with CPU µs and context
    /// switches per request of each process.
    pub async fn hotpath(&mut self) -> anyhow::Result<()> {
        let mut processes =
            vec![("executor", self.platform.executor_pid()), ("api", self.platform.api_pid())];
        processes.extend(self.platform.nats_pid().map(|pid| ("nats-server", pid)));
        processes.push(("bench", std::process::id()));
        println!("      pids: {processes:?}");
        let mut rows = Vec::new();
        for (transport, c) in PHASES {
            let (op, name) = match transport {
                "nats" => (self.nats_hello(), PhaseName::new("hotpath", "warm hello: NATS direct", "nats")),
                _ => (self.http_hello(), PhaseName::new("hotpath", "warm hello: HTTP api", "http")),
            };
            let (warmup, warmup_max) = self.warmup();
            closed_loop(&op, c, warmup, warmup_max).await;
            println!("      hotpath {transport} c={c}: measuring for {} s", self.duration().as_secs_f64());
            let cpu = Watch::start(&processes);
            let out = closed_loop(&op, c, self.duration(), self.settings.max_requests).await;
            let stats = LoadStats::new(&name, Some(c), None, &out);
            let costs = cpu.finish(out.ok + out.errors);
            let mut row = format!(
                "| {transport} c={c} | {:.0} | {:.3} | {:.3} |",
                stats.throughput_rps, stats.p50_ms, stats.p99_ms
            );
            for process in ["executor", "api", "nats-server", "bench"] {
                match costs.iter().find(|cost| cost.process == process) {
                    Some(cost) => row.push_str(&format!(
                        " {:.1} | {:.2} |",
                        cost.cpu_us_per_request, cost.ctx_switches_per_request
                    )),
                    None => row.push_str(" - | - |"),
                }
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

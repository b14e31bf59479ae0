//! Async jobs against sync calls in one run (`--only jobs`): warm `hello`
//! over HTTP at c=64, then the async phase with the same 64 workers, so
//! issue 15's ratios (submit ≥ 1.0×, completion ≥ 0.8× the sync
//! throughput) come from one platform under the same conditions. CPU per
//! call and per job of every process is read from `/proc` around both
//! phases, which is what says where a job costs more than a call.

use crate::jobs::{cpu_per, cpu_text};
use crate::load::closed_loop;
use crate::proccost::Watch;
use crate::report::{LoadStats, PhaseName};

use super::Bench;

/// The sync yardstick's concurrency (as `warm-http-c64`).
const SYNC_CONCURRENCY: usize = 64;

impl Bench {
    /// The processes whose CPU time a job costs.
    pub(super) fn job_processes(&self) -> Vec<(&'static str, u32)> {
        let mut processes = vec![
            ("faas-api", self.platform.api_pid()),
            ("faas-dispatcher", self.platform.dispatcher_pid()),
            ("faas-executor", self.platform.executor_pid()),
        ];
        if let Some(pid) = self.platform.nats_pid() {
            processes.push(("nats-server", pid));
        }
        processes.push(("bench", std::process::id()));
        processes
    }

    /// Warm `hello` over HTTP at c=64 (CPU per call printed), then the
    /// async jobs, read against it.
    pub async fn jobs(&mut self) -> anyhow::Result<()> {
        let http = self.http_hello();
        let name = PhaseName::new("warm", "warm hello: HTTP api", "http");
        let (warmup, warmup_max) = self.warmup();
        closed_loop(&http, SYNC_CONCURRENCY, warmup, warmup_max).await;
        let processes = self.job_processes();
        let cpu = Watch::start(&processes);
        let out = closed_loop(&http, SYNC_CONCURRENCY, self.duration(), self.settings.max_requests).await;
        let stats = LoadStats::new(&name, Some(SYNC_CONCURRENCY), None, &out);
        self.report.add_load(stats);
        let per_call = cpu_per(cpu, out.ok + out.errors);
        println!("      CPU per call: {}", cpu_text(&per_call));
        self.async_jobs().await?;
        if let Some(j) = &mut self.report.async_jobs {
            j.set_sync_cpu(per_call);
            let ratio = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{}x", crate::report::num(v)));
            println!(
                "      vs sync HTTP c=64: submit {}, completion {}; CPU per job: {} ({} a call's)",
                ratio(j.submit_vs_sync),
                ratio(j.completion_vs_sync),
                cpu_text(&j.cpu_us_per_job),
                ratio(j.cpu_per_job_vs_call)
            );
        }
        Ok(())
    }
}

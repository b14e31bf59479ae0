//! What one process spends on a phase: CPU time and context switches, read
//! from `/proc` before and after, for the per-request breakdown.
//!
//! `/proc/<pid>/stat` counts CPU in clock ticks (10 ms at 100 Hz), too
//! coarse for a short phase at a few thousand requests per second; each
//! thread's `/proc/<pid>/task/<tid>/schedstat` has its on-CPU time in
//! nanoseconds, and its `status` the thread's voluntary and involuntary
//! context switches (the process's own `status` shows only its main
//! thread's). Both are summed over the threads alive at the end, a thread
//! born during the phase counting from zero; a thread that ended during it
//! is lost, which is why the tick count is kept beside as a cross-check.

use std::collections::HashMap;

use anyhow::{Context as _, anyhow};
use serde::Serialize;

use crate::procstat;

/// One thread's counters.
#[derive(Debug, Clone, Copy, Default)]
struct Thread {
    run_ns: u64,
    voluntary: u64,
    involuntary: u64,
}

/// A process's counters at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    threads: HashMap<u32, Thread>,
    ticks: u64,
}

/// Reads `pid`'s counters.
pub fn snapshot(pid: u32) -> anyhow::Result<Snapshot> {
    let ticks = procstat::cpu_ticks(pid)?;
    let dir = format!("/proc/{pid}/task");
    let mut threads = HashMap::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("read {dir}"))? {
        let entry = entry?;
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
        // A thread may end between the listing and the reads: skip it.
        let Ok(schedstat) = std::fs::read_to_string(entry.path().join("schedstat")) else { continue };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        threads.insert(tid, parse_thread(&schedstat, &status)?);
    }
    Ok(Snapshot { threads, ticks })
}

fn parse_thread(schedstat: &str, status: &str) -> anyhow::Result<Thread> {
    // "<on-CPU ns> <run-queue wait ns> <timeslices>"
    let run_ns = schedstat
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("unreadable schedstat {schedstat:?}"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim_start_matches(':').trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(Thread {
        run_ns,
        voluntary: field("voluntary_ctxt_switches"),
        involuntary: field("nonvoluntary_ctxt_switches"),
    })
}

/// What a process spent over a phase, per request.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    /// Which process (`faas-api`, `wrk`, ...).
    pub process: String,
    /// On-CPU time (user + system) per request, µs.
    pub cpu_us_per_request: f64,
    /// Context switches (voluntary + involuntary) per request.
    pub ctx_switches_per_request: f64,
    /// Voluntary ones alone (the process waited: a read, a futex, a poll).
    pub voluntary_per_request: f64,
    /// The same CPU from `/proc/<pid>/stat` ticks (coarse, counts ended
    /// threads), µs per request; `None` where only rusage was read.
    pub ticks_cpu_us_per_request: Option<f64>,
    /// Where the figures come from.
    pub source: String,
}

impl Cost {
    /// The cost between two snapshots of `process` over `requests`.
    pub fn between(process: &str, before: &Snapshot, after: &Snapshot, requests: u64) -> Self {
        let mut total = Thread::default();
        for (tid, now) in &after.threads {
            let then = before.threads.get(tid).copied().unwrap_or_default();
            total.run_ns += now.run_ns.saturating_sub(then.run_ns);
            total.voluntary += now.voluntary.saturating_sub(then.voluntary);
            total.involuntary += now.involuntary.saturating_sub(then.involuntary);
        }
        let per = |v: f64| if requests > 0 { v / requests as f64 } else { 0.0 };
        let tick_us = 1e6 / procstat::clock_ticks_per_second() as f64;
        Self {
            process: process.to_owned(),
            cpu_us_per_request: per(total.run_ns as f64 / 1000.0),
            ctx_switches_per_request: per((total.voluntary + total.involuntary) as f64),
            voluntary_per_request: per(total.voluntary as f64),
            ticks_cpu_us_per_request: Some(per(after.ticks.saturating_sub(before.ticks) as f64 * tick_us)),
            source: "/proc task schedstat and status".to_owned(),
        }
    }
}

/// Snapshots of several processes taken together.
#[derive(Debug, Default)]
pub struct Watch {
    processes: Vec<(String, u32, Option<Snapshot>)>,
}

impl Watch {
    /// Snapshots each `(name, pid)` now; one that cannot be read is left
    /// out of the costs rather than failing the phase.
    pub fn start(processes: &[(&str, u32)]) -> Self {
        Self {
            processes: processes
                .iter()
                .map(|&(name, pid)| (name.to_owned(), pid, snapshot(pid).ok()))
                .collect(),
        }
    }

    /// The cost of each process since [`Watch::start`], over `requests`.
    pub fn finish(self, requests: u64) -> Vec<Cost> {
        self.processes
            .into_iter()
            .filter_map(|(name, pid, before)| {
                let (before, after) = (before?, snapshot(pid).ok()?);
                Some(Cost::between(&name, &before, &after, requests))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_thread() {
        let t = parse_thread(
            "123456 789 10\n",
            "Name:\tx\nvoluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t3\n",
        )
        .unwrap();
        assert_eq!((t.run_ns, t.voluntary, t.involuntary), (123_456, 7, 3));
        assert!(parse_thread("", "").is_err());
    }

    #[test]
    fn counts_the_cpu_this_thread_spins() {
        let me = std::process::id();
        let before = snapshot(me).unwrap();
        // Spins until 20 ms of on-CPU time show (however busy the machine):
        // the loop ending is the check, bounded so a broken count fails.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let cost = loop {
            for _ in 0..100_000 {
                std::hint::spin_loop();
            }
            let cost = Cost::between("me", &before, &snapshot(me).unwrap(), 10);
            if cost.cpu_us_per_request >= 2000.0 {
                break cost;
            }
            assert!(std::time::Instant::now() < give_up, "spinning never showed as CPU: {cost:?}");
        };
        assert!(cost.ticks_cpu_us_per_request.is_some());
        assert_eq!(Cost::between("me", &before, &before, 0).cpu_us_per_request, 0.0);
    }
}

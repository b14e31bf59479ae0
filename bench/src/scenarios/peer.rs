//! The issue-15 part: wrk against the HTTP floor, the platform's warm
//! `hello` (token checked) and the peer (`wasmtime serve` with
//! `hello-http`), at c=1 and c=64, interleaved so a change in the machine's
//! load hits all three alike; what each process spends per request; and,
//! alone (`--only peer`), the floors, NATS direct and the in-process call
//! the verdict also needs.

use std::path::PathBuf;

use anyhow::Context as _;

use super::{BUCKET, Bench, load_client};
use crate::floors;
use crate::issue15::{WrkPhase, floor_id, peer_id, warm_id};
use crate::load::{Op, closed_loop};
use crate::ops::{self, HELLO_HTTP_ANSWER, HELLO_INPUT, HELLO_OUTPUT};
use crate::peer::Peer;
use crate::proccost::Watch;
use crate::report::PhaseName;
use crate::wrk::{Request, Wrk};

/// Connections of the wrk phases.
const WRK_CONCURRENCY: [usize; 2] = [1, 64];
/// NATS direct concurrencies `--only peer` measures.
const NATS_CONCURRENCY: [usize; 2] = [1, 64];

/// The external tools the part needs; `scripts/bench.sh` installs them.
#[derive(Debug, Clone)]
pub struct PeerTools {
    /// wrk (`--wrk`, default `wrk` on `PATH`).
    pub wrk: PathBuf,
    /// The `wasmtime` CLI for the peer (`--wasmtime`).
    pub wasmtime: Option<PathBuf>,
    /// wrk threads for the c=64 phases (c=1 runs on one).
    pub wrk_threads: usize,
}

/// What one wrk phase loads, and who serves it.
struct Target<'a> {
    name: PhaseName,
    kind: &'static str,
    request: Request,
    warmup: Op,
    processes: Vec<(&'a str, u32)>,
}

impl Bench {
    /// `--only peer`: floors, NATS direct, the wrk phases and the
    /// in-process call, then the verdict rows those feed.
    pub async fn only_peer(&mut self, tools: &PeerTools) -> anyhow::Result<()> {
        self.floors().await.context("floors")?;
        let nats = self.nats_hello();
        let name = PhaseName::new("warm", "warm hello: NATS direct", "nats");
        for c in NATS_CONCURRENCY {
            self.closed(&name, &nats, c, self.duration(), None, self.warmup()).await;
        }
        let result = self.peer(tools).await;
        self.in_process().await;
        result
    }

    /// The wrk phases against the floor, the platform and the peer.
    pub async fn peer(&mut self, tools: &PeerTools) -> anyhow::Result<()> {
        let wrk = match Wrk::new(&tools.wrk, self.platform.log_dir()) {
            Ok(wrk) => wrk,
            Err(e) => {
                let why = format!(
                    "wrk is not available ({e:#}); scripts/bench.sh installs it (apt-get install wrk)"
                );
                println!("wrk phases skipped: {why}");
                self.report.issue15.wrk_unavailable = Some(why);
                return Ok(());
            }
        };
        self.report.issue15.generator = Some(wrk.version.clone());
        let (floor_url, _floor) = floors::start_constant_http().await?;
        let token = self.platform.mint_token("bench wrk invoker", &[&format!("invoke:{BUCKET}")]).await?;
        let peer = match self.start_peer(tools).await {
            Ok(peer) => Some(peer),
            Err(e) => {
                println!("peer phases skipped: {e:#}");
                self.report.issue15.peer_unavailable = Some(format!("{e:#}"));
                None
            }
        };
        if let Some(peer) = &peer {
            self.report.issue15.peer = Some(peer.info.clone());
        }

        let me = std::process::id();
        let mut platform =
            vec![("faas-api", self.platform.api_pid()), ("faas-executor", self.platform.executor_pid())];
        platform.extend(self.platform.nats_pid().map(|pid| ("nats-server", pid)));
        let floor = Target {
            name: PhaseName::new("wrk-floor", "wrk: HTTP constant (in-process axum)", "http"),
            kind: "floor",
            request: Request { url: floor_url.clone(), body: HELLO_INPUT, token: None },
            warmup: ops::http_post(&load_client(None)?, floor_url, HELLO_INPUT, floors::CONSTANT_ANSWER),
            processes: vec![("faas-bench (constant server)", me)],
        };
        let url = self.exec_url("hello");
        let warm = Target {
            name: PhaseName::new("wrk-warm", "wrk: warm hello: HTTP api (invoke token)", "http"),
            kind: "platform",
            request: Request { url: url.clone(), body: HELLO_INPUT, token: Some(token.clone()) },
            warmup: ops::http_post(&load_client(Some(&token))?, url, HELLO_INPUT, HELLO_HTTP_ANSWER),
            processes: platform,
        };
        let peer_target = match &peer {
            Some(peer) => Some(Target {
                name: PhaseName::new("wrk-peer", "wrk: peer wasmtime serve hello-http", "http"),
                kind: "peer",
                request: Request { url: peer.url.clone(), body: HELLO_INPUT, token: None },
                warmup: ops::http_request(
                    &load_client(None)?,
                    reqwest::Method::POST,
                    peer.url.clone(),
                    HELLO_INPUT,
                    HELLO_OUTPUT,
                ),
                processes: vec![("wasmtime serve", peer.pid())],
            }),
            None => None,
        };
        // Interleaved per concurrency, so drift in the machine's load
        // touches the three alike.
        for c in WRK_CONCURRENCY {
            let threads = if c == 1 { 1 } else { tools.wrk_threads };
            for target in [Some(&floor), Some(&warm), peer_target.as_ref()].into_iter().flatten() {
                if let Err(e) = self.wrk_phase(&wrk, target, threads, c).await {
                    println!("{} at c={c} failed: {e:#}", target.name.label);
                    self.report.failures.push(format!("{} at c={c}: {e:#}", target.name.label));
                }
            }
        }
        for (id, what) in [(warm_id(1), "platform"), (peer_id(1), "peer"), (floor_id(1), "floor")] {
            if let Some(p) = self.report.issue15.phase(&id) {
                let costs: Vec<String> = p
                    .costs
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {} µs, {} cs",
                            c.process,
                            crate::report::num(c.cpu_us_per_request),
                            crate::report::num(c.ctx_switches_per_request)
                        )
                    })
                    .collect();
                println!("      per request at c=1 ({what}): {}", costs.join("; "));
            }
        }
        Ok(())
    }

    async fn start_peer(&self, tools: &PeerTools) -> anyhow::Result<Peer> {
        let wasmtime = tools.wasmtime.clone().context(
            "no wasmtime CLI given (--wasmtime or FAAS_BENCH_WASMTIME; scripts/bench.sh installs one)",
        )?;
        // `guest_path` panics when the component is missing: a plain error here.
        let component =
            tokio::task::spawn_blocking(|| stack::guests::guest_path("hello-http")).await.map_err(|_| {
                anyhow::anyhow!("hello-http.wasm not found (scripts/build-functions.sh builds it)")
            })?;
        Peer::start(&wasmtime, &component, self.platform.log_dir()).await
    }

    /// Warms `target` up at `c`, then runs wrk with the processes watched.
    async fn wrk_phase(
        &mut self,
        wrk: &Wrk,
        target: &Target<'_>,
        threads: usize,
        c: usize,
    ) -> anyhow::Result<()> {
        let (warmup, _) = self.warmup();
        let warm = closed_loop(&target.warmup, c, warmup, None).await;
        anyhow::ensure!(
            warm.ok > 0 && warm.errors == 0,
            "the warm-up failed: {}",
            warm.first_error.as_deref().unwrap_or("no request answered")
        );
        let watch = Watch::start(&target.processes);
        let (figures, output) = wrk.run(&target.request, threads, c, self.duration()).await?;
        let mut costs = Vec::from_iter(figures.generator_cost());
        costs.extend(watch.finish(figures.requests));
        let log = self.platform.log_dir().join(format!("{}-c{c}.txt", target.name.group));
        let _ = std::fs::write(log, output);
        let stats = figures.load_stats(&target.name, c);
        let id = stats.id.clone();
        self.report.add_load(stats);
        self.report.issue15.phases.push(WrkPhase {
            id,
            target: target.kind.to_owned(),
            concurrency: c,
            threads: threads.clamp(1, c),
            figures,
            costs,
        });
        Ok(())
    }
}

//! `faas-bench`: measures the wasm-faas platform end to end on this machine.
//!
//! Starts nats-server, an S3 server and the real service binaries, deploys
//! the example functions through the HTTP api, and measures in one run:
//! transport floors, warm calls over HTTP and NATS, the original
//! compile-every-call path, cold starts, async job throughput, the runtime's
//! in-process cost and the services' memory and CPU, then the per-language
//! figures (`hello` in Rust, Python and JavaScript; `--only languages` runs
//! just those), and the issue-15 part: wrk against the platform, the peer
//! (`wasmtime serve`) and the HTTP floor, the per-request breakdown and the
//! verdict on the issue's ratio targets (`--only peer`). Results are printed as phases finish and written to
//! `bench/results/` (Markdown and JSON). `scripts/bench.sh` builds
//! everything and runs it.

mod call_memory;
mod floors;
mod inprocess;
mod issue15;
mod jobs;
mod load;
mod machine;
mod ops;
mod peer;
mod platform;
mod proccost;
mod procstat;
mod report;
mod scenarios;
mod wrk;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::Parser;

use crate::platform::Platform;
use crate::report::{Report, Settings};
use crate::scenarios::{Bench, PeerTools};

/// Default `--out-dir`: `bench/results` of this checkout, wherever the
/// binary is started from.
const DEFAULT_OUT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/results");

/// Benchmark the wasm-faas platform on this machine.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Length of each measured load phase, in seconds.
    #[arg(long, default_value_t = 3.0)]
    duration_secs: f64,
    /// Smoke run: 1 s phases (overriding --duration-secs) and fewer cold-start
    /// repetitions.
    #[arg(long)]
    quick: bool,
    /// End a closed-loop phase after this many requests even if time is left.
    #[arg(long)]
    max_requests: Option<u64>,
    /// Most async jobs the async phase submits (it also ends after the phase
    /// duration) [default: 10000, 300 with --quick].
    #[arg(long)]
    async_jobs: Option<u64>,
    /// Requests per second of the fixed-rate (open-loop) phases.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Where the result files go (default: this checkout's bench/results).
    #[arg(long, default_value = DEFAULT_OUT_DIR)]
    out_dir: PathBuf,
    /// Print the results only; write no files.
    #[arg(long)]
    no_write: bool,
    /// Directory holding faas-dispatcher, faas-executor and faas-api
    /// (default: the directory of this executable).
    #[arg(long, env = "FAAS_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// A setting for every service the bench starts, `KEY=VALUE`
    /// (repeatable), after the bench's own: how to measure a setting, since
    /// the caller's `FAAS_*` variables never reach the services. The
    /// results name them.
    #[arg(long = "service-env", value_name = "KEY=VALUE", value_parser = parse_service_env)]
    service_env: Vec<(String, String)>,
    /// Keep the services' log files even after a clean run.
    #[arg(long)]
    keep_logs: bool,
    /// Run only this part (a few minutes instead of the whole run).
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Distinct functions the `many` scenario deploys (fewer for a quick run).
    #[arg(long, default_value_t = 2000)]
    many_functions: usize,
    /// Also measure the HTTP handlers (echo-http in Rust, Python and
    /// JavaScript) through `/run`, which needs a platform that serves it.
    #[arg(long)]
    http_guests: bool,
    /// The wrk binary of the issue-15 phases (without one they are skipped
    /// and the report says so).
    #[arg(long, env = "FAAS_BENCH_WRK", default_value = "wrk")]
    wrk: PathBuf,
    /// The `wasmtime` CLI that serves the peer (`wasmtime serve` with
    /// `hello-http`); `scripts/bench.sh` installs a pinned one.
    #[arg(long, env = "FAAS_BENCH_WASMTIME")]
    wasmtime: Option<PathBuf>,
    /// wrk threads of the c=64 phases (the c=1 ones use one).
    #[arg(long, env = "FAAS_BENCH_WRK_THREADS", default_value_t = 2)]
    wrk_threads: usize,
}

/// The parts `--only` can run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Only {
    /// Size, upload, first calls, warm calls and memory per language:
    /// `results/<date>-<commit>-languages.md`, `.json` and `latest-languages.md`.
    Languages,
    /// Warm `hello` and the key-value `counter` over HTTP:
    /// `results/<date>-<commit>-keyvalue.md`, `.json` and `latest-keyvalue.md`.
    Keyvalue,
    /// Warm `hello` over HTTP at c=1 and c=16 without and with 10 % shadow
    /// traffic: `results/<date>-<commit>-shadow.md`, `.json` and `latest-shadow.md`.
    Shadow,
    /// Warm `hello` over HTTP at c=64, then async jobs submitted by as many
    /// workers, with the ratios and CPU per job:
    /// `results/<date>-<commit>-jobs.md`, `.json` and `latest-jobs.md`.
    Jobs,
    /// Floors, warm hello over HTTP through wrk, the peer (`wasmtime
    /// serve`) and NATS direct at c=1 and c=64, the per-request breakdown
    /// and the issue-15 verdict rows they feed:
    /// `results/<date>-<commit>-peer.md`, `.json` and `latest-peer.md`.
    Peer,
    /// Warm `hello` and the three-step pipeline at c=1 over HTTP and NATS,
    /// and the ratio: `results/<date>-<commit>-pipelines.md`, `.json` and
    /// `latest-pipelines.md`.
    Pipelines,
    /// Up to 2,000 distinct functions (`--many-functions`) called round-robin
    /// and Zipf(1.1) over working sets of 16 to 2,000, the executor's cache
    /// bounded below their weight: `results/<date>-<commit>-many.md`, `.json`
    /// and `latest-many.md`.
    Many,
    /// Warm `hello` over NATS and HTTP at c=64 and c=1 with CPU µs and
    /// context switches per request of each process:
    /// `results/<date>-<commit>-hotpath-load.md`, `.json` and `latest-hotpath-load.md`.
    Hotpath,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    stack::install_crypto_provider();
    let started = Instant::now();
    let duration_s = if args.quick { 1.0 } else { args.duration_secs };
    anyhow::ensure!(duration_s > 0.0, "--duration-secs must be positive");
    let settings = Settings {
        duration_s,
        warmup_s: (duration_s / 6.0).clamp(0.2, 0.5),
        max_requests: args.max_requests,
        open_loop_rate: args.rate,
        quick: args.quick,
        upload_runs: if args.quick { 3 } else { 10 },
        restart_runs: if args.quick { 2 } else { 4 },
        async_jobs: args.async_jobs.unwrap_or(if args.quick { 300 } else { 10_000 }),
    };
    let repo =
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("the bench crate is in the repository")?;
    let mut run = machine::collect(repo);
    run.service_env = args.service_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "faas-bench: commit {}, {} cores, {} MiB, {}\nprofile: {}",
        run.commit,
        run.cores,
        run.memory_mib.unwrap_or(0),
        run.cpu_model.as_deref().unwrap_or("unknown CPU"),
        run.profile
    );
    if !run.service_env.is_empty() {
        println!("service settings: {}", run.service_env.join(" "));
    }

    let bin_dir = match args.bin_dir.clone() {
        Some(dir) => dir,
        None => std::env::current_exe()
            .context("locate faas-bench")?
            .parent()
            .context("faas-bench has no parent directory")?
            .to_path_buf(),
    };
    let log_dir = std::env::temp_dir().join(format!("faas-bench-{}", uuid::Uuid::new_v4().simple()));
    println!("service logs: {}", log_dir.display());

    // Builds the guests if `scripts/build-functions.sh` has not.
    let guests = tokio::task::spawn_blocking(|| {
        let read = |name: &str| {
            let path = stack::guests::guest_path(name);
            std::fs::read(&path).with_context(|| format!("read {}", path.display()))
        };
        anyhow::Ok((read("hello")?, read("fibonacci")?))
    });
    let platform = Platform::start(&bin_dir, &log_dir, args.service_env.clone()).await?;
    let (hello, fibonacci) = guests.await.context("the guest build panicked")??;

    let mut bench = Bench::new(platform, Report::new(run, settings), hello).await?;
    bench.deploy(fibonacci).await.context("deploying the example functions")?;
    println!("platform up and functions deployed in {} ms\n", started.elapsed().as_millis());
    bench.idle_memory().await;
    let guests: Vec<_> = scenarios::EXEC_GUESTS
        .into_iter()
        .chain(args.http_guests.then_some(scenarios::HTTP_GUESTS).into_iter().flatten())
        .collect();
    if args.only == Some(Only::Languages) {
        let languages = bench.languages(&guests).await;
        let alive = bench.platform.check_alive();
        bench.platform.stop();
        alive?;
        return finish_languages(&args, &languages, &log_dir, started);
    }
    report::print_header();
    let tools =
        PeerTools { wrk: args.wrk.clone(), wasmtime: args.wasmtime.clone(), wrk_threads: args.wrk_threads };
    if let Some(
        part @ (Only::Keyvalue
        | Only::Shadow
        | Only::Jobs
        | Only::Peer
        | Only::Pipelines
        | Only::Many
        | Only::Hotpath),
    ) = args.only
    {
        let (result, name) = match part {
            Only::Shadow => (bench.shadow().await, "shadow"),
            Only::Jobs => (bench.jobs().await, "jobs"),
            Only::Peer => (bench.only_peer(&tools).await, "peer"),
            Only::Pipelines => (bench.pipelines().await, "pipelines"),
            Only::Many => (bench.many(args.many_functions).await, "many"),
            Only::Hotpath => (bench.hotpath().await, "hotpath-load"),
            _ => (bench.keyvalue().await, "keyvalue"),
        };
        let alive = bench.platform.check_alive();
        let Bench { platform, mut report, .. } = bench;
        platform.stop();
        alive?;
        result?;
        if matches!(part, Only::Peer | Only::Jobs | Only::Pipelines | Only::Many) {
            report.judge_issue15(None);
            report::print_targets(&report.issue15.targets);
        }
        if args.no_write {
            println!("\n--no-write: no result files written");
        } else {
            let path = report.write_part(&args.out_dir, name)?;
            println!("\nwrote {} (and .json, latest-{name}.md)", path.display());
        }
        if args.keep_logs {
            println!("service logs kept in {}", log_dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&log_dir);
        }
        println!("total time {} s", started.elapsed().as_secs());
        return Ok(());
    }

    let result = bench.floors().await;
    note(&mut bench, "floors", result);
    let result = bench.warm().await;
    note(&mut bench, "warm calls", result);
    let result = bench.peer(&tools).await;
    note(&mut bench, "wrk: platform, peer and HTTP floor", result);
    let result = bench.keyvalue().await;
    note(&mut bench, "key-value counter", result);
    let result = bench.open_loop().await;
    note(&mut bench, "fixed-rate calls", result);
    let result = bench.auth_cost().await;
    note(&mut bench, "cost of authentication", result);
    let result = bench.original().await;
    note(&mut bench, "original path", result);
    let result = bench.first_call_after_upload().await;
    note(&mut bench, "first call after upload", result);
    let result = bench.first_call_after_restart().await;
    note(&mut bench, "first call after executor restart", result);
    let result = bench.async_jobs().await;
    note(&mut bench, "async jobs", result);
    let result = bench.flows().await;
    note(&mut bench, "triggers and pipelines", result);
    bench.report.pipeline_cost = scenarios::PipelineCost::of(&bench.report);
    bench.in_process().await;
    let languages = bench.languages(&guests).await;

    let alive = bench.platform.check_alive();
    let Bench { platform, mut report, .. } = bench;
    platform.stop();
    if let Err(e) = alive {
        report.failures.push(format!("at the end of the run: {e:#}"));
    }
    report.judge();
    report.judge_issue15(serde_json::to_value(&languages).ok().as_ref());
    report::print_targets(&report.issue15.targets);
    report::print_targets(&report.targets);
    if let Some(note) = report.generator_note() {
        println!("\n{note}");
    }
    println!("\nasync jobs: {}", report.async_jobs_summary());
    for failure in &report.failures {
        println!("could not be measured: {failure}");
    }

    if args.no_write {
        println!("\n--no-write: no result files written");
    } else {
        let path = report.write(&args.out_dir)?;
        println!("\nwrote {} (and .json, latest.md)", path.display());
        let path = languages.write(&args.out_dir)?;
        println!("wrote {} (and .json, latest-languages.md)", path.display());
    }
    if report.failures.is_empty() && !args.keep_logs {
        // Kept when something failed: the services' warnings say why.
        let _ = std::fs::remove_dir_all(&log_dir);
    } else {
        println!("service logs kept in {}", log_dir.display());
    }
    println!("total time {} s", started.elapsed().as_secs());
    Ok(())
}

/// Prints and writes the per-language figures of an `--only languages` run.
fn finish_languages(
    args: &Args,
    languages: &scenarios::LanguagesReport,
    log_dir: &Path,
    started: Instant,
) -> anyhow::Result<()> {
    println!("\n{}", languages.markdown());
    if args.no_write {
        println!("--no-write: no result files written");
    } else {
        let path = languages.write(&args.out_dir)?;
        println!("wrote {} (and .json, latest-languages.md)", path.display());
    }
    let failed = languages.guests.iter().any(|g| !g.errors.is_empty());
    if failed || args.keep_logs {
        println!("service logs kept in {}", log_dir.display());
    } else {
        let _ = std::fs::remove_dir_all(log_dir);
    }
    println!("total time {} s", started.elapsed().as_secs());
    Ok(())
}

/// Records a scenario's failure; the run goes on, since the other
/// scenarios' figures are still worth having.
fn note(bench: &mut Bench, name: &str, result: anyhow::Result<()>) {
    if let Err(e) = result {
        println!("{name} failed: {e:#}");
        bench.report.failures.push(format!("{name}: {e:#}"));
    }
}

/// `KEY=VALUE` of `--service-env`.
fn parse_service_env(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got `{arg}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_service_env;

    #[test]
    fn a_service_setting_is_split_at_its_first_equals_sign() {
        assert_eq!(
            parse_service_env("FAAS_CALL_LOGS=off"),
            Ok(("FAAS_CALL_LOGS".to_owned(), "off".to_owned()))
        );
        assert_eq!(parse_service_env("A=b=c"), Ok(("A".to_owned(), "b=c".to_owned())));
        assert_eq!(parse_service_env("EMPTY="), Ok(("EMPTY".to_owned(), String::new())));
        assert!(parse_service_env("no-equals").is_err());
        assert!(parse_service_env("=value").is_err());
    }
}

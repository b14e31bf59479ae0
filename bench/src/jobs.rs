//! Asynchronous jobs: how fast the api accepts them, and how fast the
//! platform finishes them.
//!
//! Jobs are submitted with `POST /async/{bucket}/{function}` by a closed loop
//! of workers; the api answers 202 once a job is stored durably. The outcome
//! is read where any client would read it without polling: every finished
//! job's record is published on the core NATS subject
//! `<prefix>.results.<bucket>.<function>`, with the job id in a
//! `Faas-Job-Id` header. The bench subscribes there before the first submit
//! and matches each record with the 202 that announced its job, in whichever
//! order the two arrive.
//!
//! As in [`crate::ops`], the wire contract is spelled out here rather than
//! taken from `faas-protocol`, so the bench checks what a plain client sees.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use futures::StreamExt as _;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::load::{self, Op, Outcome, REQUEST_TIMEOUT, closed_loop};
use crate::ops::{HELLO_INPUT, HELLO_OUTPUT};
use crate::report::{LoadStats, PhaseName};

/// Header of a result announcement naming its job.
const JOB_ID_HEADER: &str = "Faas-Job-Id";

/// After the last expected record, how long to keep listening for records
/// announced a second time.
const DUPLICATE_GRACE: Duration = Duration::from_millis(300);

/// How long the dispatcher gets to answer the ping that proves the results
/// subscription is in place.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Where jobs go and where their outcomes come from.
pub struct JobTarget {
    /// Load client for the submits.
    pub http: reqwest::Client,
    /// Load client for the results subscription.
    pub nats: async_nats::Client,
    /// Base URL of the api.
    pub api_url: String,
    /// `<bucket>/<function>`.
    pub function: String,
    /// `<prefix>.results.<bucket>.<function>`.
    pub results_subject: String,
    /// `<prefix>.ping.dispatcher`.
    pub ping_subject: String,
    /// Processes whose CPU time is read over the measurement.
    pub processes: Vec<(&'static str, u32)>,
}

/// How much work one measurement does.
#[derive(Debug, Clone, Copy)]
pub struct JobLoad {
    /// Submitting workers.
    pub concurrency: usize,
    /// At most this many submits...
    pub max_jobs: u64,
    /// ...within this long.
    pub duration: Duration,
    /// How long jobs may take to finish after the last submit.
    pub drain: Duration,
}

/// What one async-job measurement found.
#[derive(Debug, Clone, Serialize)]
pub struct AsyncJobs {
    /// `<bucket>/<function>` the jobs ran.
    pub function: String,
    /// Submitting workers (closed loop).
    pub concurrency: usize,
    /// Most jobs the phase would submit (it also ends after the phase duration).
    pub max_jobs: u64,
    /// `POST /async`: accepted (202) per second over the submitting time,
    /// latency of the accepted POSTs; errors are the non-202 answers (and
    /// 202s whose body was not as expected).
    pub submit: LoadStats,
    /// Succeeded records (with the right result) that arrived on the results
    /// subject, per second from the first submit to the last of them; latency
    /// from a job's POST being sent to its record arriving; errors are failed
    /// or wrong records, jobs announced twice and jobs never announced.
    pub completion: LoadStats,
    /// Jobs the api accepted.
    pub accepted: u64,
    /// Accepted jobs whose succeeded record, with the right result, arrived.
    pub completed: u64,
    /// Submits answered with anything but a well-formed 202.
    pub submit_errors: u64,
    /// Accepted jobs whose record was failed or carried a wrong result.
    pub failed: u64,
    /// Accepted jobs whose record was announced more than once.
    pub duplicates: u64,
    /// Accepted jobs with no record within the drain time.
    pub missing: u64,
    /// Records of jobs this phase did not submit (none expected).
    pub unexpected: u64,
    /// `submit_errors + failed + duplicates + missing`, plus one if the
    /// record check failed.
    pub errors: u64,
    /// `GET /jobs/{id}` of one completed job: `ok`, or what was wrong.
    pub record_check: String,
    /// The first problem seen, if any.
    pub first_error: Option<String>,
    /// How long jobs were given to finish after the last submit, in s.
    pub drain_s: f64,
    /// CPU time (user + system) per completed job, in µs, of each process
    /// named, from the first submit to the end of the collection.
    pub cpu_us_per_job: Vec<ProcessCpu>,
    /// The same per call of the sync HTTP c=64 phase, when the run measured
    /// it (`--only jobs`).
    pub sync_cpu_us_per_call: Vec<ProcessCpu>,
    /// Throughput of warm `hello` over HTTP at c=64 in the same run
    /// (`warm-http-c64`), the yardstick of issue 15's async targets.
    pub sync_http_c64_rps: Option<f64>,
    /// All processes' CPU per completed job over theirs per sync call
    /// (`--only jobs`): what a job costs in calls, load-independent. Where
    /// the box is CPU-bound, completion ≥ 0.8x the sync rate needs this at
    /// most 1.25.
    pub cpu_per_job_vs_call: Option<f64>,
    /// `submit.throughput_rps / sync_http_c64_rps` (target: ≥ 1.0).
    pub submit_vs_sync: Option<f64>,
    /// `completion.throughput_rps / sync_http_c64_rps` (target: ≥ 0.8).
    pub completion_vs_sync: Option<f64>,
}

/// One process's CPU time per unit of work.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessCpu {
    /// `faas-api`, `faas-dispatcher`, `faas-executor`, `nats-server` or `bench`.
    pub process: String,
    /// µs of CPU per job (or per request).
    pub us: f64,
}

/// CPU µs per unit of `work` of each process since `watch` started.
pub fn cpu_per(watch: crate::proccost::Watch, work: u64) -> Vec<ProcessCpu> {
    if work == 0 {
        return Vec::new();
    }
    watch
        .finish(work)
        .into_iter()
        .map(|cost| ProcessCpu { process: cost.process, us: cost.cpu_us_per_request })
        .collect()
}

/// `faas-api 12.3 µs, nats-server 4.5 µs, ...; in all 16.8 µs`.
pub fn cpu_text(cpu: &[ProcessCpu]) -> String {
    if cpu.is_empty() {
        return "not measured".to_owned();
    }
    let parts: Vec<String> =
        cpu.iter().map(|c| format!("{} {} µs", c.process, crate::report::num(c.us))).collect();
    let all: f64 = cpu.iter().map(|c| c.us).sum();
    format!("{}; in all {} µs", parts.join(", "), crate::report::num(all))
}

/// All processes' CPU per job over theirs per call; `None` unless both
/// were measured.
fn calls_per_job(per_job: &[ProcessCpu], per_call: &[ProcessCpu]) -> Option<f64> {
    let total = |cpu: &[ProcessCpu]| cpu.iter().map(|c| c.us).sum::<f64>();
    let (job, call) = (total(per_job), total(per_call));
    (job > 0.0 && call > 0.0).then(|| job / call)
}

impl AsyncJobs {
    /// Sets the CPU per sync call measured in the same run, and what a job
    /// costs in calls.
    pub fn set_sync_cpu(&mut self, per_call: Vec<ProcessCpu>) {
        self.cpu_per_job_vs_call = calls_per_job(&self.cpu_us_per_job, &per_call);
        self.sync_cpu_us_per_call = per_call;
    }

    /// Reads the jobs against the sync HTTP c=64 throughput of the same run.
    pub fn compare_with_sync(&mut self, sync_rps: Option<f64>) {
        self.sync_http_c64_rps = sync_rps.filter(|rps| *rps > 0.0);
        self.submit_vs_sync = self.sync_http_c64_rps.map(|rps| self.submit.throughput_rps / rps);
        self.completion_vs_sync = self.sync_http_c64_rps.map(|rps| self.completion.throughput_rps / rps);
    }

    /// The lines the report adds under the async-jobs table.
    pub fn extra_markdown(&self) -> String {
        let mut md = String::new();
        let ratio = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{}x", crate::report::num(v)));
        if let Some(rps) = self.sync_http_c64_rps {
            md.push_str(&format!(
                "\nAgainst warm `hello` over HTTP at c=64 in the same run ({} req/s; the async phase \
                 submits with the same 64 workers): submit {} (target >= 1.0x), completion {} \
                 (target >= 0.8x).\n",
                crate::report::num(rps),
                ratio(self.submit_vs_sync),
                ratio(self.completion_vs_sync)
            ));
        }
        md.push_str(&format!(
            "\nCPU per completed job (on-CPU time of every thread, `/proc/<pid>/task/*/schedstat`, first submit to last record): {}.\n",
            cpu_text(&self.cpu_us_per_job)
        ));
        if !self.sync_cpu_us_per_call.is_empty() {
            md.push_str(&format!(
                "CPU per sync HTTP c=64 call, for comparison: {}.\n",
                cpu_text(&self.sync_cpu_us_per_call)
            ));
        }
        if let Some(calls) = self.cpu_per_job_vs_call {
            md.push_str(&format!(
                "A job costs {}x a sync call's CPU (all processes; load-independent, unlike the rates on a \
                 shared box). Where the machine is CPU-bound, completion >= 0.8x needs at most 1.25x.\n",
                crate::report::num(calls)
            ));
        }
        md
    }
}

impl AsyncJobs {
    /// The errors, by kind.
    pub fn error_summary(&self) -> String {
        let mut text = format!(
            "{} in all: {} submits not accepted, {} failed or wrong records, {} jobs announced more \
             than once, {} never announced within {} s",
            self.errors,
            self.submit_errors,
            self.failed,
            self.duplicates,
            self.missing,
            crate::report::num(self.drain_s)
        );
        if self.unexpected > 0 {
            text.push_str(&format!(" ({} records of jobs not submitted here, not counted)", self.unexpected));
        }
        text
    }
}

/// Submits jobs and waits for their records; see the module docs.
pub async fn measure(target: &JobTarget, load: JobLoad) -> anyhow::Result<AsyncJobs> {
    let subscriber = target
        .nats
        .subscribe(target.results_subject.clone())
        .await
        .with_context(|| format!("subscribe to {}", target.results_subject))?;
    // The flush waits for the server's PONG, which comes after it processed
    // the SUB; the ping also proves the dispatcher is there to run jobs.
    target.nats.flush().await.context("flush the results subscription")?;
    let ping = async_nats::Request::new().timeout(Some(PING_TIMEOUT));
    target
        .nats
        .send_request(target.ping_subject.clone(), ping)
        .await
        .with_context(|| format!("ping {}", target.ping_subject))?;

    let (accepted_tx, accepted_rx) = mpsc::unbounded_channel();
    let collector = tokio::spawn(collect(subscriber, accepted_rx, load.drain));
    let url = format!("{}/async/{}", target.api_url, target.function);
    let op = submit_op(&target.http, url, accepted_tx);
    let cpu = crate::proccost::Watch::start(&target.processes);
    let start = Instant::now();
    let out = closed_loop(&op, load.concurrency, load.duration, Some(load.max_jobs)).await;
    // The last sender goes with the op: that tells the collector every
    // accepted job is known.
    drop(op);
    let collected = collector.await.context("the results collector panicked")?;

    let name = PhaseName::new("async-submit", "async hello: POST /async (accepted)", "http");
    let submit = LoadStats::new(&name, Some(load.concurrency), None, &out);
    let mut latency = load::histogram();
    let (mut completed, mut failed, mut duplicates, mut missing) = (0, 0, 0, 0);
    let mut last_completion = None::<Instant>;
    let mut problems = Vec::new();
    let mut checkable = None;
    for (id, sent) in &collected.accepted {
        let Some(record) = collected.announced.get(id) else {
            missing += 1;
            problems.push(format!(
                "job {id}: no record within {} s of the last submit",
                load.drain.as_secs_f64()
            ));
            continue;
        };
        if record.times > 1 {
            duplicates += 1;
            problems.push(format!("job {id}: announced {} times", record.times));
        }
        if let Some(problem) = &record.problem {
            failed += 1;
            problems.push(problem.clone());
            continue;
        }
        completed += 1;
        latency.saturating_record(load::micros(record.first.saturating_duration_since(*sent)));
        last_completion = last_completion.max(Some(record.first));
        checkable.get_or_insert(id);
    }
    let unexpected =
        collected.announced.keys().filter(|id| !collected.accepted.contains_key(id.as_str())).count() as u64;

    let record_check = match checkable {
        Some(id) => match check_record(&target.http, &target.api_url, id).await {
            Ok(()) => "ok".to_owned(),
            Err(e) => {
                problems.push(format!("GET /jobs/{id}: {e:#}"));
                format!("{e:#}")
            }
        },
        None => "not done: no job completed".to_owned(),
    };
    let record_errors = u64::from(record_check != "ok" && checkable.is_some());
    let completion_errors = failed + duplicates + missing + record_errors;
    let completion_out = Outcome {
        latency,
        service: None,
        ok: completed,
        errors: completion_errors,
        first_error: problems.first().cloned(),
        elapsed: last_completion.map_or(Duration::ZERO, |last| last.saturating_duration_since(start)),
    };
    let name = PhaseName::new("async-complete", "async hello: submit to succeeded record", "nats");
    let completion = LoadStats::new(&name, Some(load.concurrency), None, &completion_out);
    Ok(AsyncJobs {
        function: target.function.clone(),
        concurrency: load.concurrency,
        max_jobs: load.max_jobs,
        accepted: out.ok,
        completed,
        submit_errors: out.errors,
        failed,
        duplicates,
        missing,
        unexpected,
        errors: out.errors + completion_errors,
        record_check,
        first_error: out.first_error.clone().or_else(|| problems.first().cloned()),
        drain_s: load.drain.as_secs_f64(),
        cpu_us_per_job: cpu_per(cpu, completed),
        sync_cpu_us_per_call: Vec::new(),
        cpu_per_job_vs_call: None,
        sync_http_c64_rps: None,
        submit_vs_sync: None,
        completion_vs_sync: None,
        submit,
        completion,
    })
}

/// `POST url` with the `hello` input, expecting a well-formed 202; hands the
/// job id and when the POST was sent to the collector.
fn submit_op(http: &reqwest::Client, url: String, accepted: mpsc::UnboundedSender<(String, Instant)>) -> Op {
    let http = http.clone();
    let url: Arc<str> = url.into();
    Arc::new(move || {
        let (http, url, accepted) = (http.clone(), url.clone(), accepted.clone());
        Box::pin(async move {
            let sent = Instant::now();
            let resp = http
                .post(&*url)
                .header(CONTENT_TYPE, "application/json")
                .body(HELLO_INPUT)
                .timeout(REQUEST_TIMEOUT)
                .send()
                .await?;
            let status = resp.status();
            let answer = resp.bytes().await.context("read the answer")?;
            if status != StatusCode::ACCEPTED {
                bail!("HTTP {status}: {}", String::from_utf8_lossy(&answer));
            }
            let id = accepted_id(&answer)?;
            // Only fails once the collector gave up, when nothing is counted
            // any more.
            let _ = accepted.send((id, sent));
            Ok(())
        })
    })
}

/// The job id of a 202, checking the rest of its body.
fn accepted_id(answer: &[u8]) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Accepted {
        job_id: String,
        status_url: String,
        status: String,
        duplicate: bool,
    }
    let unexpected = || format!("unexpected 202 body {:?}", String::from_utf8_lossy(answer));
    let body: Accepted = serde_json::from_slice(answer).with_context(unexpected)?;
    ensure!(
        !body.job_id.is_empty()
            && body.status == "queued"
            && !body.duplicate
            && body.status_url == format!("/jobs/{}", body.job_id),
        "{}",
        unexpected()
    );
    Ok(body.job_id)
}

/// A job's record, as published and as `GET /jobs/{id}` answers it.
#[derive(Debug, Deserialize)]
struct Record {
    job_id: String,
    status: String,
    result: Option<String>,
    error: Option<serde_json::Value>,
    attempts: u32,
    finished_at_ms: Option<u64>,
}

impl Record {
    /// Fails unless the job succeeded with `hello`'s answer.
    fn check(&self) -> anyhow::Result<()> {
        if self.status != "succeeded" {
            bail!(
                "job {} {} after {} attempts: {}",
                self.job_id,
                self.status,
                self.attempts,
                self.error.as_ref().map_or("no error".to_owned(), ToString::to_string)
            );
        }
        ensure!(
            self.result.as_deref().map(str::as_bytes) == Some(HELLO_OUTPUT),
            "job {} succeeded with an unexpected result {:?}",
            self.job_id,
            self.result
        );
        Ok(())
    }
}

/// One accepted job's announcements.
struct Announced {
    /// When the first arrived.
    first: Instant,
    /// How many arrived.
    times: u32,
    /// What was wrong with the first, if anything.
    problem: Option<String>,
}

/// What the collector saw.
#[derive(Default)]
struct Collected {
    /// Accepted jobs: id → when its POST was sent.
    accepted: HashMap<String, Instant>,
    /// Announcements by job id (`""` for one without any id).
    announced: HashMap<String, Announced>,
}

/// Records every announcement and every accepted job until the submits are
/// over and each accepted job has been announced (or `drain` has passed
/// since the last submit), then listens a little longer for duplicates.
async fn collect(
    mut results: async_nats::Subscriber,
    mut accepted: mpsc::UnboundedReceiver<(String, Instant)>,
    drain: Duration,
) -> Collected {
    let mut c = Collected::default();
    // Accepted jobs not announced yet.
    let mut pending = 0usize;
    let mut submitting = true;
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(24 * 3600);
    while submitting || pending > 0 {
        tokio::select! {
            job = accepted.recv(), if submitting => match job {
                Some((id, sent)) => {
                    if !c.announced.contains_key(&id) && !c.accepted.contains_key(&id) {
                        pending += 1;
                    }
                    c.accepted.insert(id, sent);
                }
                None => {
                    submitting = false;
                    deadline = tokio::time::Instant::now() + drain;
                }
            },
            message = results.next() => match message {
                Some(message) => {
                    if c.note(&message) {
                        pending -= 1;
                    }
                }
                None => break,
            },
            () = tokio::time::sleep_until(deadline), if !submitting => break,
        }
    }
    let grace = tokio::time::Instant::now() + DUPLICATE_GRACE;
    while let Ok(Some(message)) = tokio::time::timeout_at(grace, results.next()).await {
        c.note(&message);
    }
    c
}

impl Collected {
    /// Records an announcement; true if it is the first for a job already
    /// known to be accepted.
    fn note(&mut self, message: &async_nats::Message) -> bool {
        let header_id =
            message.headers.as_ref().and_then(|h| h.get(JOB_ID_HEADER)).map(|v| v.as_str().to_owned());
        let record = serde_json::from_slice::<Record>(&message.payload);
        let id =
            header_id.clone().or_else(|| record.as_ref().ok().map(|r| r.job_id.clone())).unwrap_or_default();
        let problem = match &record {
            Err(e) => Some(format!(
                "job {id}: unreadable record ({e}): {:?}",
                String::from_utf8_lossy(&message.payload)
            )),
            Ok(r) if header_id.as_deref() != Some(r.job_id.as_str()) => {
                Some(format!("record of job {} announced with {JOB_ID_HEADER} {header_id:?}", r.job_id))
            }
            Ok(r) => r.check().err().map(|e| format!("{e:#}")),
        };
        match self.announced.get_mut(&id) {
            Some(seen) => {
                seen.times += 1;
                false
            }
            None => {
                let first = self.accepted.contains_key(&id);
                self.announced.insert(id, Announced { first: Instant::now(), times: 1, problem });
                first
            }
        }
    }
}

/// `GET /jobs/{id}` must answer the job's final record.
async fn check_record(http: &reqwest::Client, api_url: &str, id: &str) -> anyhow::Result<()> {
    let resp = http.get(format!("{api_url}/jobs/{id}")).timeout(REQUEST_TIMEOUT).send().await?;
    let status = resp.status();
    let body = resp.bytes().await.context("read the answer")?;
    if status != StatusCode::OK {
        bail!("HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    let record: Record = serde_json::from_slice(&body)
        .with_context(|| format!("unexpected record {:?}", String::from_utf8_lossy(&body)))?;
    ensure!(record.job_id == id, "the record is of job {}", record.job_id);
    record.check()?;
    ensure!(record.attempts >= 1, "a succeeded job with {} attempts", record.attempts);
    ensure!(record.finished_at_ms.is_some(), "a succeeded job without finished_at_ms");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_weighed_in_calls_over_all_processes() {
        let cpu = |figures: &[(&str, f64)]| -> Vec<ProcessCpu> {
            figures.iter().map(|(p, us)| ProcessCpu { process: (*p).to_owned(), us: *us }).collect()
        };
        let job = cpu(&[("faas-api", 50.0), ("faas-dispatcher", 30.0), ("nats-server", 70.0)]);
        let call = cpu(&[("faas-api", 40.0), ("faas-dispatcher", 0.0), ("nats-server", 20.0)]);
        assert_eq!(calls_per_job(&job, &call), Some(2.5));
        assert_eq!(calls_per_job(&job, &[]), None);
        assert_eq!(calls_per_job(&[], &call), None);
    }

    #[test]
    fn accepts_only_a_well_formed_202() {
        let id = "0b7e6a52-8d8c-4a57-9d0e-3f0c1a2b3c4d";
        let ok =
            format!(r#"{{"job_id":"{id}","status_url":"/jobs/{id}","status":"queued","duplicate":false}}"#);
        assert_eq!(accepted_id(ok.as_bytes()).unwrap(), id);
        let duplicate = ok.replace("false", "true");
        assert!(accepted_id(duplicate.as_bytes()).is_err());
        let wrong_url = ok.replace("/jobs/", "/job/");
        assert!(accepted_id(wrong_url.as_bytes()).is_err());
        assert!(accepted_id(b"{}").is_err());
    }

    #[test]
    fn a_record_passes_only_when_it_succeeded_with_the_answer() {
        let record = |status: &str, result: Option<&str>| Record {
            job_id: "j".to_owned(),
            status: status.to_owned(),
            result: result.map(str::to_owned),
            error: None,
            attempts: 1,
            finished_at_ms: Some(1),
        };
        assert!(record("succeeded", Some("Hello World, how are you?")).check().is_ok());
        assert!(record("succeeded", Some("Hello")).check().is_err());
        assert!(record("failed", None).check().is_err());
    }
}

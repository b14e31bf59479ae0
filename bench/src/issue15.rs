//! The issue-15 figures: one external generator (wrk) against the platform,
//! the peer (`wasmtime serve`) and the HTTP floor, what each process spends
//! per request, and the verdict on every ratio target of the issue.
//!
//! The verdict reads the report as JSON (phase ids in `load`, and fields
//! such as `async_jobs`, `in_process` or `many`), not its Rust types, so a
//! part reshaped elsewhere keeps feeding the table as long as its JSON
//! names stay; a figure that is absent reads "not measured in this run".

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::inprocess::InProcess;
use crate::peer::PeerInfo;
use crate::proccost::Cost;
use crate::report::{Report, Target, num};
use crate::scenarios::ARTIFACT_P99_GOAL_MS;
use crate::wrk::Figures;

/// Phase id of the platform's warm hello over HTTP through wrk, at `c`.
pub fn warm_id(c: usize) -> String {
    format!("wrk-warm-http-c{c}")
}

/// Phase id of the peer through wrk, at `c`.
pub fn peer_id(c: usize) -> String {
    format!("wrk-peer-http-c{c}")
}

/// Phase id of the constant HTTP handler through wrk, at `c`.
pub fn floor_id(c: usize) -> String {
    format!("wrk-floor-http-c{c}")
}

/// One wrk phase with what every process involved spent on it.
#[derive(Debug, Clone, Serialize)]
pub struct WrkPhase {
    /// The id of its row in the report's `load`.
    pub id: String,
    /// `platform`, `peer` or `floor`.
    pub target: String,
    /// Connections.
    pub concurrency: usize,
    /// wrk threads.
    pub threads: usize,
    /// wrk's figures (75th and 99.9th percentiles included).
    pub figures: Figures,
    /// Per request: the generator, then each server process.
    pub costs: Vec<Cost>,
}

/// Everything the issue-15 part adds to the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Issue15 {
    /// `wrk -v`, when wrk ran.
    pub generator: Option<String>,
    /// Why there are no wrk phases.
    pub wrk_unavailable: Option<String>,
    /// The peer as run.
    pub peer: Option<PeerInfo>,
    /// Why there are no peer phases.
    pub peer_unavailable: Option<String>,
    /// The wrk phases, in the order run.
    pub phases: Vec<WrkPhase>,
    /// Lines for "Where the time goes" from other measurements (profiles,
    /// allocation counts), written under the per-process table.
    pub time_notes: Vec<String>,
    /// The verdict, filled in by [`Report::judge_issue15`].
    pub targets: Vec<Target>,
}

impl Issue15 {
    /// A wrk phase by its `load` id.
    pub fn phase(&self, id: &str) -> Option<&WrkPhase> {
        self.phases.iter().find(|p| p.id == id)
    }
}

/// Which side of a ratio is good.
#[derive(Debug, Clone, Copy)]
enum Want {
    AtMost(f64),
    AtLeast(f64),
}

/// A figure read from the report's JSON, and how to say it.
struct Figure {
    value: f64,
    text: String,
    unit: &'static str,
}

fn load_phase<'a>(json: &'a Value, id: &str) -> Option<&'a Value> {
    json["load"].as_array()?.iter().find(|p| p["id"] == id)
}

/// A figure of a phase that answered every request well: a phase with
/// errors is no figure (a generator times error answers too, so a fast 401
/// or 500 would otherwise pass for a fast call).
fn field(json: &Value, id: &str, key: &str) -> Option<f64> {
    let phase = load_phase(json, id)?;
    if phase["errors"].as_u64().unwrap_or(0) > 0 {
        return None;
    }
    phase[key].as_f64().filter(|v| v.is_finite() && *v > 0.0)
}

fn p50(json: &Value, id: &str) -> Option<Figure> {
    field(json, id, "p50_ms").map(|v| Figure { value: v, text: format!("{} ms", num(v)), unit: "ms" })
}

fn p99(json: &Value, id: &str) -> Option<Figure> {
    field(json, id, "p99_ms").map(|v| Figure { value: v, text: format!("{} ms", num(v)), unit: "ms" })
}

fn rps(json: &Value, id: &str) -> Option<Figure> {
    field(json, id, "throughput_rps").map(|v| Figure {
        value: v,
        text: format!("{} req/s", num(v)),
        unit: "req/s",
    })
}

/// The first phase of `ids` the run has, with its id.
fn first<'a>(
    json: &Value,
    ids: &[&'a str],
    get: fn(&Value, &str) -> Option<Figure>,
) -> Option<(&'a str, Figure)> {
    ids.iter().find_map(|id| get(json, id).map(|f| (*id, f)))
}

/// A row comparing `ours` with `base` scaled by the goal's factor.
fn ratio_row(
    name: &str,
    goal: &str,
    want: Want,
    ours: Option<Figure>,
    base: Option<Figure>,
    missing: &str,
) -> Target {
    let (Some(ours), Some(base)) = (ours, base) else {
        return Target {
            name: name.to_owned(),
            goal: goal.to_owned(),
            actual: "-".to_owned(),
            met: None,
            margin: missing.to_owned(),
        };
    };
    let ratio = ours.value / base.value;
    let actual = format!("{} / {} = {}x", ours.text, base.text, num(ratio));
    let (met, margin) = match want {
        Want::AtMost(limit) if ratio <= limit => {
            (true, format!("{}x under the {}x limit", num(limit / ratio), num(limit)))
        }
        Want::AtMost(limit) => {
            let allowed = base.value * limit;
            (
                false,
                format!(
                    "{}x over the {}x limit: must fall {}% (by {} {unit}) to {} {unit}",
                    num(ratio / limit),
                    num(limit),
                    num((1.0 - allowed / ours.value) * 100.0),
                    num(ours.value - allowed),
                    num(allowed),
                    unit = ours.unit
                ),
            )
        }
        Want::AtLeast(goal) if ratio >= goal => {
            (true, format!("{}x above the {}x goal", num(ratio / goal), num(goal)))
        }
        Want::AtLeast(goal) => {
            let needed = base.value * goal;
            (
                false,
                format!(
                    "{}% of the {}x goal: needs {}x today's ({} {unit} more, to {} {unit})",
                    num(ratio / goal * 100.0),
                    num(goal),
                    num(needed / ours.value),
                    num(needed - ours.value),
                    num(needed),
                    unit = ours.unit
                ),
            )
        }
    };
    Target { name: name.to_owned(), goal: goal.to_owned(), actual, met: Some(met), margin }
}

/// The many-functions part's artifact-path p99: its c=1 round-robin over
/// every function, each call a miss, which is what the goal is about.
fn many_artifact_p99(json: &Value) -> Option<(String, f64)> {
    let p99 = json["many"]["artifact_c1_p99_ms"].as_f64()?;
    Some(("/many/artifact_c1_p99_ms".to_owned(), p99))
}

/// Warm HTTP c=1 p50 of the `hello` of `language` in the languages part.
fn language_p50(languages: &Value, language: &str) -> Option<Figure> {
    let guest = languages["guests"].as_array()?.iter().find(|g| {
        g["language"].as_str().is_some_and(|l| l.eq_ignore_ascii_case(language))
            && g["world"].as_str() != Some("http")
    })?;
    let v = guest["warm_http_c1"]["p50_ms"].as_f64().filter(|v| *v > 0.0)?;
    Some(Figure { value: v, text: format!("{} ms", num(v)), unit: "ms" })
}

/// Sum of the CPU per request of `processes` in a wrk phase.
fn cpu_of(phase: &WrkPhase, processes: &[&str]) -> Option<f64> {
    let costs: Vec<f64> = phase
        .costs
        .iter()
        .filter(|c| processes.iter().any(|p| c.process.starts_with(p)))
        .map(|c| c.cpu_us_per_request)
        .collect();
    (!costs.is_empty()).then(|| costs.iter().sum())
}

/// Processes of the platform in the wrk phases' costs.
const PLATFORM_PROCESSES: [&str; 3] = ["faas-api", "faas-executor", "nats-server"];

/// The issue's targets, judged on the report `json` (and the languages
/// part's, when run in the same invocation).
pub fn judge(json: &Value, issue: &Issue15, languages: Option<&Value>) -> Vec<Target> {
    let no_wrk = issue
        .wrk_unavailable
        .as_deref()
        .map_or("not measured in this run".to_owned(), |why| format!("not measured: {why}"));
    let no_peer = issue
        .peer_unavailable
        .as_deref()
        .or(issue.wrk_unavailable.as_deref())
        .map_or("not measured in this run".to_owned(), |why| format!("not measured: {why}"));
    let (w1, w64, p1, p64, f1) = (warm_id(1), warm_id(64), peer_id(1), peer_id(64), floor_id(1));
    let mut rows = Vec::new();

    rows.push(Target {
        name: "peer (wasmtime serve) measured in the same run".to_owned(),
        goal: "same logic, same generator and settings".to_owned(),
        actual: issue.peer.as_ref().map_or("-".to_owned(), |p| p.version.clone()),
        met: (load_phase(json, &p1).is_some() && load_phase(json, &p64).is_some()).then_some(true),
        margin: if load_phase(json, &p1).is_some() {
            "wrk at c=1 and c=64".to_owned()
        } else {
            no_peer.clone()
        },
    });

    let generator = issue.phase(&w1).and_then(|p| {
        let wrk = cpu_of(p, &["wrk"])?;
        let platform = cpu_of(p, &PLATFORM_PROCESSES)?;
        Some((wrk, platform))
    });
    rows.push(ratio_row(
        "load generator CPU per request (wrk, warm HTTP c=1) vs the platform's (api + executor + nats-server)",
        "well below: <= 0.5x",
        Want::AtMost(0.5),
        generator.map(|(w, _)| Figure { value: w, text: format!("{} µs", num(w)), unit: "µs" }),
        generator.map(|(_, p)| Figure { value: p, text: format!("{} µs", num(p)), unit: "µs" }),
        &no_wrk,
    ));

    rows.push(ratio_row(
        "warm HTTP c=1 p50 vs peer p50 (wrk)",
        "<= 1.5x",
        Want::AtMost(1.5),
        p50(json, &w1),
        p50(json, &p1),
        &no_peer,
    ));

    // NATS request-reply floor + HTTP floor + in-process call, all at c=1;
    // the HTTP figures from the same generator (wrk if it ran).
    let (warm1, http_floor) = if load_phase(json, &w1).is_some() {
        (p50(json, &w1), p50(json, &f1))
    } else {
        (p50(json, "warm-http-c1"), p50(json, "floor-http-c1"))
    };
    // Up to the call's output, which is when the executor replies (reports
    // older than that figure have the whole call only).
    let in_process = ["to_output_p50_us", "p50_us"]
        .iter()
        .find_map(|key| json["in_process"][key].as_f64().filter(|v| *v > 0.0))
        .map(|us| us / 1000.0);
    let floors = match (p50(json, "floor-nats-c1"), http_floor, in_process) {
        (Some(n), Some(h), Some(i)) => Some(Figure {
            value: n.value + h.value + i,
            text: format!("({} + {} + {} ms)", n.text, h.text, num(i)),
            unit: "ms",
        }),
        _ => None,
    };
    rows.push(ratio_row(
        "warm HTTP c=1 p50 vs (NATS floor + HTTP floor + in-process call) p50",
        "<= 1.3x",
        Want::AtMost(1.3),
        warm1,
        floors,
        "not measured in this run (needs the floors, warm HTTP c=1 and the in-process call)",
    ));

    rows.push(ratio_row(
        "warm HTTP c=64 throughput vs peer (wrk)",
        ">= 2.5x",
        Want::AtLeast(2.5),
        rps(json, &w64),
        rps(json, &p64),
        &no_peer,
    ));
    rows.push(ratio_row(
        "warm HTTP c=64 p99 vs peer p99 (wrk)",
        "<= 1x",
        Want::AtMost(1.0),
        p99(json, &w64),
        p99(json, &p64),
        &no_peer,
    ));

    rows.push(ratio_row(
        "NATS direct c=64 throughput vs NATS echo floor c=64",
        ">= 0.4x (40 %)",
        Want::AtLeast(0.4),
        rps(json, "warm-nats-c64"),
        rps(json, "floor-nats-c64"),
        "not measured in this run",
    ));

    // Async jobs against the synchronous HTTP c=64 rate of the same
    // generator the jobs phase uses (the bench's own), else wrk's.
    let sync64 = first(json, &["warm-http-c64", w64.as_str()], rps);
    let sync_note = sync64.as_ref().map_or(String::new(), |(id, _)| format!(" (`{id}`)"));
    let jobs = |key: &str| {
        json["async_jobs"][key]["throughput_rps"].as_f64().filter(|v| *v > 0.0).map(|v| Figure {
            value: v,
            text: format!("{} jobs/s", num(v)),
            unit: "jobs/s",
        })
    };
    let no_jobs = json["async_jobs_unavailable"]
        .as_str()
        .map_or("not measured in this run".to_owned(), |why| format!("not measured: {why}"));
    let sync = || sync64.as_ref().map(|(_, f)| Figure { value: f.value, text: f.text.clone(), unit: f.unit });
    rows.push(ratio_row(
        &format!("async jobs completion vs sync HTTP c=64 throughput{sync_note}"),
        ">= 0.8x",
        Want::AtLeast(0.8),
        jobs("completion"),
        sync(),
        &no_jobs,
    ));
    rows.push(ratio_row(
        &format!("async jobs submit (202) vs sync HTTP c=64 throughput{sync_note}"),
        ">= 1x",
        Want::AtLeast(1.0),
        jobs("submit"),
        sync(),
        &no_jobs,
    ));

    for (transport, pipeline, single) in
        [("HTTP", "pipeline-http-c1", "warm-http-c1"), ("NATS", "pipeline-nats-c1", "warm-nats-c1")]
    {
        rows.push(ratio_row(
            &format!("three-step pipeline p50 vs one warm call p50 ({transport}, c=1)"),
            "<= 2x",
            Want::AtMost(2.0),
            p50(json, pipeline),
            p50(json, single),
            "not measured in this run",
        ));
    }

    rows.push(match many_artifact_p99(json) {
        Some((path, p99)) => Target {
            name: "many functions: artifact path p99 (not in memory)".to_owned(),
            goal: "< 10 ms".to_owned(),
            actual: format!("{} ms (`{path}`)", num(p99)),
            met: Some(p99 < ARTIFACT_P99_GOAL_MS),
            margin: if p99 < ARTIFACT_P99_GOAL_MS {
                format!("{} ms under", num(ARTIFACT_P99_GOAL_MS - p99))
            } else {
                format!(
                    "{} ms over ({}x the limit)",
                    num(p99 - ARTIFACT_P99_GOAL_MS),
                    num(p99 / ARTIFACT_P99_GOAL_MS)
                )
            },
        },
        None => Target {
            name: "many functions: artifact path p99 (not in memory)".to_owned(),
            goal: "< 10 ms".to_owned(),
            actual: "-".to_owned(),
            met: None,
            margin: "not measured in this run".to_owned(),
        },
    });

    let rust = languages.and_then(|l| language_p50(l, "Rust"));
    for language in ["Python", "JavaScript"] {
        rows.push(ratio_row(
            &format!("{language} hello warm p50 vs Rust hello (HTTP c=1)"),
            "<= 2x",
            Want::AtMost(2.0),
            languages.and_then(|l| language_p50(l, language)),
            rust.as_ref().map(|r| Figure { value: r.value, text: r.text.clone(), unit: r.unit }),
            "not measured in this run",
        ));
    }

    let with_token = load_phase(json, &w1).is_some() || load_phase(json, "warm-http-c1").is_some();
    rows.push(Target {
        name: "auth on for every platform figure".to_owned(),
        goal: "tokens checked".to_owned(),
        actual: if with_token {
            "invoke token (wrk), admin token (bench)".to_owned()
        } else {
            "-".to_owned()
        },
        met: with_token.then_some(true),
        margin: if with_token {
            "the api checks a bearer token on every call but the `FAAS_AUTH=off` comparison".to_owned()
        } else {
            "not measured in this run".to_owned()
        },
    });
    rows
}

impl Report {
    /// Fills in the issue-15 verdict from this report (and the languages
    /// part's JSON, when it ran in the same invocation).
    pub fn judge_issue15(&mut self, languages: Option<&Value>) {
        let json = serde_json::to_value(&*self).unwrap_or(Value::Null);
        self.issue15.targets = judge(&json, &self.issue15, languages);
    }

    /// The issue-15 sections of the Markdown report.
    pub fn issue15_markdown(&self) -> String {
        let i = &self.issue15;
        let mut md = String::new();
        md.push_str(
            "\n## Issue 15 targets (ratios within this run)\n\n\
             Every target is a ratio of two figures of this run. The HTTP ones come from one external \
             generator, wrk, driving the platform (`POST /exec/bench/hello` with an `invoke:bench` token), \
             the peer (`wasmtime serve` with `hello-http`, the same logic as a `wasi:http` component) and \
             the HTTP floor (a constant axum handler in the bench process) with the same settings.\n\n",
        );
        md.push_str("| target | goal | this run | verdict | by how much |\n|---|---|---|---|---|\n");
        for t in &i.targets {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "not measured",
            };
            let _ = writeln!(md, "| {} | {} | {} | {verdict} | {} |", t.name, t.goal, t.actual, t.margin);
        }
        if i.targets.is_empty() {
            md.push_str("| - | - | - | not judged | - |\n");
        }
        self.wrk_markdown(&mut md);
        self.time_markdown(&mut md);
        self.limits_markdown(&mut md);
        md
    }

    fn wrk_markdown(&self, md: &mut String) {
        let i = &self.issue15;
        md.push_str("\n## One generator: wrk against the platform, the peer and the HTTP floor\n\n");
        if let Some(why) = &i.wrk_unavailable {
            let _ = writeln!(md, "Not measured: {why}");
            return;
        }
        let _ = writeln!(
            md,
            "Generator: `{}`, {}. Peer: {}. Each wrk phase follows an unmeasured warm-up at the same \
             concurrency. CPU per request: on-CPU time of each process's threads over the phase \
             (`/proc/<pid>/task/*/schedstat`), wrk's own from its `getrusage` at exit.\n",
            i.generator.as_deref().unwrap_or("wrk"),
            {
                let mut commands: Vec<String> = Vec::new();
                for p in &i.phases {
                    let c = format!(
                        "`{}`",
                        crate::wrk::Wrk::command(p.threads, p.concurrency, self.settings_duration())
                    );
                    if !commands.contains(&c) {
                        commands.push(c);
                    }
                }
                commands.join(", ")
            },
            match (&i.peer, &i.peer_unavailable) {
                (Some(p), _) =>
                    format!("`{}` ({}, component {} bytes)", p.command, p.version, p.component_bytes),
                (None, Some(why)) => format!("not run: {why}"),
                (None, None) => "not run".to_owned(),
            }
        );
        md.push_str(
            "| phase | c | wrk threads | req/s | p50 ms | p75 ms | p90 ms | p99 ms | max ms | errors | CPU µs per request |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for p in &i.phases {
            let f = &p.figures;
            let stats = self.phase(&p.id);
            let costs: Vec<String> =
                p.costs.iter().map(|c| format!("{} {}", c.process, num(c.cpu_us_per_request))).collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                stats.map_or(p.id.as_str(), |s| s.label.as_str()),
                p.concurrency,
                p.threads,
                stats.map_or("-".to_owned(), |s| num(s.throughput_rps)),
                num(f.p50_us / 1000.0),
                num(f.p75_us / 1000.0),
                num(f.p90_us / 1000.0),
                num(f.p99_us / 1000.0),
                num(f.max_us / 1000.0),
                f.errors(),
                costs.join(", ")
            );
        }
    }

    fn settings_duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.settings.duration_s.max(0.001))
    }

    fn time_markdown(&self, md: &mut String) {
        let i = &self.issue15;
        md.push_str("\n## Where the time goes\n\n");
        let Some(warm) = i.phase(&warm_id(1)) else {
            let _ = writeln!(md, "Not measured: the wrk warm HTTP c=1 phase did not run.");
            return;
        };
        let _ = writeln!(
            md,
            "Per request over the wrk warm HTTP c=1 phase ({} requests in {} s), beside the peer's c=1 \
             phase: on-CPU µs of each process and its context switches (voluntary, i.e. waits, in \
             brackets). The `/proc/<pid>/stat` tick count (10 ms resolution, also counting threads \
             that ended) is the cross-check.\n",
            warm.figures.requests,
            num(warm.figures.duration_us as f64 / 1e6)
        );
        md.push_str(
            "| phase | process | CPU µs per request | ctx switches per request (voluntary) | ticks cross-check µs |\n\
             |---|---|---|---|---|\n",
        );
        let peer = i.phase(&peer_id(1));
        for (name, phase) in [("platform c=1", Some(warm)), ("peer c=1", peer)] {
            let Some(phase) = phase else { continue };
            for c in &phase.costs {
                let _ = writeln!(
                    md,
                    "| {name} | {} | {} | {} ({}) | {} |",
                    c.process,
                    num(c.cpu_us_per_request),
                    num(c.ctx_switches_per_request),
                    num(c.voluntary_per_request),
                    c.ticks_cpu_us_per_request.map_or("-".to_owned(), num)
                );
            }
        }
        if let Some(platform) = cpu_of(warm, &PLATFORM_PROCESSES) {
            let peer_cpu = peer.and_then(|p| cpu_of(p, &["wasmtime"]));
            let _ = writeln!(
                md,
                "\nThe platform spends {} µs of CPU per warm call (api + executor + nats-server){}.",
                num(platform),
                peer_cpu.map_or(String::new(), |p| format!(
                    "; the peer {} µs for the same call ({}x)",
                    num(p),
                    num(platform / p)
                ))
            );
        }
        let in_process = self.in_process.as_ref().map(InProcess::until_reply_ms);
        if let (Some(w), Some(f), Some(n), Some(ip), Some(floors)) = (
            self.phase(&warm_id(1)),
            self.phase(&floor_id(1)),
            self.phase("floor-nats-c1"),
            in_process,
            self.c1_floors_ms(),
        ) {
            let _ = writeln!(
                md,
                "Latency at c=1: the warm call's p50 is {} ms; the HTTP floor ({} ms), the NATS \
                 request-reply floor ({} ms) and the in-process call up to its output ({} ms) add up to {} ms, so {} ms \
                 ({}%) is the platform's own: the api's and executor's handling around the hops.",
                num(w.p50_ms),
                num(f.p50_ms),
                num(n.p50_ms),
                num(ip),
                num(floors),
                num(w.p50_ms - floors),
                num((w.p50_ms - floors) / w.p50_ms * 100.0)
            );
        }
        for note in &i.time_notes {
            let _ = writeln!(md, "\n{note}");
        }
    }

    /// The c=1 floors a warm HTTP call cannot go below: the HTTP floor
    /// (wrk), the NATS request-reply floor and the in-process call, in ms.
    fn c1_floors_ms(&self) -> Option<f64> {
        let in_process = self.in_process.as_ref().map(InProcess::until_reply_ms)?;
        Some(self.phase(&floor_id(1))?.p50_ms + self.phase("floor-nats-c1")?.p50_ms + in_process)
    }

    /// What this run's floors and cores allow at best, so a missed target
    /// says whether the code or the design (two hops, two cores) stands in
    /// the way.
    fn limits_markdown(&self, md: &mut String) {
        let i = &self.issue15;
        let mut lines = Vec::new();
        if let (Some(floors), Some(peer)) = (self.c1_floors_ms(), self.phase(&peer_id(1))) {
            lines.push(format!(
                "- c=1: the design's hops alone (HTTP to the api, one NATS request-reply to an executor) \
                 and the in-process call add up to {} ms, {}x the peer's p50 ({} ms), before the platform \
                 adds anything of its own: the 1.5x goal leaves it {} ms (the 1.3x-floors goal {} ms).",
                num(floors),
                num(floors / peer.p50_ms),
                num(peer.p50_ms),
                num((1.5 * peer.p50_ms - floors).max(0.0)),
                num(0.3 * floors)
            ));
        }
        if let (Some(warm), Some(peer)) = (i.phase(&warm_id(64)), self.phase(&peer_id(64))) {
            let cores = self.run.cores.max(1) as f64;
            // Without wrk's own cost the ceiling would flatter the platform.
            if let (Some(platform), Some(generator)) =
                (cpu_of(warm, &PLATFORM_PROCESSES), cpu_of(warm, &["wrk"]))
            {
                let ceiling = cores * 1e6 / (platform + generator);
                let goal = 2.5 * peer.throughput_rps;
                lines.push(format!(
                    "- c=64: the platform spends {} µs of CPU per call (api + executor + nats-server) and \
                     wrk {} µs, so {} cores serve at most {} req/s at this cost; 2.5x the peer is {} req/s, \
                     which leaves the platform {} µs per call.",
                    num(platform),
                    num(generator),
                    cores,
                    num(ceiling),
                    num(goal),
                    num((cores * 1e6 / goal - generator).max(0.0))
                ));
            }
        }
        if lines.is_empty() {
            return;
        }
        md.push_str("\n### What the floors and the cores allow\n\n");
        for line in lines {
            let _ = writeln!(md, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(id: &str, p50: f64, p99: f64, rps: f64) -> Value {
        serde_json::json!({"id": id, "p50_ms": p50, "p99_ms": p99, "throughput_rps": rps})
    }

    fn run() -> Value {
        serde_json::json!({
            "load": [
                phase("floor-nats-c1", 0.1, 0.2, 7000.0),
                phase("floor-nats-c64", 0.5, 1.0, 100000.0),
                phase("warm-nats-c64", 2.0, 4.0, 30000.0),
                phase("warm-http-c1", 0.5, 0.7, 2000.0),
                phase("warm-http-c64", 4.0, 8.0, 14000.0),
                phase("pipeline-http-c1", 1.5, 1.8, 650.0),
                phase(&floor_id(1), 0.03, 0.05, 30000.0),
                phase(&warm_id(1), 0.45, 0.6, 2100.0),
                phase(&warm_id(64), 4.2, 9.0, 15000.0),
                phase(&peer_id(1), 0.2, 0.3, 5000.0),
                phase(&peer_id(64), 7.0, 15.0, 9000.0),
            ],
            "in_process": {"p50_us": 20.0},
            "async_jobs": {"submit": {"throughput_rps": 5600.0}, "completion": {"throughput_rps": 3500.0}},
        })
    }

    fn row<'a>(rows: &'a [Target], start: &str) -> &'a Target {
        rows.iter().find(|t| t.name.starts_with(start)).unwrap_or_else(|| panic!("no row {start}"))
    }

    #[test]
    fn judges_every_ratio_and_says_by_how_much() {
        let rows = judge(&run(), &Issue15::default(), None);
        let t = row(&rows, "warm HTTP c=1 p50 vs peer");
        // 0.45 / 0.2 = 2.25x against 1.5x: must fall to 0.3 ms.
        assert_eq!(t.met, Some(false));
        assert!(t.actual.ends_with("= 2.25x"), "{}", t.actual);
        assert!(t.margin.contains("1.50x over") && t.margin.contains("to 0.300 ms"), "{}", t.margin);
        let t = row(&rows, "warm HTTP c=1 p50 vs (NATS floor");
        // 0.45 / (0.1 + 0.03 + 0.02) = 3x.
        assert_eq!(t.met, Some(false));
        assert!(t.actual.ends_with("= 3.00x"), "{}", t.actual);
        let t = row(&rows, "warm HTTP c=64 throughput vs peer");
        assert_eq!(t.met, Some(false));
        assert!(t.margin.contains("needs 1.50x today's (7500 req/s more, to 22500 req/s)"), "{}", t.margin);
        assert_eq!(row(&rows, "warm HTTP c=64 p99 vs peer").met, Some(true));
        let t = row(&rows, "NATS direct c=64");
        assert_eq!(t.met, Some(false));
        assert!(t.margin.starts_with("75.0% of the 0.400x goal"), "{}", t.margin);
        // Jobs against the bench generator's sync c=64 (14000 req/s).
        let t = row(&rows, "async jobs completion");
        assert!(t.name.contains("`warm-http-c64`") && t.actual.ends_with("= 0.250x"), "{t:?}");
        assert_eq!(row(&rows, "async jobs submit").met, Some(false));
        // 1.5 / 0.5 = 3x against 2x: must fall to 1 ms.
        let t = row(&rows, "three-step pipeline p50 vs one warm call p50 (HTTP");
        assert_eq!(t.met, Some(false));
        assert!(t.margin.contains("must fall 33.3% (by 0.500 ms) to 1.00 ms"), "{}", t.margin);
        let t = row(&rows, "three-step pipeline p50 vs one warm call p50 (NATS");
        assert_eq!((t.met, t.margin.as_str()), (None, "not measured in this run"));
        assert_eq!(row(&rows, "many functions").met, None);
        assert_eq!(row(&rows, "Python hello").margin, "not measured in this run");
        assert_eq!(row(&rows, "auth on").met, Some(true));
    }

    #[test]
    fn reads_the_other_parts_where_present() {
        let mut json = run();
        // The c=16 artifact p99 is not the goal's figure: the c=1 one is.
        json["many"] = serde_json::json!({"artifact_p99_ms": 3.0, "artifact_c1_p99_ms": 12.5});
        let languages = serde_json::json!({"guests": [
            {"language": "Rust", "world": "exec", "warm_http_c1": {"p50_ms": 0.5}},
            {"language": "Python", "world": "exec", "warm_http_c1": {"p50_ms": 0.9}},
            {"language": "JavaScript", "world": "exec", "warm_http_c1": {"p50_ms": 1.5}},
        ]});
        let rows = judge(&json, &Issue15::default(), Some(&languages));
        let t = row(&rows, "many functions");
        assert_eq!(t.met, Some(false));
        assert!(t.actual.contains("12.5 ms (`/many/artifact_c1_p99_ms`)"), "{}", t.actual);
        assert_eq!(row(&rows, "Python hello").met, Some(true));
        let t = row(&rows, "JavaScript hello");
        assert_eq!(t.met, Some(false));
        assert!(t.actual.ends_with("= 3.00x"), "{}", t.actual);
    }

    #[test]
    fn a_phase_with_errors_is_no_figure() {
        let mut json = run();
        for phase in json["load"].as_array_mut().unwrap() {
            if phase["id"] == "wrk-warm-http-c1" {
                phase["errors"] = serde_json::json!(3);
            }
        }
        let rows = judge(&json, &Issue15::default(), None);
        assert_eq!(row(&rows, "warm HTTP c=1 p50 vs peer").met, None);
    }

    #[test]
    fn says_why_when_wrk_did_not_run() {
        let json = serde_json::json!({"load": [], "async_jobs_unavailable": "not run"});
        let issue = Issue15 { wrk_unavailable: Some("wrk not found".to_owned()), ..Issue15::default() };
        let rows = judge(&json, &issue, None);
        assert_eq!(row(&rows, "warm HTTP c=1 p50 vs peer").margin, "not measured: wrk not found");
        assert_eq!(row(&rows, "async jobs completion").margin, "not measured: not run");
        assert_eq!(row(&rows, "peer (wasmtime serve)").met, None);
        assert_eq!(row(&rows, "auth on").met, None);
    }

    fn report() -> Report {
        let run = crate::machine::RunInfo {
            commit: "abc".to_owned(),
            short_commit: "abc".to_owned(),
            started_utc: "2026-01-01T00:00:00Z".to_owned(),
            date_utc: "2026-01-01".to_owned(),
            profile: "dev".to_owned(),
            cores: 2,
            memory_mib: None,
            cpu_model: None,
            service_env: Vec::new(),
        };
        let settings = crate::report::Settings {
            duration_s: 1.0,
            warmup_s: 0.2,
            max_requests: None,
            open_loop_rate: 500,
            quick: true,
            upload_runs: 3,
            restart_runs: 2,
            async_jobs: 300,
        };
        Report::new(run, settings)
    }

    fn wrk_phase(report: &mut Report, group: &str, target: &str, p50_us: f64, costs: &[(&str, f64)]) {
        wrk_phase_at(report, group, target, 1, p50_us, costs);
    }

    /// wrk's figures of 2,000 requests in 1 s, every percentile at `p50_us`.
    fn figures(p50_us: f64) -> Figures {
        serde_json::from_value(serde_json::json!({
            "requests": 2000, "duration_us": 1_000_000, "bytes": 1, "connect_errors": 0, "read_errors": 0,
            "write_errors": 0, "status_errors": 0, "timeouts": 0, "min_us": 10, "max_us": 900,
            "mean_us": 400.0, "stdev_us": 1.0, "p50_us": p50_us, "p75_us": p50_us, "p90_us": p50_us,
            "p99_us": p50_us, "p999_us": p50_us, "rusage": null,
        }))
        .unwrap()
    }

    fn wrk_phase_at(
        report: &mut Report,
        group: &str,
        target: &str,
        concurrency: usize,
        p50_us: f64,
        costs: &[(&str, f64)],
    ) {
        let figures = figures(p50_us);
        let stats = figures.load_stats(&crate::report::PhaseName::new(group, group, "http"), concurrency);
        let id = stats.id.clone();
        report.add_load(stats);
        let costs = costs
            .iter()
            .map(|&(process, cpu)| Cost {
                process: process.to_owned(),
                cpu_us_per_request: cpu,
                ctx_switches_per_request: 4.0,
                voluntary_per_request: 3.0,
                ticks_cpu_us_per_request: None,
                source: "test".to_owned(),
            })
            .collect();
        report.issue15.phases.push(WrkPhase {
            id,
            target: target.to_owned(),
            concurrency,
            threads: 1,
            figures,
            costs,
        });
    }

    #[test]
    fn the_markdown_has_the_verdict_the_wrk_table_and_where_the_time_goes() {
        let mut report = report();
        assert!(report.markdown().contains("## Where the time goes\n\nNot measured"));
        wrk_phase(&mut report, "wrk-floor", "floor", 30.0, &[("faas-bench (constant server)", 10.0)]);
        wrk_phase(
            &mut report,
            "wrk-warm",
            "platform",
            450.0,
            &[("wrk (generator)", 8.0), ("faas-api", 60.0), ("faas-executor", 70.0), ("nats-server", 20.0)],
        );
        wrk_phase(
            &mut report,
            "wrk-peer",
            "peer",
            200.0,
            &[("wrk (generator)", 7.0), ("wasmtime serve", 50.0)],
        );
        report.judge_issue15(None);
        let md = report.markdown();
        assert!(
            md.contains(
                "| warm HTTP c=1 p50 vs peer p50 (wrk) | <= 1.5x | 0.450 ms / 0.200 ms = 2.25x | **missed** |"
            ),
            "{md}"
        );
        // 8 µs of wrk against 150 µs of the platform.
        assert!(md.contains("| 8.00 µs / 150 µs = 0.053x | met |"), "{md}");
        assert!(md.contains("| platform c=1 | faas-executor | 70.0 | 4.00 (3.00) | - |"), "{md}");
        assert!(md.contains("The platform spends 150 µs of CPU per warm call (api + executor + nats-server); the peer 50.0 µs"), "{md}");
        assert!(md.contains("`wrk -t1 -c1 -d1s --latency"), "{md}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["issue15"]["phases"][1]["costs"][1]["process"], "faas-api");
    }

    #[test]
    fn says_what_the_cores_allow_at_c64() {
        let mut report = report();
        assert!(!report.markdown().contains("What the floors and the cores allow"));
        // 2,000 requests in 1 s each: the peer's 2,000 req/s makes the goal 5,000.
        wrk_phase_at(
            &mut report,
            "wrk-warm",
            "platform",
            64,
            900.0,
            &[("wrk (generator)", 10.0), ("faas-api", 40.0), ("faas-executor", 40.0), ("nats-server", 20.0)],
        );
        wrk_phase_at(&mut report, "wrk-peer", "peer", 64, 900.0, &[("wasmtime serve", 50.0)]);
        let md = report.markdown();
        assert!(md.contains("### What the floors and the cores allow"), "{md}");
        // 2 cores / (100 + 10) µs = 18,182 req/s; 2e6 / 5,000 - 10 = 390 µs.
        assert!(md.contains("spends 100 µs of CPU per call"), "{md}");
        assert!(md.contains("serve at most 18182 req/s"), "{md}");
        assert!(
            md.contains("2.5x the peer is 5000 req/s, which leaves the platform 390 µs per call"),
            "{md}"
        );
    }

    #[test]
    fn says_what_the_hops_leave_at_c1() {
        let mut report = report();
        wrk_phase(&mut report, "wrk-floor", "floor", 50.0, &[("faas-bench (constant server)", 10.0)]);
        wrk_phase(&mut report, "wrk-peer", "peer", 200.0, &[("wasmtime serve", 50.0)]);
        // The NATS floor is the bench's own generator, not wrk.
        report
            .add_load(figures(120.0).load_stats(&crate::report::PhaseName::new("floor", "floor", "nats"), 1));
        let md = report.markdown();
        assert!(!md.contains("- c=1:"), "no line without the in-process call:\n{md}");
        report.in_process = Some(crate::inprocess::InProcess {
            compile_ms: 50.0,
            prepare_ms: 1.0,
            calls: 1000,
            calls_per_s: 100_000.0,
            p50_us: 14.0,
            to_output_p50_us: 10.0,
            p99_us: 12.0,
            max_us: 80.0,
        });
        let md = report.markdown();
        // 0.050 + 0.120 + 0.010 ms against the peer's 0.200 ms.
        assert!(md.contains("add up to 0.180 ms, 0.900x the peer's p50 (0.200 ms)"), "{md}");
        assert!(md.contains("the 1.5x goal leaves it 0.120 ms (the 1.3x-floors goal 0.054 ms)"), "{md}");
    }
}

//! What a pipeline costs against one call (issue 15: a three-step
//! pipeline's p50 ≤ 2× one warm call): warm `hello` and the README's
//! three-step pipeline validate → normalize → hello at c=1, over HTTP and
//! over NATS, in one run, with the ratio of the p50s (`--only pipelines`).
//!
//! The phases keep the names the full run gives them (`warm-<t>-c1`,
//! `pipeline-<t>-c1`), so the verdict table finds them either way.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde::Serialize;

use super::{BUCKET, Bench, PIPELINE};
use crate::ops::{self, HELLO_HTTP_ANSWER, HELLO_INPUT, HELLO_OUTPUT};
use crate::platform::PREFIX;
use crate::report::{PhaseName, Report, num};

/// Issue 15's bound on a three-step pipeline's p50 over one call's.
const TARGET_RATIO: f64 = 2.0;

/// A three-step pipeline's p50 over one warm call's, per transport, at c=1.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineCost {
    /// `http` and `nats`, each when both phases were measured.
    pub transports: Vec<PipelineRatio>,
}

/// One transport's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineRatio {
    /// `http` or `nats`.
    pub transport: String,
    /// Warm `hello`'s p50, ms.
    pub call_p50_ms: f64,
    /// The three-step pipeline's p50, ms.
    pub pipeline_p50_ms: f64,
    /// `pipeline_p50_ms / call_p50_ms`; the target is ≤ 2.
    pub ratio: f64,
}

impl PipelineCost {
    /// The ratios of the c=1 phases `report` holds; `None` without any.
    pub fn of(report: &Report) -> Option<Self> {
        let transports: Vec<PipelineRatio> = ["http", "nats"]
            .into_iter()
            .filter_map(|transport| {
                let call = report.phase(&format!("warm-{transport}-c1"))?;
                let pipeline = report.phase(&format!("pipeline-{transport}-c1"))?;
                // Latencies count successful requests only: a phase with
                // errors has no figure to judge.
                (call.p50_ms > 0.0 && pipeline.p50_ms > 0.0 && call.errors == 0 && pipeline.errors == 0).then(
                    || PipelineRatio {
                        transport: transport.to_owned(),
                        call_p50_ms: call.p50_ms,
                        pipeline_p50_ms: pipeline.p50_ms,
                        ratio: pipeline.p50_ms / call.p50_ms,
                    },
                )
            })
            .collect();
        (!transports.is_empty()).then_some(Self { transports })
    }

    /// The section of the results file.
    pub fn markdown(&self) -> String {
        let mut md = String::from(
            "\n## Pipeline cost\n\nA three-step pipeline (validate → normalize → hello, run in process \
             by the executor that takes the request) against one warm hello call, c=1, same run. \
             Target: pipeline p50 ≤ 2× the call's.\n\n| transport | call p50 ms | pipeline p50 ms | \
             ratio | verdict |\n|---|---|---|---|---|\n",
        );
        for t in &self.transports {
            let verdict = if t.ratio <= TARGET_RATIO { "met" } else { "**missed**" };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {}x | {verdict} |",
                t.transport,
                num(t.call_p50_ms),
                num(t.pipeline_p50_ms),
                num(t.ratio)
            );
        }
        md
    }
}

impl Bench {
    /// Uploads validate and normalize and defines the pipeline (the full
    /// run's `flows` and `--only pipelines` both start here).
    pub(super) async fn define_pipeline(&mut self) -> anyhow::Result<()> {
        let guests = tokio::task::spawn_blocking(|| {
            ["validate", "normalize"].map(|name| std::fs::read(stack::guests::guest_path(name)))
        })
        .await?;
        for (name, bytes) in ["validate", "normalize"].into_iter().zip(guests) {
            self.platform
                .upload(BUCKET, name, bytes.with_context(|| format!("read the {name} guest"))?)
                .await?;
        }
        let api = self.platform.api_url.clone();
        let steps = ["validate", "normalize", "hello"].map(|f| format!("{BUCKET}/{f}"));
        let path = format!("/pipeline/{PIPELINE}");
        let body = serde_json::json!({"steps": steps});
        let resp = self.platform.http.put(format!("{api}{path}")).json(&body).send().await?;
        anyhow::ensure!(resp.status().is_success(), "PUT {path}: {} {}", resp.status(), resp.text().await?);
        Ok(())
    }

    /// Warm hello and the three-step pipeline at c=1, over HTTP then NATS,
    /// and their ratio (`--only pipelines`).
    pub async fn pipelines(&mut self) -> anyhow::Result<()> {
        self.define_pipeline().await?;
        let api = self.platform.api_url.clone();
        let hello_http = self.http_hello();
        let pipeline_http = ops::http_post(
            &self.http,
            format!("{api}/exec/pipeline/{PIPELINE}"),
            HELLO_INPUT,
            HELLO_HTTP_ANSWER,
        );
        let hello_nats = self.nats_hello();
        let subject = format!("{PREFIX}.pipeline.{PIPELINE}");
        let pipeline_nats = ops::nats_request(&self.nats, subject, HELLO_INPUT, HELLO_OUTPUT, true);
        let phases = [
            (PhaseName::new("warm", "warm hello: HTTP api", "http"), hello_http),
            (
                PhaseName::new("pipeline", "pipeline validate → normalize → hello: HTTP api", "http"),
                pipeline_http,
            ),
            (PhaseName::new("warm", "warm hello: NATS direct", "nats"), hello_nats),
            (
                PhaseName::new("pipeline", "pipeline validate → normalize → hello: NATS request", "nats"),
                pipeline_nats,
            ),
        ];
        for (name, op) in &phases {
            self.closed(name, op, 1, self.duration(), None, self.warmup()).await;
        }
        self.report.pipeline_cost = PipelineCost::of(&self.report);
        for t in self.report.pipeline_cost.iter().flat_map(|cost| &cost.transports) {
            println!(
                "      {} c=1: pipeline p50 {} ms / hello p50 {} ms = {}x (target ≤ {TARGET_RATIO}x)",
                t.transport,
                num(t.pipeline_p50_ms),
                num(t.call_p50_ms),
                num(t.ratio)
            );
        }
        Ok(())
    }
}

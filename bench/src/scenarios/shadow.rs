//! Shadow traffic's cost to the live caller: warm `hello` over HTTP at
//! c=1 and c=16 without shadowing, then with 10 % of the calls also run on
//! a candidate version (a tagged copy of hello), so the report shows live
//! p50/p99 with and without (`--only shadow`).

use anyhow::{Context as _, bail};

use super::{BUCKET, Bench, FLOW_CONCURRENCY};
use crate::report::PhaseName;

/// The share of live calls shadowed.
const SAMPLE: f64 = 0.1;

impl Bench {
    /// Measures warm `hello` without, then with, shadowing at [`SAMPLE`].
    pub async fn shadow(&mut self) -> anyhow::Result<()> {
        let candidate = self.shadow_candidate().await?;
        let hello = self.http_hello();
        let off = PhaseName::new("shadow-off", "warm hello: HTTP api, no shadowing", "http");
        for c in FLOW_CONCURRENCY {
            self.closed(&off, &hello, c, self.duration(), None, self.warmup()).await;
        }
        let api = self.platform.api_url.clone();
        let spec = serde_json::json!({"version": candidate, "sample": SAMPLE, "max_per_sec": 1000});
        let resp =
            self.platform.http.put(format!("{api}/file/{BUCKET}/hello/shadow")).json(&spec).send().await?;
        if !resp.status().is_success() {
            bail!("PUT shadow: {} {}", resp.status(), resp.text().await.unwrap_or_default());
        }
        let on = PhaseName::new("shadow-on", "warm hello: HTTP api, 10 % shadowed", "http");
        for c in FLOW_CONCURRENCY {
            self.closed(&on, &hello, c, self.duration(), None, self.warmup()).await;
        }
        // The pairs that ran, so a figure never stands for shadowing that did not happen.
        let report: serde_json::Value = self
            .platform
            .http
            .get(format!("{api}/file/{BUCKET}/hello/shadow/report"))
            .send()
            .await?
            .json()
            .await?;
        println!("      shadow pairs recorded: {} (verdicts {})", report["outcomes"], report["verdicts"]);
        if report["outcomes"].as_u64().unwrap_or(0) == 0 {
            bail!("no shadow pair was recorded: {report}");
        }
        let resp = self.platform.http.delete(format!("{api}/file/{BUCKET}/hello/shadow")).send().await?;
        if !resp.status().is_success() {
            bail!("DELETE shadow: {} {}", resp.status(), resp.text().await.unwrap_or_default());
        }
        for c in FLOW_CONCURRENCY {
            let stats = |id: String| self.report.phase(&id).map(|s| (s.p50_ms, s.p99_ms));
            if let (Some(off), Some(on)) =
                (stats(format!("shadow-off-http-c{c}")), stats(format!("shadow-on-http-c{c}")))
            {
                println!(
                    "      live hello at c={c}: p50 {} / {} ms, p99 {} / {} ms (without / with 10 % shadowed)",
                    crate::report::num(off.0),
                    crate::report::num(on.0),
                    crate::report::num(off.1),
                    crate::report::num(on.1)
                );
            }
        }
        Ok(())
    }

    /// Uploads a tagged copy of hello, then hello again (current once
    /// more); the copy's digest, the candidate.
    async fn shadow_candidate(&mut self) -> anyhow::Result<String> {
        let variant = stack::guests::with_tag(&self.hello, &format!("{}-shadow", self.run_tag));
        self.platform.upload(BUCKET, "hello", variant).await?;
        let api = &self.platform.api_url;
        let listed: serde_json::Value = self
            .platform
            .http
            .get(format!("{api}/file/{BUCKET}/hello/versions"))
            .send()
            .await?
            .json()
            .await?;
        let candidate = listed["versions"]
            .as_array()
            .and_then(|versions| versions.iter().find(|v| v["current"] == true))
            .and_then(|v| v["digest"].as_str())
            .context("the versions listing names no current version")?
            .to_owned();
        self.platform.upload(BUCKET, "hello", self.hello.clone()).await?;
        Ok(candidate)
    }
}

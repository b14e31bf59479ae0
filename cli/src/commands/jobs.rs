//! `faas jobs`, and waiting for a job to end.

use std::time::Duration;

use protocol::replay::ReplayRequest;
use protocol::{JobRecord, JobStatus};

use super::Context;
use super::functions::print_raw;
use crate::args::{Jobs, Output};
use crate::failure::Failure;
use crate::output::{self, print};

/// The longest pause between two polls of a job.
const MAX_POLL: Duration = Duration::from_secs(1);

/// Runs a `faas jobs` command.
pub async fn run(ctx: &Context, command: Jobs) -> Result<(), Failure> {
    match command {
        Jobs::Ls { status, limit } => {
            let list = ctx.client.jobs(status, limit).await?;
            let rows = list.jobs.iter().map(row).collect();
            print(ctx.output, &list, HEADERS, rows);
        }
        Jobs::Get { id } => {
            let record = ctx.client.job(&id).await?;
            print(ctx.output, &record, HEADERS, vec![row(&record)]);
        }
        Jobs::Redrive { id } => {
            let record = ctx.client.redrive(&id).await?;
            print(ctx.output, &record, HEADERS, vec![row(&record)]);
        }
        Jobs::Replay { id, version, side_effects, call, wait } => {
            let request = ReplayRequest { version, side_effects };
            let accepted = if call {
                ctx.client.replay_call(&id, &request).await?
            } else {
                ctx.client.replay_job(&id, &request).await?
            };
            if wait {
                return wait_and_print(ctx, &accepted.job_id).await;
            }
            let row = vec![
                accepted.job_id.clone(),
                accepted.status.as_str().to_owned(),
                accepted.status_url.clone(),
            ];
            print(ctx.output, &accepted, &["JOB", "STATUS", "STATUS URL"], vec![row]);
        }
    }
    Ok(())
}

const HEADERS: &[&str] = &["JOB", "TARGET", "STATUS", "ATTEMPTS", "SUBMITTED", "ERROR"];

fn row(job: &JobRecord) -> Vec<String> {
    vec![
        job.job_id.clone(),
        job.function.to_string(),
        job.status.as_str().to_owned(),
        job.attempts.to_string(),
        output::time_ms(Some(job.submitted_at_ms)),
        job.error.as_ref().map(|e| e.to_string()).unwrap_or_default(),
    ]
}

/// Polls a job with a spinner until it ends, then prints its result (a
/// failed job is a [`Failure::JobFailed`]).
pub async fn wait_and_print(ctx: &Context, job_id: &str) -> Result<(), Failure> {
    let spinner = if ctx.output == Output::Table {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    spinner.enable_steady_tick(Duration::from_millis(100));
    let mut pause = Duration::from_millis(50);
    let record = loop {
        let record = ctx.client.job(job_id).await;
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                spinner.finish_and_clear();
                return Err(err.into());
            }
        };
        if record.status.is_final() {
            break record;
        }
        spinner.set_message(format!(
            "job {job_id}: {} (attempts: {})",
            record.status.as_str(),
            record.attempts
        ));
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL);
    };
    spinner.finish_and_clear();
    if ctx.output == Output::Json {
        output::json(&record);
    }
    match (record.status, record.error) {
        (JobStatus::Failed, Some(error)) => Err(Failure::JobFailed { job_id: record.job_id, error }),
        (JobStatus::Failed, None) => Err(Failure::JobFailed {
            job_id: record.job_id,
            error: protocol::ErrorBody::new(protocol::ErrorCode::Internal, "failed without an error"),
        }),
        _ => {
            if ctx.output == Output::Table {
                print_raw(record.result.as_deref().unwrap_or_default());
            }
            Ok(())
        }
    }
}

//! `faas logs <bucket>/<function> [--follow] [--limit N]`: what the
//! function's calls printed, and how they ended, as the platform keeps it.

use protocol::FunctionRef;
use protocol::audit::Outcome;
use protocol::logs::CallLog;

use super::Context;
use crate::args::Output;
use crate::failure::Failure;
use crate::output;

/// Runs `faas logs`.
pub async fn run(
    ctx: &Context,
    function: &FunctionRef,
    follow: bool,
    limit: Option<usize>,
) -> Result<(), Failure> {
    if !follow {
        for log in ctx.client.logs(function, limit).await? {
            print(ctx.output, &log);
        }
        return Ok(());
    }
    let mut logs = ctx.client.follow_logs(function, limit).await?;
    while let Some(log) = logs.next().await {
        print(ctx.output, &log?);
    }
    Ok(())
}

/// One call: a JSON object on one line, or a heading line followed by its
/// output, each line marked with the stream it came from.
fn print(output: Output, log: &CallLog) {
    if output == Output::Json {
        println!("{}", serde_json::to_string(log).expect("call logs serialise"));
        return;
    }
    println!("{}", heading(log));
    for (stream, text) in [("stdout", &log.stdout), ("stderr", &log.stderr)] {
        for line in text.lines() {
            println!("  [{stream}] {line}");
        }
    }
    if log.truncated {
        println!("  (output cut to the platform's cap)");
    }
}

/// `time  request-id  outcome  duration`.
fn heading(log: &CallLog) -> String {
    let outcome = match log.outcome {
        Outcome::Ok => "ok",
        Outcome::Error(code) => code.as_str(),
    };
    format!("{}  {}  {outcome}  {} ms", output::time_ms(Some(log.at_ms)), log.request_id, log.duration_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ErrorCode;

    #[test]
    fn a_heading_names_the_time_request_outcome_and_duration() {
        let log = CallLog {
            at_ms: 0,
            request_id: "req-1".into(),
            bucket: "b".into(),
            function: "f".into(),
            digest: None,
            executor: "e".into(),
            outcome: Outcome::Error(ErrorCode::FunctionTimeout),
            duration_ms: 12,
            stdout: String::new(),
            stderr: String::new(),
            truncated: false,
        };
        assert_eq!(heading(&log), "1970-01-01 00:00:00  req-1  function_timeout  12 ms");
    }
}

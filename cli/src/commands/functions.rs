//! Functions and buckets: deploy, invoke, ls, rm, get, versions.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use client::{AsTarget, Invocation};
use protocol::http::Uploaded;
use protocol::{BucketName, ErrorCode, FunctionRef, Target};

use super::Context;
use super::jobs;
use crate::args::{Input, Output};
use crate::failure::Failure;
use crate::output::{self, print};
use crate::project;

/// Uploads at least this large get a progress bar.
const PROGRESS_FROM: usize = 1 << 20;

/// `faas deploy`: builds a directory first, then uploads.
pub async fn deploy(
    ctx: &Context,
    function: &FunctionRef,
    path: Option<PathBuf>,
    create_bucket: bool,
) -> Result<(), Failure> {
    let path = path.unwrap_or_else(|| PathBuf::from("."));
    let component = if path.is_dir() { project::build(&path)? } else { path };
    let (uploaded, elapsed) = upload(ctx, function, &component, create_bucket).await?;
    match ctx.output {
        Output::Json => {
            let mut answer = serde_json::to_value(&uploaded).expect("answers serialise");
            answer["elapsed_ms"] = (elapsed.as_millis() as u64).into();
            output::json(&answer);
        }
        Output::Table => println!(
            "deployed {function}: {}, sha256:{}, in {:.2} s",
            output::size(uploaded.size),
            uploaded.digest,
            elapsed.as_secs_f64()
        ),
    }
    Ok(())
}

/// Uploads a component file (creating the bucket if asked), with a
/// progress bar when it is large; answers the stored function and the
/// time the upload took.
pub async fn upload(
    ctx: &Context,
    function: &FunctionRef,
    component: &Path,
    create_bucket: bool,
) -> Result<(Uploaded, std::time::Duration), Failure> {
    let bytes = std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    if create_bucket {
        match ctx.client.create_bucket(&function.bucket).await {
            Err(err) if err.code() != Some(ErrorCode::BucketExists) => return Err(err.into()),
            _ => {}
        }
    }
    let bar = if bytes.len() >= PROGRESS_FROM && ctx.output == Output::Table {
        let bar = indicatif::ProgressBar::new(bytes.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "uploading {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("a valid template"),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = Instant::now();
    let progress = bar.clone();
    let uploaded = ctx.client.upload(function, bytes.into(), move |sent| progress.set_position(sent)).await;
    bar.finish_and_clear();
    Ok((uploaded?, started.elapsed()))
}

/// `faas invoke`.
pub async fn invoke(
    ctx: &Context,
    target: &Target,
    input: &Input,
    logs: bool,
    run_async: bool,
    wait: bool,
) -> Result<(), Failure> {
    let input = read_input(input)?;
    if run_async {
        if logs {
            return Err(Failure::usage(
                "--logs does not apply to --async: a job's record keeps its result only",
            ));
        }
        let accepted = ctx.client.submit(target, input).await?;
        if !wait {
            let rows = vec![vec![accepted.job_id.clone(), accepted.status.as_str().to_owned()]];
            print(ctx.output, &accepted, &["JOB", "STATUS"], rows);
            return Ok(());
        }
        return jobs::wait_and_print(ctx, &accepted.job_id).await;
    }
    if logs && matches!(target, Target::Pipeline(_)) {
        return Err(Failure::usage("--logs applies to functions, not pipelines"));
    }
    let invocation = ctx.client.exec(target, input, logs).await?;
    print_invocation(ctx.output, &invocation);
    Ok(())
}

/// Runs `target` at once and prints its output.
pub async fn run(ctx: &Context, target: &impl AsTarget, input: &Input) -> Result<(), Failure> {
    let invocation = ctx.client.exec(target, read_input(input)?, false).await?;
    print_invocation(ctx.output, &invocation);
    Ok(())
}

/// Prints a call's output as it is (JSON: the whole [`Invocation`]), and
/// its logs on stderr.
pub fn print_invocation(output: Output, invocation: &Invocation) {
    if output == Output::Json {
        output::json(invocation);
        return;
    }
    for (name, log) in [("stdout", &invocation.stdout), ("stderr", &invocation.stderr)] {
        if let Some(log) = log {
            eprintln!("--- {name} ---");
            eprint!("{log}");
            if !log.is_empty() && !log.ends_with('\n') {
                eprintln!();
            }
        }
    }
    if invocation.logs_truncated {
        eprintln!("(logs truncated)");
    }
    if invocation.stdout.is_some() {
        eprintln!("--- result ---");
    }
    print_raw(&invocation.result);
}

/// Prints an output as it is, ending the line if it does not.
pub fn print_raw(result: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(result.as_bytes());
    if !result.ends_with('\n') {
        let _ = stdout.write_all(b"\n");
    }
}

/// The input: `--data`, `--data-file` (`-`: stdin), else stdin unless it is
/// a terminal, else nothing.
pub fn read_input(input: &Input) -> Result<Vec<u8>, Failure> {
    if let Some(data) = &input.data {
        return Ok(data.clone().into_bytes());
    }
    let read_stdin = || {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes).context("reading stdin")?;
        Ok::<_, Failure>(bytes)
    };
    match &input.data_file {
        Some(path) if path.as_os_str() == "-" => read_stdin(),
        Some(path) => Ok(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?),
        None if std::io::stdin().is_terminal() => Ok(Vec::new()),
        None => read_stdin(),
    }
}

/// `faas ls [bucket]`.
pub async fn ls(ctx: &Context, bucket: Option<&BucketName>) -> Result<(), Failure> {
    match bucket {
        None => {
            let list = ctx.client.list_buckets().await?;
            let rows = list
                .buckets
                .iter()
                .map(|b| vec![b.name.clone(), b.created.clone().unwrap_or_else(|| "-".into())])
                .collect();
            print(ctx.output, &list, &["BUCKET", "CREATED"], rows);
        }
        Some(bucket) => {
            let list = ctx.client.list_functions(bucket).await?;
            let rows = list
                .functions
                .iter()
                .map(|f| {
                    vec![
                        f.name.clone(),
                        output::size(f.size),
                        f.last_modified.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            print(ctx.output, &list, &["FUNCTION", "SIZE", "MODIFIED"], rows);
        }
    }
    Ok(())
}

/// `faas rm <bucket>/<function>` or `faas rm <bucket> [--force]`.
pub async fn rm(ctx: &Context, what: &str, force: bool) -> Result<(), Failure> {
    let deleted = if what.contains('/') {
        if force {
            return Err(Failure::usage("--force applies to buckets, not functions"));
        }
        let function: FunctionRef =
            what.parse().map_err(|e: protocol::NameError| Failure::usage(e.to_string()))?;
        ctx.client.delete_function(&function).await?
    } else {
        let bucket = BucketName::new(what).map_err(|e| Failure::usage(e.to_string()))?;
        ctx.client.delete_bucket(&bucket, force).await?
    };
    print(ctx.output, &deleted, &["DELETED"], vec![vec![deleted.deleted.clone()]]);
    Ok(())
}

/// `faas get <bucket>/<function> [dest]`.
pub async fn get(ctx: &Context, function: &FunctionRef, dest: Option<PathBuf>) -> Result<(), Failure> {
    let bytes = ctx.client.download(function).await?;
    let dest = dest.unwrap_or_else(|| PathBuf::from(format!("{}.wasm", function.function)));
    if dest.as_os_str() == "-" {
        std::io::stdout().lock().write_all(&bytes).context("writing stdout")?;
        return Ok(());
    }
    std::fs::write(&dest, &bytes).with_context(|| format!("writing {}", dest.display()))?;
    let answer = serde_json::json!({"function": function.to_string(), "path": dest, "size": bytes.len()});
    match ctx.output {
        Output::Json => output::json(&answer),
        Output::Table => println!("wrote {} ({})", dest.display(), output::size(bytes.len() as u64)),
    }
    Ok(())
}

/// `faas versions <bucket>/<function>`: the kept versions, newest first.
pub async fn versions(ctx: &Context, function: &FunctionRef) -> Result<(), Failure> {
    let listed = ctx.client.versions(function).await?;
    let rows = listed
        .versions
        .iter()
        .map(|version| {
            vec![
                if version.current { "*".to_owned() } else { String::new() },
                version.digest.clone(),
                output::size(version.size),
                version.world.to_string(),
                output::time_ms(Some(version.uploaded_at_ms)),
                version.uploader.clone().unwrap_or_else(|| "-".to_owned()),
                version.description.clone().unwrap_or_default().replace('\n', " "),
                version.aliases.join(","),
            ]
        })
        .collect();
    let headers = ["", "DIGEST", "SIZE", "WORLD", "UPLOADED", "BY", "DESCRIPTION", "ALIASES"];
    print(ctx.output, &listed, &headers, rows);
    Ok(())
}

/// `faas shadow`: starts, shows, reports on or stops a function's shadowing.
pub async fn shadow(
    ctx: &Context,
    function: &FunctionRef,
    spec: Option<protocol::shadow::ShadowSpec>,
    report: bool,
    stop: bool,
) -> Result<(), Failure> {
    if report {
        let report = ctx.client.shadow_report(function).await?;
        let mut rows: Vec<Vec<String>> =
            report.verdicts.iter().map(|(verdict, count)| vec![verdict.clone(), count.to_string()]).collect();
        for (code, count) in &report.candidate_errors {
            rows.push(vec![format!("candidate error {code}"), count.to_string()]);
        }
        let (live, candidate) = (&report.live_latency, &report.candidate_latency);
        rows.push(vec!["live p50/p99 (us)".into(), format!("{}/{}", live.p50_us, live.p99_us)]);
        rows.push(vec![
            "candidate p50/p99 (us)".into(),
            format!("{}/{}", candidate.p50_us, candidate.p99_us),
        ]);
        for difference in &report.differences {
            rows.push(vec![
                format!("differs {}", difference.request_id),
                format!("live {:?} / candidate {:?}", difference.live.output, difference.candidate.output),
            ]);
        }
        print(ctx.output, &report, &["", "COUNT"], rows);
    } else if stop {
        let deleted = ctx.client.delete_shadow(function).await?;
        print(ctx.output, &deleted, &["STOPPED"], vec![vec![function.to_string()]]);
    } else {
        let config = match spec {
            Some(spec) => ctx.client.put_shadow(function, &spec).await?,
            None => ctx.client.shadow(function).await?,
        };
        let row = vec![
            config.function.clone(),
            config.candidate.clone(),
            config.sample.to_string(),
            config.max_per_sec.to_string(),
            output::time_ms(Some(config.started_at_ms)),
        ];
        print(ctx.output, &config, &["FUNCTION", "CANDIDATE", "SAMPLE", "MAX/S", "STARTED"], vec![row]);
    }
    Ok(())
}

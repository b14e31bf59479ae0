//! `faas`: the wasm-faas command-line tool.
//!
//! One command for the whole workflow: create a function, build it, deploy
//! it, run it, and manage jobs, triggers, pipelines and tokens. It talks to
//! the api through `faas-client`, so it speaks exactly the api's types.
//! Exit codes: 0 ok, 1 the platform answered with an error, 2 usage error,
//! 3 the platform could not be reached.

mod args;
mod commands;
mod config;
mod dev;
mod failure;
mod output;
mod project;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use client::Client;

use crate::args::{Cli, Command, Output};
use crate::commands::{Context, aliases, function_config, functions, http, jobs, login, logs, resources};
use crate::config::ConfigFile;
use crate::failure::Failure;

fn main() -> ExitCode {
    // clap exits with 2 on a usage error, 0 on --help and --version.
    let cli = Cli::parse();
    let output = cli.output;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report(output);
            failure.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let Cli { url, token, profile, output, command } = cli;
    // The commands that need no api.
    match command {
        Command::Login { url } => return login::login(&url, token, profile, output).await,
        Command::New { name, lang, world } => {
            let dir = project::scaffold(Path::new("."), &name, lang, world)?;
            return print_project(
                output,
                "created",
                &dir,
                &format!(
                    "build it with `faas build {0}`, deploy it with `faas deploy <bucket>/{name} {0}`",
                    dir.display()
                ),
            );
        }
        Command::Build { dir } => {
            let dir = dir.unwrap_or_else(|| ".".into());
            let component = tokio::task::block_in_place(|| project::build(&dir))?;
            return print_project(output, "built", &component, "");
        }
        _ => {}
    }
    let ctx = Context { client: connect(url, token, profile.as_deref())?, output };
    match command {
        Command::Deploy { function, path, create_bucket } => {
            functions::deploy(&ctx, &function, path, create_bucket).await
        }
        Command::Invoke { target, input, logs, run_async, wait } => {
            functions::invoke(&ctx, &target, &input, logs, run_async, wait).await
        }
        Command::Run { target, method, headers, data, include } => {
            http::run(&ctx, &target, method.as_deref(), &headers, data.as_deref(), include).await
        }
        Command::Ls { bucket } => functions::ls(&ctx, bucket.as_ref()).await,
        Command::Rm { what, force } => functions::rm(&ctx, &what, force).await,
        Command::Get { function, dest } => functions::get(&ctx, &function, dest).await,
        Command::Versions { function } => functions::versions(&ctx, &function).await,
        Command::Shadow { function, version, sample, max_per_sec, report, stop } => {
            let spec = version.map(|version| protocol::shadow::ShadowSpec {
                version,
                sample: protocol::shadow::Sample(sample),
                max_per_sec,
            });
            functions::shadow(&ctx, &function, spec, report, stop).await
        }
        Command::Alias { function, alias, version, weight } => {
            aliases::put(&ctx, &function, &alias, version, &weight).await
        }
        Command::Rollback { function } => aliases::rollback(&ctx, &function).await,
        Command::Jobs(command) => jobs::run(&ctx, command).await,
        Command::Logs { function, follow, limit } => logs::run(&ctx, &function, follow, limit).await,
        Command::Triggers(command) => resources::triggers(&ctx, command).await,
        Command::Pipelines(command) => resources::pipelines(&ctx, command).await,
        Command::Config(command) => function_config::run(&ctx, command).await,
        Command::Tokens(command) => resources::tokens(&ctx, command).await,
        Command::Dev { function, dir, input, logs, create_bucket } => {
            dev::dev(&ctx, &function, dir, &input, logs, create_bucket).await
        }
        Command::Login { .. } | Command::New { .. } | Command::Build { .. } => unreachable!("handled above"),
    }
}

/// The client: `--url`/`FAAS_URL` and `--token`/`FAAS_TOKEN` over the
/// profile's, over the default address.
fn connect(url: Option<String>, token: Option<String>, profile: Option<&str>) -> Result<Client, Failure> {
    let file = match config::path() {
        Some(path) => ConfigFile::load(&path)?,
        None => ConfigFile::default(),
    };
    let stored = file.profile(profile);
    if let (Some(name), None) = (profile, stored) {
        return Err(Failure::usage(format!(
            "no profile {name:?}: store one with `faas login <url> --profile {name}`"
        )));
    }
    let url = url.or_else(|| stored.map(|p| p.url.clone())).unwrap_or_else(|| client::DEFAULT_URL.to_owned());
    let token = token.or_else(|| stored.and_then(|p| p.token.clone()));
    Ok(Client::new(&url, token.as_deref())?)
}

fn print_project(output: Output, what: &str, path: &Path, next: &str) -> Result<(), Failure> {
    match output {
        Output::Json => output::json(&serde_json::json!({ what: path })),
        Output::Table if next.is_empty() => println!("{what} {}", path.display()),
        Output::Table => println!("{what} {}: {next}", path.display()),
    }
    Ok(())
}

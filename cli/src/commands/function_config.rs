//! `faas config`: a function's environment, secrets and limits.
//!
//! `set` and `unset` edit the stored configuration (read, change, write
//! back): what the command does not name is kept, secrets included, which
//! are sent back as `null` (keep) since their values are never read.

use std::collections::BTreeMap;

use protocol::FunctionRef;
use protocol::function_config::{FunctionConfig, FunctionConfigView, SecretValue};

use super::Context;
use crate::args::ConfigCommand;
use crate::failure::Failure;
use crate::output::print;

/// Runs a `faas config` command.
pub async fn run(ctx: &Context, command: ConfigCommand) -> Result<(), Failure> {
    let view = match command {
        ConfigCommand::Get { function } => ctx.client.function_config(&function).await?,
        ConfigCommand::Set {
            function,
            env,
            secrets,
            timeout_ms,
            memory_mib,
            max_concurrency,
            allow_hosts,
        } => {
            let mut config = current(ctx, &function).await?;
            for (name, value) in pairs(&env)? {
                config.secrets.remove(&name);
                config.env.insert(name, value);
            }
            for (name, value) in pairs(&secrets)? {
                config.env.remove(&name);
                config.secrets.insert(name, Some(SecretValue(value)));
            }
            config.timeout_ms = timeout_ms.or(config.timeout_ms);
            config.memory_mib = memory_mib.or(config.memory_mib);
            config.max_concurrency = max_concurrency.or(config.max_concurrency);
            if !allow_hosts.is_empty() {
                config.http_outgoing_allow = allow_hosts;
            }
            ctx.client.put_function_config(&function, &config).await?
        }
        ConfigCommand::Unset { function, all: true, .. } => {
            ctx.client.delete_function_config(&function).await?
        }
        ConfigCommand::Unset { function, names, all: false } => {
            let mut config = current(ctx, &function).await?;
            for name in &names {
                if config.env.remove(name).is_none() && config.secrets.remove(name).is_none() {
                    return Err(Failure::usage(format!("{function} has no variable or secret {name}")));
                }
            }
            ctx.client.put_function_config(&function, &config).await?
        }
    };
    print(ctx.output, &view, &["SETTING", "VALUE"], rows(&view));
    Ok(())
}

/// The stored configuration as a PUT body that keeps every secret.
async fn current(ctx: &Context, function: &FunctionRef) -> Result<FunctionConfig, Failure> {
    let view = ctx.client.function_config(function).await?;
    Ok(FunctionConfig {
        env: view.env,
        secrets: view.secrets.into_iter().map(|name| (name, None)).collect(),
        timeout_ms: view.limits.timeout_ms,
        memory_mib: view.limits.memory_mib,
        max_concurrency: view.limits.max_concurrency,
        http_outgoing_allow: view.limits.http_outgoing_allow,
        capabilities: view.limits.capabilities,
        keep_inputs: view.limits.keep_inputs,
    })
}

/// `NAME=value` arguments.
fn pairs(args: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    args.iter()
        .map(|arg| {
            let (name, value) =
                arg.split_once('=').ok_or_else(|| Failure::usage(format!("{arg:?} is not NAME=value")))?;
            Ok((name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// One row per setting.
fn rows(view: &FunctionConfigView) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> =
        view.env.iter().map(|(name, value)| vec![format!("env {name}"), value.clone()]).collect();
    rows.extend(view.secrets.iter().map(|name| vec![format!("secret {name}"), "(set, hidden)".to_owned()]));
    let limits = &view.limits;
    let limit = |value: Option<String>| value.unwrap_or_else(|| "(executor default)".to_owned());
    rows.push(vec!["timeout_ms".into(), limit(limits.timeout_ms.map(|v| v.to_string()))]);
    rows.push(vec!["memory_mib".into(), limit(limits.memory_mib.map(|v| v.to_string()))]);
    rows.push(vec![
        "max_concurrency".into(),
        limits.max_concurrency.map_or_else(|| "(no limit)".to_owned(), |v| v.to_string()),
    ]);
    if !limits.http_outgoing_allow.is_empty() {
        rows.push(vec!["http_outgoing_allow".into(), limits.http_outgoing_allow.join(",")]);
    }
    rows
}

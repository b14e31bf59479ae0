//! `faas run`: call an HTTP function as curl would call a web server.

use std::io::{Read, Write};

use anyhow::Context as _;
use client::Method;
use protocol::FunctionRef;

use super::Context;
use crate::args::Output;
use crate::failure::Failure;
use crate::output;

/// `faas run <bucket>/<function>[/<path>][?<query>]`: prints the body the
/// function answers, raw; `-i` first prints its status and headers. Any
/// status is the function's answer (exit 0); a failure of the platform is
/// an error as for `faas invoke`.
pub async fn run(
    ctx: &Context,
    target: &str,
    method: Option<&str>,
    headers: &[String],
    data: Option<&str>,
    include: bool,
) -> Result<(), Failure> {
    let (function, path, query) = split_target(target)?;
    let body = match data {
        None => Vec::new(),
        Some("-") | Some("@-") => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).context("reading stdin")?;
            bytes
        }
        Some(data) => match data.strip_prefix('@') {
            Some(file) => std::fs::read(file).with_context(|| format!("reading {file}"))?,
            None => data.as_bytes().to_vec(),
        },
    };
    let method = method.unwrap_or(if data.is_some() { "POST" } else { "GET" });
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| Failure::usage(format!("{method:?} is not an HTTP method")))?;
    let headers = headers
        .iter()
        .map(|header| {
            let (name, value) = header
                .split_once(':')
                .ok_or_else(|| Failure::usage(format!("header {header:?} is not 'name: value'")))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let answer = ctx.client.run(&function, method, path, query, &headers, body).await?;
    if ctx.output == Output::Json {
        output::json(&serde_json::json!({
            "status": answer.status,
            "headers": answer.headers,
            "body": String::from_utf8_lossy(&answer.body),
        }));
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    if include {
        let mut head = format!("HTTP {}\r\n", answer.status);
        for (name, value) in &answer.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stdout.write_all(head.as_bytes()).context("writing to stdout")?;
    }
    stdout.write_all(&answer.body).context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    Ok(())
}

/// `<bucket>/<function>[/<path>][?<query>]` → the function, the path (as
/// typed: `""` or `/...`) and the query.
fn split_target(target: &str) -> Result<(FunctionRef, &str, Option<&str>), Failure> {
    let (target, query) = match target.split_once('?') {
        Some((target, query)) => (target, Some(query)),
        None => (target, None),
    };
    let mut parts = target.splitn(3, '/');
    let (bucket, function) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = &target[(bucket.len() + function.len() + 1).min(target.len())..];
    let function = FunctionRef::new(bucket, function)
        .map_err(|e| Failure::usage(format!("{target:?}: expected <bucket>/<function>[/<path>]: {e}")))?;
    Ok((function, path, query))
}

#[cfg(test)]
mod tests {
    use super::split_target;

    #[test]
    fn targets_split_into_function_path_and_query() {
        let (f, path, query) = split_target("web/echo").unwrap();
        assert_eq!((f.to_string().as_str(), path, query), ("web/echo", "", None));
        let (f, path, query) = split_target("web/echo/a/b%20c?x=1&y=2").unwrap();
        assert_eq!((f.to_string().as_str(), path, query), ("web/echo", "/a/b%20c", Some("x=1&y=2")));
        assert!(split_target("web").is_err());
    }
}

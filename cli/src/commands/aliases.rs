//! `faas alias` and `faas rollback`: point names at versions, split calls
//! between versions by weight, and move `current` back one step.

use std::collections::BTreeMap;

use protocol::FunctionRef;
use protocol::aliases::{AliasRecord, AliasSpec};

use super::Context;
use crate::failure::Failure;
use crate::output::print;

/// `faas alias <b>/<f> <alias> <version> [--weight <version>=<share> ...]`.
pub async fn put(
    ctx: &Context,
    function: &FunctionRef,
    alias: &str,
    version: String,
    weight: &[String],
) -> Result<(), Failure> {
    let weights = if weight.is_empty() {
        None
    } else {
        let mut weights = BTreeMap::new();
        for pair in weight {
            let (version, share) = pair
                .split_once('=')
                .ok_or_else(|| Failure::usage(format!("--weight {pair:?}: expected <version>=<share>")))?;
            let share: f64 = share
                .parse()
                .map_err(|_| Failure::usage(format!("--weight {pair:?}: {share} is not a number")))?;
            weights.insert(version.to_owned(), share);
        }
        Some(weights)
    };
    let record = ctx.client.put_alias(function, alias, &AliasSpec { version, weights }).await?;
    show(ctx, &record);
    Ok(())
}

/// `faas rollback <b>/<f>`.
pub async fn rollback(ctx: &Context, function: &FunctionRef) -> Result<(), Failure> {
    let record = ctx.client.rollback(function).await?;
    show(ctx, &record);
    Ok(())
}

fn show(ctx: &Context, record: &AliasRecord) {
    let weights = record
        .weights
        .iter()
        .map(|(digest, share)| format!("{}={share}", &digest[..12.min(digest.len())]))
        .collect::<Vec<_>>()
        .join(" ");
    let row = vec![record.alias.clone(), record.version.clone(), weights];
    print(ctx.output, record, &["ALIAS", "VERSION", "WEIGHTS"], vec![row]);
}

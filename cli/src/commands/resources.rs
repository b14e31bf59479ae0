//! Triggers, pipelines and tokens: the definitions beside the functions.

use protocol::TriggerSpec;
use protocol::auth::NewToken;
use protocol::{Pipeline, PipelineSpec, Trigger, TriggerMode};

use super::Context;
use super::functions;
use crate::args::{Pipelines, Tokens, Triggers};
use crate::failure::Failure;
use crate::output::{self, print};

/// Runs a `faas triggers` command.
pub async fn triggers(ctx: &Context, command: Triggers) -> Result<(), Failure> {
    const HEADERS: &[&str] = &["TRIGGER", "SUBJECT OR SCHEDULE", "FUNCTION", "MODE", "OUTPUT SUBJECT"];
    let row = |t: &Trigger| {
        vec![
            t.name.to_string(),
            match (&t.spec.subject, &t.spec.schedule) {
                (Some(subject), _) => subject.clone(),
                (None, Some(schedule)) => {
                    format!("every {schedule:?} ({})", t.spec.time_zone.as_deref().unwrap_or("UTC"))
                }
                (None, None) => "-".into(),
            },
            t.spec.function.to_string(),
            match t.spec.mode {
                TriggerMode::Sync => "sync",
                TriggerMode::Async => "async",
            }
            .to_owned(),
            t.spec.output_subject.clone().unwrap_or_else(|| "-".into()),
        ]
    };
    match command {
        Triggers::Ls => {
            let list = ctx.client.list_triggers().await?;
            print(ctx.output, &list, HEADERS, list.triggers.iter().map(row).collect());
        }
        Triggers::Get { name } => {
            let trigger = ctx.client.trigger(&name).await?;
            print(ctx.output, &trigger, HEADERS, vec![row(&trigger)]);
        }
        Triggers::Put { name, subject, schedule, time_zone, input, function, output_subject, mode } => {
            let spec = TriggerSpec {
                subject,
                schedule,
                time_zone,
                input,
                function,
                version: None,
                output_subject,
                mode,
            };
            let trigger = ctx.client.put_trigger(&name, &spec).await?;
            print(ctx.output, &trigger, HEADERS, vec![row(&trigger)]);
        }
        Triggers::Rm { name } => {
            let deleted = ctx.client.delete_trigger(&name).await?;
            print(ctx.output, &deleted, &["DELETED"], vec![vec![deleted.deleted.clone()]]);
        }
    }
    Ok(())
}

/// Runs a `faas pipelines` command.
pub async fn pipelines(ctx: &Context, command: Pipelines) -> Result<(), Failure> {
    const HEADERS: &[&str] = &["PIPELINE", "STEPS"];
    let row = |p: &Pipeline| {
        let steps: Vec<String> = p.spec.steps.iter().map(ToString::to_string).collect();
        vec![p.name.to_string(), steps.join(" -> ")]
    };
    match command {
        Pipelines::Ls => {
            let list = ctx.client.list_pipelines().await?;
            print(ctx.output, &list, HEADERS, list.pipelines.iter().map(row).collect());
        }
        Pipelines::Get { name } => {
            let pipeline = ctx.client.pipeline(&name).await?;
            print(ctx.output, &pipeline, HEADERS, vec![row(&pipeline)]);
        }
        Pipelines::Put { name, steps } => {
            let pipeline = ctx.client.put_pipeline(&name, &PipelineSpec::of(steps)).await?;
            print(ctx.output, &pipeline, HEADERS, vec![row(&pipeline)]);
        }
        Pipelines::Rm { name } => {
            let deleted = ctx.client.delete_pipeline(&name).await?;
            print(ctx.output, &deleted, &["DELETED"], vec![vec![deleted.deleted.clone()]]);
        }
        Pipelines::Run { name, input } => functions::run(ctx, &name, &input).await?,
    }
    Ok(())
}

/// Runs a `faas tokens` command.
pub async fn tokens(ctx: &Context, command: Tokens) -> Result<(), Failure> {
    let scopes = |scopes: &[protocol::auth::Scope]| {
        scopes.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
    };
    match command {
        Tokens::Ls => {
            let list = ctx.client.list_tokens().await?;
            let rows = list
                .tokens
                .iter()
                .map(|t| {
                    vec![
                        t.id.clone(),
                        t.name.clone(),
                        scopes(&t.scopes),
                        output::time_ms(Some(t.created_at_ms)),
                        if t.expired { "expired".to_owned() } else { output::time_ms(t.expires_at_ms) },
                        output::time_ms(t.last_used_at_ms),
                    ]
                })
                .collect();
            print(ctx.output, &list, &["ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST USED"], rows);
        }
        Tokens::Create { name, scopes: wanted, expires_in } => {
            let created = ctx
                .client
                .create_token(&NewToken { name, scopes: wanted, expires_in_secs: expires_in })
                .await?;
            let rows = vec![vec![created.id.clone(), scopes(&created.scopes), created.token.clone()]];
            print(ctx.output, &created, &["ID", "SCOPES", "TOKEN (shown this once)"], rows);
        }
        Tokens::Revoke { id } => {
            let revoked = ctx.client.revoke_token(&id).await?;
            print(ctx.output, &revoked, &["REVOKED"], vec![vec![revoked.revoked.clone()]]);
        }
    }
    Ok(())
}

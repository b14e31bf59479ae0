//! The trigger and pipeline commands: check a definition, store it, and
//! wait until every follower applied it: for triggers every dispatcher (its
//! subscriptions), for pipelines every executor (its copy of the
//! definitions, which runs read instead of the bucket).
//!
//! Checks that need the platform's state happen here rather than in the
//! api: whether each named function is stored (a pipeline with a missing
//! step is refused with the step named), and the subject rules again, so a
//! NATS client sending admin commands directly is held to them too.

use std::time::Duration;

use protocol::admin::{
    DeletePipeline, DeleteTrigger, Done, GetPipeline, GetTrigger, PipelineList, PutPipeline, PutTrigger,
    TriggerList,
};
use protocol::subjects::subjects_intersect;
use protocol::{
    ErrorBody, ErrorCode, FunctionRef, Pipeline, PipelineName, Trigger, TriggerName, TriggerSpec,
};
use tracing::error;

use super::handler::AdminHandler;
use crate::flows::schedules::Schedule;

/// How long a trigger change waits for every dispatcher to apply it.
const FOLLOWER_WAIT: Duration = Duration::from_secs(5);

impl AdminHandler {
    pub(crate) async fn put_trigger(
        &self,
        PutTrigger { name, spec }: PutTrigger,
    ) -> Result<Trigger, ErrorBody> {
        spec.check(&self.flows.subjects)
            .and_then(|()| self.flows.policy.check(&spec))
            .map_err(|e| ErrorBody::new(ErrorCode::InvalidSubject, format!("trigger {name}: {e}")))?;
        if let Some(expression) = &spec.schedule {
            Schedule::parse(expression, spec.time_zone.as_deref())
                .map_err(|e| ErrorBody::new(ErrorCode::InvalidSchedule, format!("trigger {name}: {e}")))?;
        }
        self.check_trigger_counts(&name, &spec).await?;
        if !self.function_exists(&spec.function).await? {
            return Err(ErrorBody::new(
                ErrorCode::UnknownFunction,
                format!("trigger {name}: function {} does not exist; upload it first", spec.function),
            ));
        }
        if let Some(version) = &spec.version {
            self.check_pin(&spec.function, version)
                .await
                .map_err(|err| ErrorBody::new(err.code, format!("trigger {name}: {}", err.message)))?;
        }
        let revision = self.flows.triggers.put(name.as_str(), &spec).await?;
        self.wait_for_dispatchers(revision).await;
        Ok(Trigger { name, spec })
    }

    pub(crate) async fn get_trigger(&self, GetTrigger { name }: GetTrigger) -> Result<Trigger, ErrorBody> {
        let spec = self.flows.triggers.get(name.as_str()).await?;
        Ok(Trigger { name, spec })
    }

    pub(crate) async fn list_triggers(&self) -> Result<TriggerList, ErrorBody> {
        let found = self.flows.triggers.list().await?;
        let triggers = found
            .into_iter()
            .filter_map(|(name, spec)| Some(Trigger { name: TriggerName::new(name).ok()?, spec }))
            .collect();
        Ok(TriggerList { triggers })
    }

    pub(crate) async fn delete_trigger(
        &self,
        DeleteTrigger { name }: DeleteTrigger,
    ) -> Result<Done, ErrorBody> {
        let revision = self.flows.triggers.delete(name.as_str()).await?;
        self.wait_for_dispatchers(revision).await;
        Ok(Done {})
    }

    pub(crate) async fn put_pipeline(
        &self,
        PutPipeline { name, spec }: PutPipeline,
    ) -> Result<Pipeline, ErrorBody> {
        spec.check().map_err(|e| ErrorBody::new(ErrorCode::BadRequest, format!("pipeline {name}: {e}")))?;
        for (index, step) in spec.steps.iter().enumerate() {
            if !self.function_exists(step).await? {
                return Err(ErrorBody::new(
                    ErrorCode::UnknownFunction,
                    format!("pipeline {name}: step {} ({step}) does not exist; upload it first", index + 1),
                ));
            }
            if let Some(version) = spec.version(index) {
                self.check_pin(step, version).await.map_err(|err| {
                    ErrorBody::new(err.code, format!("pipeline {name}: step {}: {}", index + 1, err.message))
                })?;
            }
        }
        let revision = self.flows.pipelines.put(name.as_str(), &spec).await?;
        self.wait_for_pipeline_followers(revision).await;
        Ok(Pipeline { name, spec })
    }

    pub(crate) async fn get_pipeline(
        &self,
        GetPipeline { name }: GetPipeline,
    ) -> Result<Pipeline, ErrorBody> {
        let spec = self.flows.pipelines.get(name.as_str()).await?;
        Ok(Pipeline { name, spec })
    }

    pub(crate) async fn list_pipelines(&self) -> Result<PipelineList, ErrorBody> {
        let found = self.flows.pipelines.list().await?;
        let pipelines = found
            .into_iter()
            .filter_map(|(name, spec)| Some(Pipeline { name: PipelineName::new(name).ok()?, spec }))
            .collect();
        Ok(PipelineList { pipelines })
    }

    pub(crate) async fn delete_pipeline(
        &self,
        DeletePipeline { name }: DeletePipeline,
    ) -> Result<Done, ErrorBody> {
        let revision = self.flows.pipelines.delete(name.as_str()).await?;
        self.wait_for_pipeline_followers(revision).await;
        Ok(Done {})
    }

    /// Refuses a new trigger past `FAAS_MAX_TRIGGERS`, or one whose subject
    /// can match the same events as `FAAS_MAX_TRIGGERS_PER_SUBJECT` others
    /// already (each would run per event). Replacing a trigger counts it
    /// once. Two dispatchers creating at the same instant may each pass the
    /// check: the limits can be overshot by the number of racing creates.
    async fn check_trigger_counts(&self, name: &TriggerName, spec: &TriggerSpec) -> Result<(), ErrorBody> {
        let others: Vec<_> = self
            .flows
            .triggers
            .list()
            .await?
            .into_iter()
            .filter(|(other, _)| other != name.as_str())
            .collect();
        let limit = self.flows.max_triggers;
        if others.len() >= limit {
            return Err(ErrorBody::new(
                ErrorCode::TooManyTriggers,
                format!("trigger {name}: {limit} triggers exist, the most allowed (FAAS_MAX_TRIGGERS)"),
            ));
        }
        // A schedule has a subject of its own: it shares it with no one.
        let Some(subject) = &spec.subject else { return Ok(()) };
        let limit = self.flows.max_triggers_per_subject;
        let sharing: Vec<&str> = others
            .iter()
            .filter(|(_, other)| other.subject.as_ref().is_some_and(|o| subjects_intersect(o, subject)))
            .map(|(other, _)| other.as_str())
            .collect();
        if sharing.len() >= limit {
            return Err(ErrorBody::new(
                ErrorCode::TooManyTriggers,
                format!(
                    "trigger {name}: {} triggers already listen on subjects matching {:?} ({}), the most allowed (FAAS_MAX_TRIGGERS_PER_SUBJECT)",
                    sharing.len(),
                    subject,
                    sharing.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// Whether `function` is stored: the registry knows every upload; S3
    /// decides for anything stored around it.
    async fn function_exists(&self, function: &FunctionRef) -> Result<bool, ErrorBody> {
        if let Ok(Some(_)) = self.registry.get(function).await {
            return Ok(true);
        }
        if !self.store.bucket_exists(&function.bucket).await? {
            return Ok(false);
        }
        let functions = self.store.list_functions(&function.bucket).await?;
        Ok(functions.iter().any(|f| f.name == function.function.as_str()))
    }

    /// A pipeline change answers once every executor's copy has it: the
    /// next run anywhere uses it. A stuck executor must not block every
    /// change, so after [`FOLLOWER_WAIT`] the answer goes out anyway, loudly.
    async fn wait_for_pipeline_followers(&self, revision: u64) {
        if let Err(err) = self.flows.pipelines.wait_for_followers(revision, FOLLOWER_WAIT).await {
            error!(%err, "answering although some executors may not have applied the pipeline change");
        }
    }

    /// A trigger change answers once every dispatcher subscribed or
    /// unsubscribed; a stuck one must not block every change, so after
    /// [`FOLLOWER_WAIT`] the answer goes out anyway, loudly.
    async fn wait_for_dispatchers(&self, revision: u64) {
        if let Err(err) = self.flows.triggers.wait_for_followers(revision, FOLLOWER_WAIT).await {
            error!(%err, "answering although some dispatchers may not have applied the trigger change");
        }
    }
}

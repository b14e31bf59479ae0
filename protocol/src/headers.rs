//! NATS header names used on every subject.
//!
//! Headers carry metadata so that exec payloads stay the raw input and output
//! bytes: a plain `nats req faas.exec.b.f 'input'` works without an envelope.

/// A uuid that names one request across every hop and every log line about it.
pub const REQUEST_ID: &str = "Faas-Request-Id";

/// On replies: `ok` or `error`.
pub const STATUS: &str = "Faas-Status";
/// Value of [`STATUS`] for success.
pub const STATUS_OK: &str = "ok";
/// Value of [`STATUS`] for failure; the payload is then the error message.
pub const STATUS_ERROR: &str = "error";

/// On error replies: the machine-readable [`crate::ErrorCode`].
pub const ERROR_CODE: &str = "Faas-Error-Code";

/// On exec requests: `true` asks for the function's stdout and stderr in the
/// reply, which is then a JSON [`crate::admin::ExecLogsReply`] instead of the raw output.
pub const INCLUDE_LOGS: &str = "Faas-Include-Logs";

/// On exec replies: the sha256 of the component that ran.
pub const DIGEST: &str = "Faas-Digest";

/// On exec replies: which executor ran the call (its instance id).
pub const EXECUTOR: &str = "Faas-Executor";

/// On exec replies: where the compiled component came from, one of the
/// `CACHE_*` values. Lets operators and tests see the cache at work.
pub const CACHE: &str = "Faas-Cache";
/// [`CACHE`]: compiled earlier by this executor, found in its memory.
pub const CACHE_MEMORY: &str = "memory";
/// [`CACHE`]: loaded from the shared precompiled-artifact store.
pub const CACHE_ARTIFACT: &str = "artifact";
/// [`CACHE`]: compiled from the component bytes for this call.
pub const CACHE_COMPILED: &str = "compiled";

/// On job messages and result announcements: the job's id.
pub const JOB_ID: &str = "Faas-Job-Id";

/// On trigger output, trigger-made jobs and chained events: how many trigger
/// links the event has passed; a trigger refuses events at its hop limit.
pub const HOPS: &str = "Faas-Hops";

/// On trigger output and trigger-made jobs: the trigger's name.
pub const TRIGGER: &str = "Faas-Trigger";

/// On jobs made by an async trigger: where the output is published.
pub const OUTPUT_SUBJECT: &str = "Faas-Output-Subject";

/// On pipeline error replies: the failed step, numbered from 1.
pub const PIPELINE_STEP: &str = "Faas-Pipeline-Step";

/// On pipeline error replies: the failed step's `<bucket>/<function>`.
pub const PIPELINE_FUNCTION: &str = "Faas-Pipeline-Function";

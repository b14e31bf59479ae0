//! The api's OpenAPI 3.1 document, served at `GET /openapi.json`.
//!
//! It is built from the same declaration as the router
//! ([`routes::declared`]): each handler's `#[utoipa::path]` gives its
//! method, path, parameters and success bodies (protocol's types, which
//! derive their schemas), and the group a route is declared in gives its
//! guard, hence its security and the errors the guard answers with. What
//! a handler can fail with is listed once per operation in [`OPERATIONS`],
//! by error code; the statuses come from the one mapping the answers use
//! ([`status_of`]), so a code's status in the document is the status it is
//! answered with. The headers every answer carries (`x-request-id`) and
//! those of the call routes are named from protocol's constants.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use protocol::ErrorCode;
use protocol::http::{self as wire, ErrorResponse};
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, HeaderBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

use crate::error::status_of;
use crate::request_id;
use crate::routes::{self, Guard};

/// The name of the bearer security scheme in the document.
pub const BEARER: &str = "bearer";

/// The document, built once.
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(build()).expect("the OpenAPI document serialises");
        close_flattened(&mut doc);
        doc
    })
}

/// The document as served: JSON, built once.
fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| document().to_string())
}

/// utoipa writes a `#[serde(flatten)]` of a `deny_unknown_fields` struct
/// (a trigger's or pipeline's definition inside the listed trigger or
/// pipeline) as an `allOf` part referring to a schema with
/// `additionalProperties: false`, which would refuse the other parts'
/// properties. Such a part is inlined without it, and the `allOf` closed
/// with `unevaluatedProperties: false` (JSON Schema 2020-12, as OpenAPI
/// 3.1 has it), which is what the serde code accepts.
fn close_flattened(doc: &mut serde_json::Value) {
    let schemas = doc["components"]["schemas"].as_object().cloned().unwrap_or_default();
    let closed = |reference: &str| {
        let name = reference.strip_prefix("#/components/schemas/")?;
        schemas.get(name).filter(|schema| schema["additionalProperties"] == false)
    };
    let Some(all) = doc["components"]["schemas"].as_object_mut() else { return };
    for schema in all.values_mut() {
        let Some(parts) = schema.get_mut("allOf").and_then(serde_json::Value::as_array_mut) else { continue };
        let mut inlined = false;
        for part in parts.iter_mut() {
            if let Some(target) = part.get("$ref").and_then(serde_json::Value::as_str).and_then(closed) {
                let mut open = target.clone();
                open.as_object_mut().map(|fields| fields.remove("additionalProperties"));
                *part = open;
                inlined = true;
            }
        }
        if inlined {
            schema["unevaluatedProperties"] = false.into();
        }
    }
}

/// The OpenAPI 3.1 document of this api: every route, its parameters,
/// bodies, answers (with each error status's codes), headers and security.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = inline(OpenApiDocument)))
)]
pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document_json())
}

/// What a handler may fail with, and the scope it needs, per operation id.
pub struct Documented {
    /// The operation (`operation_id` of its `#[utoipa::path]`).
    pub id: &'static str,
    /// Who may call it, for people (the scopes a token needs).
    pub access: &'static str,
    /// The codes the handler itself answers with; the guard's are added.
    pub errors: &'static [ErrorCode],
}

use ErrorCode::*;

/// Every operation's own errors and access. Building the document checks this names
/// exactly the declared operations.
pub const OPERATIONS: &[Documented] = &[
    Documented { id: "health", access: "Public: no token.", errors: &[] },
    Documented { id: "openapi", access: "Public: no token.", errors: &[] },
    Documented { id: "ready", access: PROBE, errors: &[] },
    Documented { id: "metrics", access: PROBE, errors: &[] },
    Documented { id: "list_buckets", access: "Any token; lists the buckets it may read.", errors: &[] },
    Documented {
        id: "create_bucket",
        access: "Scope `deploy:<bucket>`.",
        errors: &[InvalidName, BadRequest, Forbidden, BucketExists, PayloadTooLarge, StorageFull],
    },
    Documented {
        id: "list_functions",
        access: "Scope `read:<bucket>`.",
        errors: &[InvalidName, Forbidden, BucketNotFound],
    },
    Documented {
        id: "configure_bucket",
        access: "Scope `deploy:<bucket>`.",
        errors: &[InvalidName, BadRequest, Forbidden, BucketNotFound, PayloadTooLarge, StorageFull],
    },
    Documented {
        id: "delete_bucket",
        access: "Scope `deploy:<bucket>`.",
        errors: &[InvalidName, BadRequest, Forbidden, BucketNotFound, BucketNotEmpty],
    },
    Documented {
        id: "upload_function",
        access: "Scope `deploy:<bucket>`.",
        errors: &[
            InvalidName,
            BadRequest,
            Forbidden,
            BucketNotFound,
            PayloadTooLarge,
            RequestTimeout,
            InvalidComponent,
            CompileLimitExceeded,
            StorageFull,
        ],
    },
    Documented {
        id: "download_function",
        access: "Scope `read:<bucket>`.",
        errors: &[InvalidName, BadRequest, Forbidden, BucketNotFound, FunctionNotFound, VersionNotFound],
    },
    Documented {
        id: "delete_function",
        access: "Scope `deploy:<bucket>`.",
        errors: &[
            InvalidName,
            BadRequest,
            Forbidden,
            BucketNotFound,
            FunctionNotFound,
            VersionNotFound,
            VersionInUse,
        ],
    },
    Documented {
        id: "list_versions",
        access: "Scope `read:<bucket>`.",
        errors: &[InvalidName, Forbidden, BucketNotFound, FunctionNotFound],
    },
    Documented {
        id: "put_shadow",
        access: "Scope `deploy:<bucket>`.",
        errors: &[
            InvalidName,
            BadRequest,
            Forbidden,
            FunctionNotFound,
            VersionNotFound,
            PayloadTooLarge,
            StorageFull,
        ],
    },
    Documented {
        id: "get_shadow",
        access: "Scope `read:<bucket>`.",
        errors: &[InvalidName, Forbidden, ShadowNotFound],
    },
    Documented {
        id: "delete_shadow",
        access: "Scope `deploy:<bucket>`.",
        errors: &[InvalidName, Forbidden, ShadowNotFound],
    },
    Documented {
        id: "shadow_report",
        access: "Scope `read:<bucket>`.",
        errors: &[InvalidName, Forbidden, ShadowNotFound],
    },
    Documented {
        id: "put_alias",
        access: "Scope `deploy:<bucket>`.",
        errors: &[
            InvalidName,
            BadRequest,
            Forbidden,
            FunctionNotFound,
            VersionNotFound,
            AliasNotFound,
            PayloadTooLarge,
        ],
    },
    Documented {
        id: "list_aliases",
        access: "Scope `read:<bucket>`.",
        errors: &[InvalidName, Forbidden, FunctionNotFound],
    },
    Documented {
        id: "delete_alias",
        access: "Scope `deploy:<bucket>`.",
        errors: &[InvalidName, BadRequest, Forbidden, FunctionNotFound, AliasNotFound],
    },
    Documented {
        id: "rollback_function",
        access: "Scope `deploy:<bucket>`.",
        errors: &[InvalidName, Forbidden, FunctionNotFound, NoRollbackTarget],
    },
    Documented {
        id: "put_function_config",
        access: "Scope `deploy:<bucket>`.",
        errors: &[InvalidName, BadRequest, Forbidden, FunctionNotFound, PayloadTooLarge, StorageFull],
    },
    Documented {
        id: "get_function_config",
        access: "Scope `read:<bucket>`.",
        errors: &[InvalidName, Forbidden, FunctionNotFound],
    },
    Documented {
        id: "delete_function_config",
        access: "Scope `deploy:<bucket>`.",
        errors: &[InvalidName, Forbidden, FunctionNotFound],
    },
    Documented {
        id: "exec_pipeline",
        access: "Scope `invoke:<bucket>` for every step's bucket.",
        errors: &[
            InvalidName,
            Forbidden,
            PipelineNotFound,
            FunctionNotFound,
            PayloadTooLarge,
            OutputTooLarge,
            RequestTimeout,
            FunctionTrapped,
            MemoryLimitExceeded,
            LogLimitExceeded,
            FunctionTimeout,
        ],
    },
    Documented {
        id: "submit_pipeline",
        access: "Scope `invoke:<bucket>` for every step's bucket.",
        errors: &[
            InvalidName,
            BadRequest,
            Forbidden,
            PipelineNotFound,
            PayloadTooLarge,
            RequestTimeout,
            QueueFull,
            StorageFull,
        ],
    },
    Documented {
        id: "list_pipelines",
        access: "Any token; lists the pipelines whose every step it may read or invoke.",
        errors: &[],
    },
    Documented {
        id: "put_pipeline",
        access: "Scope `deploy:<bucket>` for every step's bucket (and the replaced definition's).",
        errors: &[InvalidName, BadRequest, Forbidden, PayloadTooLarge, UnknownFunction, StorageFull],
    },
    Documented {
        id: "get_pipeline",
        access: "Scope `read:<bucket>` or `invoke:<bucket>` for every step's bucket.",
        errors: &[InvalidName, Forbidden, PipelineNotFound],
    },
    Documented {
        id: "delete_pipeline",
        access: "Scope `deploy:<bucket>` for every step's bucket.",
        errors: &[InvalidName, Forbidden, PipelineNotFound],
    },
    Documented {
        id: "list_triggers",
        access: "Any token; lists the triggers whose function it may read or invoke.",
        errors: &[],
    },
    Documented {
        id: "put_trigger",
        access: "Scope `deploy:<bucket>` of its function (and of the replaced definition's).",
        errors: &[
            InvalidName,
            BadRequest,
            InvalidSubject,
            InvalidSchedule,
            Forbidden,
            PayloadTooLarge,
            UnknownFunction,
            TooManyTriggers,
            StorageFull,
        ],
    },
    Documented {
        id: "get_trigger",
        access: "Scope `read:<bucket>` or `invoke:<bucket>` of its function.",
        errors: &[InvalidName, Forbidden, TriggerNotFound],
    },
    Documented {
        id: "delete_trigger",
        access: "Scope `deploy:<bucket>` of its function.",
        errors: &[InvalidName, Forbidden, TriggerNotFound],
    },
    Documented {
        id: "list_jobs",
        access: "Any token; lists the jobs whose target it may read or invoke.",
        errors: &[BadRequest],
    },
    Documented {
        id: "get_job",
        access: "Scope `read:<bucket>` or `invoke:<bucket>` of its target.",
        errors: &[BadRequest, Forbidden, JobNotFound],
    },
    Documented {
        id: "redrive_job",
        access: "Scope `invoke:<bucket>` of its target.",
        errors: &[BadRequest, Forbidden, JobNotFound, QueueFull, StorageFull],
    },
    Documented {
        id: "replay_job",
        access: "Scope `invoke:<bucket>` of its target.",
        errors: &[
            BadRequest,
            Forbidden,
            JobNotFound,
            InputNotKept,
            JobNotFinished,
            VersionNotFound,
            PayloadTooLarge,
            QueueFull,
            StorageFull,
        ],
    },
    Documented {
        id: "replay_call",
        access: "Scope `invoke:<bucket>` of the function called.",
        errors: &[
            BadRequest,
            Forbidden,
            CallNotFound,
            VersionNotFound,
            PayloadTooLarge,
            QueueFull,
            StorageFull,
        ],
    },
    Documented { id: "list_tokens", access: "Scope `admin`.", errors: &[Forbidden] },
    Documented {
        id: "create_token",
        access: "Scope `admin`; the new token's scopes must be held by the caller.",
        errors: &[BadRequest, Forbidden, PayloadTooLarge, StorageFull],
    },
    Documented {
        id: "revoke_token",
        access: "Scope `admin`.",
        errors: &[BadRequest, Forbidden, TokenNotFound],
    },
    Documented { id: "list_audit", access: "Scope `admin`.", errors: &[Forbidden] },
    Documented {
        id: "get_logs",
        access: "Scope `read:<bucket>`.",
        errors: &[InvalidName, BadRequest, Forbidden],
    },
    Documented {
        id: "exec_function",
        access: "Scope `invoke:<bucket>`, or no token at all for a bucket with `public_invoke`.",
        errors: &[
            InvalidName,
            BadRequest,
            Forbidden,
            CapabilityNotGranted,
            BucketNotFound,
            FunctionNotFound,
            VersionNotFound,
            AliasNotFound,
            PayloadTooLarge,
            OutputTooLarge,
            RequestTimeout,
            FunctionTrapped,
            MemoryLimitExceeded,
            LogLimitExceeded,
            FunctionTimeout,
        ],
    },
    Documented { id: "run_function", access: RUN, errors: RUN_ERRORS },
    Documented { id: "run_function_path", access: RUN, errors: RUN_ERRORS },
    Documented { id: "run_function_slash", access: RUN, errors: RUN_ERRORS },
    Documented {
        id: "submit_job",
        access: "Scope `invoke:<bucket>`, or no token at all for a bucket with `public_invoke`.",
        errors: &[
            InvalidName,
            BadRequest,
            Forbidden,
            FunctionNotFound,
            VersionNotFound,
            AliasNotFound,
            PayloadTooLarge,
            RequestTimeout,
            QueueFull,
            StorageFull,
        ],
    },
];

/// Who may call an HTTP function: as `/exec`.
const RUN: &str = "Scope `invoke:<bucket>`, or no token at all for a bucket with `public_invoke`.";

/// What `/run` answers itself: a function's own statuses are its answer
/// (the 200 stands for them all), so these are the platform's failures.
const RUN_ERRORS: &[ErrorCode] = &[
    InvalidName,
    BadRequest,
    WrongWorld,
    Forbidden,
    CapabilityNotGranted,
    BucketNotFound,
    FunctionNotFound,
    VersionNotFound,
    AliasNotFound,
    PayloadTooLarge,
    OutputTooLarge,
    RequestTimeout,
    ConcurrencyLimited,
    FunctionTrapped,
    MemoryLimitExceeded,
    LogLimitExceeded,
    FunctionTimeout,
    StorageFull,
];

/// The probes' access.
const PROBE: &str = "Public unless `FAAS_PUBLIC_PROBES=false`, then scope `admin` (401/403 otherwise).";

impl Guard {
    /// Who may pass: each requirement is one way in (`{}`: no token).
    fn security(self) -> Vec<SecurityRequirement> {
        let bearer = || SecurityRequirement::new(BEARER, Vec::<String>::new());
        match self {
            Guard::Open => vec![SecurityRequirement::default()],
            Guard::Probe | Guard::TokenOrPublic => vec![bearer(), SecurityRequirement::default()],
            Guard::Token => vec![bearer()],
        }
    }

    /// The codes the guard itself answers with.
    fn errors(self) -> &'static [ErrorCode] {
        match self {
            Guard::Open => &[],
            Guard::Probe => &[Unauthenticated, Forbidden],
            // NATS down: 503 at once; a bus request unanswered in time: 504.
            Guard::Token | Guard::TokenOrPublic => &[Unauthenticated, Unavailable, StorageError, Timeout],
        }
    }
}

/// Operations declared once for several methods (`/run` serves any): the
/// document gives each method its own operation id, `<id>_<method>`, as
/// OpenAPI wants operation ids unique.
pub const PER_METHOD: &[&str] = &["run_function", "run_function_slash", "run_function_path"];

/// The operation id of `method`'s operation of a [`PER_METHOD`] route.
pub fn per_method_id(id: &str, method: &str) -> String {
    format!("{id}_{}", method.to_ascii_lowercase())
}

/// The methods of a path item's operations, in [`operations_mut`]'s order.
fn methods_of(item: &utoipa::openapi::PathItem) -> Vec<&'static str> {
    [
        (item.get.is_some(), "get"),
        (item.put.is_some(), "put"),
        (item.post.is_some(), "post"),
        (item.delete.is_some(), "delete"),
        (item.patch.is_some(), "patch"),
        (item.head.is_some(), "head"),
        (item.options.is_some(), "options"),
        (item.trace.is_some(), "trace"),
    ]
    .into_iter()
    .filter_map(|(present, method)| present.then_some(method))
    .collect()
}

/// The operations of a path item, with their methods.
fn operations_mut(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "wasm-faas",
        description = "The HTTP api of wasm-faas: buckets of WebAssembly components, calls, jobs, \
                       triggers, pipelines, tokens and audit. Every error answer is \
                       `{\"error\": {\"code\", \"message\"}}` with a stable `code`; every answer \
                       carries `x-request-id`."
    ),
    components(schemas(ErrorResponse, ErrorCode))
)]
struct Base;

fn build() -> OpenApi {
    let mut doc = <Base as utoipa::OpenApi>::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An api token (`faas_<id>_<secret>` from `POST /tokens`, or `FAAS_ADMIN_TOKEN`), \
                     sent as `Authorization: Bearer <token>`. Its scopes (`admin`, \
                     `deploy:<bucket|*>`, `invoke:<bucket|*>`, `read:<bucket|*>`) decide what it may do; \
                     each operation names the scope it needs.",
                ))
                .build(),
        ),
    );
    let operations: BTreeMap<&str, &Documented> = OPERATIONS.iter().map(|op| (op.id, op)).collect();
    let mut seen = Vec::new();
    for (guard, group) in routes::declared() {
        let mut part = group.into_openapi();
        for item in part.paths.paths.values_mut() {
            let methods = methods_of(item);
            for (operation, method) in operations_mut(item).zip(methods) {
                let id = operation.operation_id.clone().expect("every route has an operation_id");
                let documented =
                    operations.get(id.as_str()).unwrap_or_else(|| panic!("{id} not in OPERATIONS"));
                seen.push(documented.id);
                complete(operation, guard, documented);
                if PER_METHOD.contains(&documented.id) {
                    operation.operation_id = Some(per_method_id(documented.id, method));
                }
            }
        }
        doc.merge(part);
    }
    let missing: Vec<_> = operations.keys().filter(|id| !seen.contains(*id)).collect();
    assert!(missing.is_empty(), "OPERATIONS names operations no route declares: {missing:?}");
    doc
}

/// Adds what the guard and [`OPERATIONS`] say to a declared operation.
fn complete(operation: &mut Operation, guard: Guard, documented: &Documented) {
    operation.security = Some(guard.security());
    let description = operation.description.take().unwrap_or_default();
    operation.description = Some(format!("{description}\n\nAccess: {}", documented.access).trim().to_owned());

    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for &code in guard.errors().iter().chain(documented.errors) {
        let codes = by_status.entry(status_of(code).as_u16()).or_default();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    for (status, codes) in by_status {
        let key = status.to_string();
        if operation.responses.responses.contains_key(&key) {
            // A status with a body of its own (`/ready`'s 503) keeps it.
            continue;
        }
        let names: Vec<&str> = codes.iter().map(|code| code.as_str()).collect();
        let description = format!("Error `{}`.", names.join("`, `"));
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/json", Content::new(Some(error_schema(&names))))
            .build();
        operation.responses.responses.insert(key, RefOr::T(response));
    }

    // Every answer carries the request id; the client may send one.
    let request_id = HeaderBuilder::new()
        .schema(String::schema())
        .description(Some("The request's id, the one its log lines and bus messages carry."))
        .build();
    for response in operation.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            response.headers.insert(request_id::HEADER.to_owned(), request_id.clone());
        }
    }
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    parameters.push(
        ParameterBuilder::new()
            .name(request_id::HEADER)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some("A request id to use (1 to 64 visible ASCII characters); else one is minted."))
            .schema(Some(String::schema()))
            .build(),
    );
    let id = documented.id;
    if id == "exec_function" {
        call_headers(operation);
        logs_header(operation);
    }
    if PER_METHOD.contains(&id) {
        call_headers(operation);
    }
    if id == "submit_job" || id == "submit_pipeline" {
        job_headers(operation);
    }
}

/// An error body whose code is one of `codes`.
fn error_schema(codes: &[&str]) -> RefOr<Schema> {
    let code = ObjectBuilder::new().schema_type(Type::String).enum_values(Some(codes.iter().copied()));
    let error = ObjectBuilder::new().property("code", code);
    let narrowed = ObjectBuilder::new().property("error", error);
    AllOfBuilder::new().item(Ref::from_schema_name(ErrorResponse::name())).item(narrowed).into()
}

/// A call's answer headers (success and function failure alike).
fn call_headers(operation: &mut Operation) {
    let passed_on = [
        (wire::EXECUTOR_HEADER, "The executor that ran the call."),
        (wire::DIGEST_HEADER, "sha256 of the component version that ran."),
        (wire::CACHE_HEADER, "Where its compiled form came from: `memory`, `artifact` or `compiled`."),
        (
            wire::CALL_ID_HEADER,
            "On a failure whose input was kept (`keep_inputs`, `FAAS_KEEP_FAILED_INPUTS`): the id for `POST /calls/{id}/replay`.",
        ),
    ];
    for (status, response) in operation.responses.responses.iter_mut() {
        let ran = status == "200" || ["413", "500", "504"].contains(&status.as_str());
        if let (true, RefOr::T(response)) = (ran, response) {
            for (name, description) in passed_on {
                let header = HeaderBuilder::new()
                    .schema(String::schema())
                    .description(Some(format!("{description} Present when an executor ran the call.")))
                    .build();
                response.headers.insert(name.to_owned(), header);
            }
        }
    }
}

/// The exec call's logs request header.
fn logs_header(operation: &mut Operation) {
    operation.parameters.get_or_insert_with(Vec::new).push(
        ParameterBuilder::new()
            .name(wire::INCLUDE_LOGS_HEADER)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some("`true` answers with the function's stdout and stderr too, as `?logs=true`."))
            .schema(Some(String::schema()))
            .build(),
    );
}

/// The async submission's request headers and the 202's `Location`.
fn job_headers(operation: &mut Operation) {
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    for (name, description) in [
        (
            wire::IDEMPOTENCY_KEY_HEADER,
            "1 to 128 visible ASCII characters: a second submission with the same key and target \
             answers with the first job (`duplicate: true`).",
        ),
        (
            wire::CALLBACK_URL_HEADER,
            "An http(s) URL the job's record is POSTed to when it ends (Standard Webhooks signature).",
        ),
    ] {
        parameters.push(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(String::schema()))
                .build(),
        );
    }
    if let Some(RefOr::T(accepted)) = operation.responses.responses.get_mut("202") {
        let location = HeaderBuilder::new()
            .schema(String::schema())
            .description(Some("The job's record, `/jobs/<id>`."))
            .build();
        accepted.headers.insert(header::LOCATION.as_str().to_owned(), location);
    }
}

/// The document itself, as its own answer's body.
pub struct OpenApiDocument;

impl PartialSchema for OpenApiDocument {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("An OpenAPI 3.1 document: this one."))
            .into()
    }
}

impl ToSchema for OpenApiDocument {}

/// Raw bytes in a request or answer body (an input, an output, a component).
pub struct RawBytes;

impl PartialSchema for RawBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/octet-stream")
            .description(Some("Raw bytes."))
            .into()
    }
}

impl ToSchema for RawBytes {}

/// The multipart form of an upload: one field, `file`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The component's bytes.
    #[schema(value_type = String, content_media_type = "application/wasm")]
    file: Vec<u8>,
}

/// The answer of `POST /exec/{bucket}/{function}`: the output, or with
/// `logs` the output, stdout and stderr.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum ExecAnswer {
    /// Without `logs`.
    Result(protocol::http::ExecResult),
    /// With `logs`.
    WithLogs(protocol::ExecLogsReply),
}

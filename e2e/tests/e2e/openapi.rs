//! The OpenAPI document (`GET /openapi.json`) against the api that serves
//! it: every documented route, method and status is provoked on a real
//! platform and its body checked against the documented schema; paths and
//! methods the document does not name answer the platform's 404/405; the
//! router is declared only through the document's declaration; and the
//! `curl/*.http` files and the README name only documented routes.
//!
//! The schema check is a small validator for the subset of JSON Schema
//! utoipa emits (`$ref`, `allOf`, `oneOf`, `type`, `enum`, `properties`,
//! `required`, `items`, length bounds), enough to catch an answer whose
//! shape drifted from its type.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use e2e::{Platform, TEST_ADMIN_TOKEN, json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json as j};

/// Statuses a test cannot cause on demand without breaking the platform
/// underneath, each tested where that breakage is the subject: 408 a stalled
/// body (`api/tests/server.rs`), 429 a full job queue (`jobs.rs`), 504 a bus
/// request unanswered in time (`outages.rs`), 507 a store at its byte cap
/// (`stores.rs`). `function_timeout` (504 on a call) is provoked here.
const UNPROVOKED: &[(&str, u16)] = &[("*", 408), ("*", 429), ("*", 507), ("*", 504)];
/// 504s that this test does cause: a guest spinning past its time limit.
const PROVOKED_504: &[&str] = &["exec_function"];
/// The HTTP guest the `/run` walk calls; `http_functions.rs` tests it fully.
const HTTP_GUEST: &str = "echo-http";
/// `/run` answers that need an HTTP function behind the route: the
/// function's own answer (200 stands for any), a function not found, a
/// trap. Provoked when the repository has the guest [`HTTP_GUEST`].
const RUN_NEEDS_GUEST: &[u16] = &[200, 404, 500];
/// The methods `/run` serves, each its own documented operation.
const RUN_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Whether the walk may leave `(op, status)` unprovoked: see
/// [`UNPROVOKED`] and [`RUN_NEEDS_GUEST`]; a trap needs a path the guest
/// traps on, which `/run/{bucket}/{function}` (path `/`) cannot name.
fn excused(op: &Operation, status: u16, has_http_guest: bool) -> bool {
    if UNPROVOKED.iter().any(|(id, s)| (*id == "*" || *id == op.id) && *s == status)
        && !(status == 504 && PROVOKED_504.contains(&op.id.as_str()))
    {
        return true;
    }
    let run = op.path.starts_with("/run/");
    (run && !has_http_guest && RUN_NEEDS_GUEST.contains(&status))
        || (run && !op.path.ends_with("{*path}") && status == 500)
}

/// The repository has the HTTP guest (its sources in `functions/`).
fn has_http_guest() -> bool {
    stack::guests::functions_dir().join(HTTP_GUEST).is_dir()
}

/// A documented (method, path template) and what it answers.
#[derive(Debug, Clone)]
struct Operation {
    method: Method,
    path: String,
    id: String,
    /// status → response object.
    responses: BTreeMap<String, Value>,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            if !["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"]
                .contains(&method.as_str())
            {
                continue;
            }
            let responses = op["responses"].as_object().unwrap().clone().into_iter().collect();
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            ops.push(Operation { method, path: path.clone(), id: id.to_owned(), responses });
        }
    }
    ops
}

/// Whether a concrete path (no query) matches a template (`{x}`: one segment).
fn matches_template(template: &str, path: &str) -> bool {
    let (t, p): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter().zip(&p).all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

/// The documented operation a request lands on. Literal segments win over
/// templates, as in the router (`/exec/pipeline/{name}` before
/// `/exec/{bucket}/{function}`).
fn find<'a>(ops: &'a [Operation], method: &Method, path: &str) -> Option<&'a Operation> {
    let path = path.split('?').next().unwrap();
    ops.iter()
        .filter(|op| op.method == *method && matches_template(&op.path, path))
        .max_by_key(|op| op.path.split('/').filter(|s| !s.starts_with('{')).count())
}

// ---- the schema subset ----

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.strip_prefix("#/components/schemas/").expect("a local schema ref");
            let target = &doc["components"]["schemas"][name];
            assert!(target.is_object(), "dangling {reference}");
            resolve(doc, target)
        }
        None => schema,
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        other => panic!("schema type {other} not in the subset"),
    }
}

/// The properties an object schema names, through `allOf`, and whether
/// it refuses others (`additionalProperties: false` on any part).
fn named_properties(doc: &Value, schema: &Value, names: &mut BTreeSet<String>) -> bool {
    let schema = resolve(doc, schema);
    names.extend(
        schema.get("properties").and_then(Value::as_object).into_iter().flatten().map(|(n, _)| n.clone()),
    );
    let mut closed = schema.get("additionalProperties") == Some(&Value::Bool(false))
        || schema.get("unevaluatedProperties") == Some(&Value::Bool(false));
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        closed |= named_properties(doc, part, names);
    }
    closed
}

/// Checks `value` against `schema`; returns what is wrong, by JSON pointer.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    validate_part(doc, schema, value, at, errors, false);
}

/// [`validate`]; `open`: a part of an `allOf` (utoipa's `flatten`), whose
/// own `additionalProperties: false` is checked against the properties
/// of every part together, by the `allOf` itself.
fn validate_part(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>, open: bool) {
    let schema = resolve(doc, schema);
    if schema.as_bool() == Some(true) || schema.as_object().is_some_and(|o| o.is_empty()) {
        return;
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            validate_part(doc, part, value, at, errors, true);
        }
        let mut names = BTreeSet::new();
        if !open
            && named_properties(doc, schema, &mut names)
            && let Some(object) = value.as_object()
        {
            for name in object.keys().filter(|name| !names.contains(*name)) {
                errors.push(format!("{at}: unexpected {name}"));
            }
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            // Lenient: at least one (utoipa's variants may overlap).
            let fits = options.iter().any(|option| {
                let mut e = Vec::new();
                validate(doc, option, value, at, &mut e);
                e.is_empty()
            });
            if !fits {
                errors.push(format!("{at}: {value} matches none of {key}"));
            }
        }
    }
    match schema.get("type") {
        Some(Value::String(name)) if !type_matches(name, value) => {
            errors.push(format!("{at}: {value} is not {name}"));
            return;
        }
        Some(Value::Array(names)) if !names.iter().any(|n| type_matches(n.as_str().unwrap(), value)) => {
            errors.push(format!("{at}: {value} is none of {names:?}"));
            return;
        }
        _ => {}
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} not in {allowed:?}"));
    }
    if let Some(text) = value.as_str() {
        let len = text.chars().count() as u64;
        if schema.get("minLength").and_then(Value::as_u64).is_some_and(|min| len < min)
            || schema.get("maxLength").and_then(Value::as_u64).is_some_and(|max| len > max)
        {
            errors.push(format!("{at}: {value} has a length out of bounds"));
        }
    }
    if let Some(number) = value.as_f64()
        && schema.get("minimum").and_then(Value::as_f64).is_some_and(|min| number < min)
    {
        errors.push(format!("{at}: {value} is below the minimum"));
    }
    if let Some(object) = value.as_object() {
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !object.contains_key(name.as_str().unwrap()) {
                errors.push(format!("{at}: required {name} missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, field) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(property) => validate(doc, property, field, &format!("{at}/{name}"), errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) if !open => errors.push(format!("{at}: unexpected {name}")),
                    Some(extra @ Value::Object(_)) => {
                        validate(doc, extra, field, &format!("{at}/{name}"), errors)
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            validate(doc, items, item, &format!("{at}/{i}"), errors);
        }
    }
}

// ---- requests ----

/// Who sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    /// A token holding `read:elsewhere` only: nothing this test touches.
    Stranger,
    /// No token.
    Nobody,
    /// A token the api does not know.
    Unknown,
}

/// A request body.
#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
    Multipart(Vec<u8>),
}

struct Case {
    method: Method,
    path: String,
    who: Who,
    body: Body,
    expect: u16,
}

fn case(method: Method, path: impl Into<String>, who: Who, body: Body, expect: u16) -> Case {
    Case { method, path: path.into(), who, body, expect }
}

struct Walker<'a> {
    http: reqwest::Client,
    base: String,
    doc: &'a Value,
    ops: Vec<Operation>,
    stranger: String,
    /// (operation id, status) seen with the documented shape.
    covered: BTreeSet<(String, u16)>,
}

impl Walker<'_> {
    async fn send(&self, base: &str, case: &Case) -> reqwest::Response {
        let mut request = self.http.request(case.method.clone(), format!("{base}{}", case.path));
        request = match case.who {
            Who::Admin => request.bearer_auth(TEST_ADMIN_TOKEN),
            Who::Stranger => request.bearer_auth(&self.stranger),
            Who::Unknown => request.bearer_auth("faas_00000000000000000000000000000000_nope"),
            Who::Nobody => request,
        };
        request = match &case.body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Raw(bytes) => request.body(bytes.clone()),
            Body::Multipart(bytes) => request.multipart(
                reqwest::multipart::Form::new()
                    .part("file", reqwest::multipart::Part::bytes(bytes.clone()).file_name("f.wasm")),
            ),
        };
        request.send().await.unwrap()
    }

    /// Sends `case` to `base`, checks the status and that the answer is as
    /// documented for it, and records it covered.
    async fn check_at(&mut self, base: &str, case: Case) {
        let op = find(&self.ops, &case.method, &case.path)
            .unwrap_or_else(|| panic!("{} {} is not documented", case.method, case.path))
            .clone();
        let response = self.send(base, &case).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        assert_eq!(status, case.expect, "{} {} as {:?}: {text}", case.method, case.path, case.who);
        let documented = op.responses.get(&status.to_string()).unwrap_or_else(|| {
            panic!(
                "{} {} answered {status}, which {} does not document: {text}",
                case.method, case.path, op.id
            )
        });
        for name in documented["headers"].as_object().into_iter().flatten().map(|(n, _)| n) {
            let always = name == "x-request-id" || name == "location";
            assert!(
                !always || headers.contains_key(name.as_str()),
                "{} {}: no {name} header on {status}",
                case.method,
                case.path
            );
        }
        // A HEAD answer has headers only.
        if case.method == Method::HEAD {
            assert!(text.is_empty(), "{} {}: a HEAD answer with a body", case.method, case.path);
            self.covered.insert((op.id, status));
            return;
        }
        let content = documented["content"].as_object().cloned().unwrap_or_default();
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        let media = content_type.split(';').next().unwrap().trim();
        assert!(
            content.is_empty() || content.contains_key(media),
            "{} {}: {status} answered {media}, documented {:?}",
            case.method,
            case.path,
            content.keys().collect::<Vec<_>>()
        );
        // An undocumented body (an HTTP function's answer is whatever it
        // says) has no schema to check.
        if media == "application/json" && content.contains_key(media) {
            let value: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
            let mut errors = Vec::new();
            validate(self.doc, &content[media]["schema"], &value, "", &mut errors);
            assert!(
                errors.is_empty(),
                "{} {} {status}: {value}\ndoes not fit its schema: {errors:#?}",
                case.method,
                case.path
            );
        }
        self.covered.insert((op.id, status));
    }

    async fn check(&mut self, case: Case) {
        let base = self.base.clone();
        self.check_at(&base, case).await;
    }
}

fn big(bytes: usize) -> Vec<u8> {
    vec![b'x'; bytes]
}

/// A JSON definition over the api's 64 KiB definition limit.
fn big_json() -> Body {
    Body::Json(j!({ "padding": "x".repeat(70 << 10) }))
}

async fn wait_failed(platform: &Platform, job_id: &str) {
    let started = Instant::now();
    loop {
        let (_, record) =
            json(platform.http.get(platform.url(&format!("/jobs/{job_id}"))).send().await.unwrap()).await;
        if record["status"] == "failed" {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "job never failed: {record}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_documented_route_and_status_answers_as_documented() {
    use Method as M;
    use Who::*;
    let mut platform =
        Platform::start_with_dispatcher(|config| config.flows.max_triggers_per_subject = 1).await;
    // The document is public, and it is JSON.
    let response = reqwest::get(platform.url("/openapi.json")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, serde_json::to_value(api::openapi::document()).unwrap(), "served as built");

    // Fixtures.
    platform.create_bucket("docs").await;
    for (function, guest) in [("hello", "hello"), ("trap", "trap"), ("spin", "spin"), ("kept", "trap")] {
        platform.deploy("docs", function, guest).await;
    }
    platform.create_bucket("gone").await;
    platform.deploy("gone", "hello", "hello").await;
    let (status, body) = json(
        platform
            .http
            .post(platform.url("/tokens"))
            .json(&j!({"name": "stranger", "scopes": ["read:elsewhere"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let stranger = body["token"].as_str().unwrap().to_owned();
    let (_, body) = json(
        platform
            .http
            .post(platform.url("/tokens"))
            .json(&j!({"name": "doomed", "scopes": ["read:docs"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let doomed = body["id"].as_str().unwrap().to_owned();
    let (status, body) =
        json(platform.http.post(platform.url("/async/docs/trap")).body("x").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let failed_job = body["job_id"].as_str().unwrap().to_owned();
    wait_failed(&platform, &failed_job).await;
    let nosuch_job = "00000000-0000-4000-8000-000000000000";
    // A failed sync call whose input is kept, for `/calls/{id}/replay`.
    let keep = j!({"keep_inputs": "failures"});
    let (status, body) =
        json(platform.http.put(platform.url("/config/docs/kept")).json(&keep).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = platform.http.post(platform.url("/exec/docs/kept")).body("x").send().await.unwrap();
    let kept_call = resp.headers()["x-faas-call-id"].to_str().unwrap().to_owned();
    let (_, listed) =
        json(platform.http.get(platform.url("/file/docs/hello/versions")).send().await.unwrap()).await;
    let hello_digest = listed["versions"][0]["digest"].as_str().unwrap().to_owned();

    // A second api: small uploads, probes closed.
    platform.api_config_mut().max_upload_bytes = 256 << 10;
    platform.api_config_mut().run_max_body_bytes = 1 << 10;
    platform.api_config_mut().public_probes = false;
    let strict = platform.add_api().await;
    let ready = Instant::now();
    while !reqwest::get(format!("{strict}/health")).await.is_ok_and(|r| r.status().is_success()) {
        assert!(ready.elapsed() < Duration::from_secs(10), "second api never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut walker = Walker {
        http: reqwest::Client::new(),
        base: platform.base.clone(),
        doc: &doc,
        ops: operations(&doc),
        stranger,
        covered: BTreeSet::new(),
    };
    let none = || Body::None;
    let input = 1 << 20; // over a stock nats-server's max_payload
    let pipeline = || Body::Json(j!({"steps": ["docs/hello"]}));
    let trigger = |subject: &str| Body::Json(j!({"subject": subject, "function": "docs/hello"}));
    let cases = vec![
        case(M::GET, "/health", Nobody, none(), 200),
        case(M::GET, "/openapi.json", Nobody, none(), 200),
        case(M::GET, "/ready", Nobody, none(), 200),
        case(M::GET, "/metrics", Nobody, none(), 200),
        // Buckets.
        case(M::GET, "/bucket", Admin, none(), 200),
        case(M::GET, "/bucket", Unknown, none(), 401),
        case(M::PUT, "/bucket/fresh", Admin, none(), 201),
        case(M::PUT, "/bucket/fresh", Admin, Body::Json(j!({"public_invoke": false})), 200),
        case(M::PUT, "/bucket/Bad_Name", Admin, none(), 400),
        case(M::PUT, "/bucket/docs", Stranger, none(), 403),
        case(M::PUT, "/bucket/docs", Admin, none(), 409),
        case(M::PUT, "/bucket/other", Admin, big_json(), 413),
        case(M::PUT, "/bucket/docs", Nobody, none(), 401),
        case(M::GET, "/bucket/docs", Admin, none(), 200),
        case(M::GET, "/bucket/Bad_Name", Admin, none(), 400),
        case(M::GET, "/bucket/docs", Stranger, none(), 403),
        case(M::GET, "/bucket/nosuch", Admin, none(), 404),
        case(M::GET, "/bucket/docs", Nobody, none(), 401),
        case(M::PATCH, "/bucket/docs", Admin, Body::Json(j!({"public_invoke": false})), 200),
        case(M::PATCH, "/bucket/Bad_Name", Admin, Body::Json(j!({})), 400),
        case(M::PATCH, "/bucket/docs", Stranger, Body::Json(j!({})), 403),
        case(M::PATCH, "/bucket/nosuch", Admin, Body::Json(j!({"public_invoke": true})), 404),
        case(M::PATCH, "/bucket/docs", Admin, big_json(), 413),
        case(M::PATCH, "/bucket/docs", Nobody, none(), 401),
        case(M::DELETE, "/bucket/gone?force=true", Admin, none(), 200),
        case(M::DELETE, "/bucket/Bad_Name", Admin, none(), 400),
        case(M::DELETE, "/bucket/docs", Stranger, none(), 403),
        case(M::DELETE, "/bucket/nosuch", Admin, none(), 404),
        case(M::DELETE, "/bucket/docs", Admin, none(), 409),
        case(M::DELETE, "/bucket/docs", Nobody, none(), 401),
        // Files.
        case(M::POST, "/file/docs/copy", Admin, Body::Multipart(stack::guests::guest_bytes("hello")), 201),
        case(M::POST, "/file/docs/Bad.Name", Admin, Body::Raw(b"x".to_vec()), 400),
        case(M::POST, "/file/docs/copy", Stranger, Body::Raw(b"x".to_vec()), 403),
        case(M::POST, "/file/nosuch/copy", Admin, Body::Multipart(stack::guests::guest_bytes("hello")), 404),
        case(M::POST, "/file/docs/junk", Admin, Body::Raw(b"not a component".to_vec()), 422),
        case(M::POST, "/file/docs/copy", Nobody, none(), 401),
        case(M::GET, "/file/docs/copy", Admin, none(), 200),
        case(M::GET, "/file/docs/Bad.Name", Admin, none(), 400),
        case(M::GET, "/file/docs/copy", Stranger, none(), 403),
        case(M::GET, "/file/docs/nosuch", Admin, none(), 404),
        case(M::GET, "/file/docs/copy", Nobody, none(), 401),
        // Rollback: a second upload of copy gives current a previous target.
        case(
            M::POST,
            "/file/docs/copy",
            Admin,
            Body::Multipart(stack::guests::guest_bytes("fibonacci")),
            201,
        ),
        case(M::POST, "/file/docs/copy/rollback", Admin, none(), 200),
        case(M::POST, "/file/docs/copy/rollback", Admin, none(), 409),
        case(M::POST, "/file/docs/Bad.Name/rollback", Admin, none(), 400),
        case(M::POST, "/file/docs/copy/rollback", Stranger, none(), 403),
        case(M::POST, "/file/docs/nosuch/rollback", Admin, none(), 404),
        case(M::POST, "/file/docs/copy/rollback", Nobody, none(), 401),
        case(M::DELETE, "/file/docs/copy", Admin, none(), 200),
        case(M::DELETE, "/file/docs/Bad.Name", Admin, none(), 400),
        case(M::DELETE, "/file/docs/hello", Stranger, none(), 403),
        case(M::DELETE, "/file/docs/nosuch", Admin, none(), 404),
        case(M::DELETE, "/file/docs/hello", Nobody, none(), 401),
        case(M::DELETE, format!("/file/docs/hello?version={hello_digest}"), Admin, none(), 409),
        case(M::GET, "/file/docs/hello/versions", Admin, none(), 200),
        case(M::GET, "/file/docs/Bad.Name/versions", Admin, none(), 400),
        case(M::GET, "/file/docs/hello/versions", Stranger, none(), 403),
        case(M::GET, "/file/docs/nosuch/versions", Admin, none(), 404),
        case(M::GET, "/file/docs/hello/versions", Nobody, none(), 401),
        // Shadow traffic (hello shadowed with itself: every pair equal).
        case(
            M::PUT,
            "/file/docs/hello/shadow",
            Admin,
            Body::Json(j!({"version": hello_digest, "sample": 0.5})),
            200,
        ),
        case(
            M::PUT,
            "/file/docs/hello/shadow",
            Admin,
            Body::Json(j!({"version": hello_digest, "sample": 0})),
            400,
        ),
        case(M::PUT, "/file/docs/hello/shadow", Stranger, Body::Json(j!({})), 403),
        case(
            M::PUT,
            "/file/docs/nosuch/shadow",
            Admin,
            Body::Json(j!({"version": hello_digest, "sample": 1})),
            404,
        ),
        case(M::PUT, "/file/docs/hello/shadow", Admin, Body::Raw(big(8 << 10)), 413),
        case(M::PUT, "/file/docs/hello/shadow", Nobody, none(), 401),
        case(M::GET, "/file/docs/hello/shadow", Admin, none(), 200),
        case(M::GET, "/file/docs/Bad.Name/shadow", Admin, none(), 400),
        case(M::GET, "/file/docs/hello/shadow", Stranger, none(), 403),
        case(M::GET, "/file/docs/nosuch/shadow", Admin, none(), 404),
        case(M::GET, "/file/docs/hello/shadow", Nobody, none(), 401),
        case(M::GET, "/file/docs/hello/shadow/report", Admin, none(), 200),
        case(M::GET, "/file/docs/Bad.Name/shadow/report", Admin, none(), 400),
        case(M::GET, "/file/docs/hello/shadow/report", Stranger, none(), 403),
        case(M::GET, "/file/docs/nosuch/shadow/report", Admin, none(), 404),
        case(M::GET, "/file/docs/hello/shadow/report", Nobody, none(), 401),
        case(M::DELETE, "/file/docs/hello/shadow", Admin, none(), 200),
        case(M::DELETE, "/file/docs/Bad.Name/shadow", Admin, none(), 400),
        case(M::DELETE, "/file/docs/hello/shadow", Stranger, none(), 403),
        case(M::DELETE, "/file/docs/hello/shadow", Admin, none(), 404),
        case(M::DELETE, "/file/docs/hello/shadow", Nobody, none(), 401),
        // Aliases.
        case(
            M::PUT,
            "/file/docs/hello/aliases/stable",
            Admin,
            Body::Json(j!({"version": hello_digest})),
            200,
        ),
        case(
            M::PUT,
            "/file/docs/hello/aliases/stable",
            Admin,
            Body::Json(j!({"version": hello_digest, "weights": {hello_digest.as_str(): 0.5}})),
            400,
        ),
        case(M::PUT, "/file/docs/hello/aliases/stable", Stranger, Body::Json(j!({})), 403),
        case(
            M::PUT,
            "/file/docs/nosuch/aliases/stable",
            Admin,
            Body::Json(j!({"version": hello_digest})),
            404,
        ),
        case(M::PUT, "/file/docs/hello/aliases/stable", Admin, Body::Raw(big(32 << 10)), 413),
        case(M::PUT, "/file/docs/hello/aliases/stable", Nobody, none(), 401),
        case(M::GET, "/file/docs/hello/aliases", Admin, none(), 200),
        case(M::GET, "/file/docs/Bad.Name/aliases", Admin, none(), 400),
        case(M::GET, "/file/docs/hello/aliases", Stranger, none(), 403),
        case(M::GET, "/file/docs/nosuch/aliases", Admin, none(), 404),
        case(M::GET, "/file/docs/hello/aliases", Nobody, none(), 401),
        case(M::DELETE, "/file/docs/hello/aliases/stable", Admin, none(), 200),
        case(M::DELETE, "/file/docs/hello/aliases/current", Admin, none(), 400),
        case(M::DELETE, "/file/docs/hello/aliases/stable", Stranger, none(), 403),
        case(M::DELETE, "/file/docs/hello/aliases/stable", Admin, none(), 404),
        case(M::DELETE, "/file/docs/hello/aliases/stable", Nobody, none(), 401),
        // Function configuration.
        case(
            M::PUT,
            "/config/docs/hello",
            Admin,
            Body::Json(j!({"env": {"GREETING": "hi"}, "secrets": {"K": "v"}})),
            200,
        ),
        case(M::PUT, "/config/docs/hello", Admin, Body::Json(j!({"timeout_ms": 0})), 400),
        case(M::PUT, "/config/docs/hello", Stranger, Body::Json(j!({})), 403),
        case(M::PUT, "/config/docs/nosuch", Admin, Body::Json(j!({})), 404),
        case(M::PUT, "/config/docs/hello", Admin, Body::Raw(big(200 << 10)), 413),
        case(M::PUT, "/config/docs/hello", Nobody, none(), 401),
        case(M::GET, "/config/docs/hello", Admin, none(), 200),
        case(M::GET, "/config/Bad_Name/hello", Admin, none(), 400),
        case(M::GET, "/config/docs/hello", Stranger, none(), 403),
        case(M::GET, "/config/docs/nosuch", Admin, none(), 404),
        case(M::GET, "/config/docs/hello", Nobody, none(), 401),
        case(M::DELETE, "/config/docs/hello", Admin, none(), 200),
        case(M::DELETE, "/config/Bad_Name/hello", Admin, none(), 400),
        case(M::DELETE, "/config/docs/hello", Stranger, none(), 403),
        case(M::DELETE, "/config/docs/nosuch", Admin, none(), 404),
        case(M::DELETE, "/config/docs/hello", Nobody, none(), 401),
        // Calls.
        case(M::POST, "/exec/docs/hello", Admin, Body::Raw(b"{}".to_vec()), 200),
        case(M::POST, "/exec/docs/hello?logs=true", Admin, Body::Raw(b"{}".to_vec()), 200),
        case(M::POST, "/exec/docs/Bad.Name", Admin, none(), 400),
        case(M::POST, "/exec/docs/hello", Stranger, none(), 403),
        case(M::POST, "/exec/docs/nosuch", Admin, none(), 404),
        case(M::POST, "/exec/docs/hello", Admin, Body::Raw(big(input)), 413),
        case(M::POST, "/exec/docs/trap", Admin, Body::Raw(b"x".to_vec()), 500),
        case(M::POST, "/exec/docs/spin", Admin, Body::Raw(b"x".to_vec()), 504),
        case(M::POST, "/exec/docs/hello", Nobody, none(), 401),
        case(M::POST, "/async/docs/hello", Admin, Body::Raw(b"{}".to_vec()), 202),
        case(M::POST, "/async/docs/Bad.Name", Admin, none(), 400),
        case(M::POST, "/async/docs/hello", Stranger, none(), 403),
        case(M::POST, "/async/docs/nosuch", Admin, none(), 404),
        case(M::POST, "/async/docs/hello", Admin, Body::Raw(big(input)), 413),
        case(M::POST, "/async/docs/hello", Nobody, none(), 401),
        // Pipelines.
        case(M::PUT, "/pipeline/p1", Admin, pipeline(), 200),
        case(M::PUT, "/pipeline/p2", Admin, pipeline(), 200),
        case(M::PUT, "/pipeline/ptrap", Admin, Body::Json(j!({"steps": ["docs/trap"]})), 200),
        case(M::PUT, "/pipeline/bad.name", Admin, pipeline(), 400),
        case(M::PUT, "/pipeline/p1", Stranger, pipeline(), 403),
        case(M::PUT, "/pipeline/p1", Admin, big_json(), 413),
        case(M::PUT, "/pipeline/p3", Admin, Body::Json(j!({"steps": ["docs/nosuch"]})), 422),
        case(M::PUT, "/pipeline/p1", Nobody, pipeline(), 401),
        case(M::GET, "/pipeline", Admin, none(), 200),
        case(M::GET, "/pipeline", Nobody, none(), 401),
        case(M::GET, "/pipeline/p1", Admin, none(), 200),
        case(M::GET, "/pipeline/bad.name", Admin, none(), 400),
        case(M::GET, "/pipeline/p1", Stranger, none(), 403),
        case(M::GET, "/pipeline/nosuch", Admin, none(), 404),
        case(M::GET, "/pipeline/p1", Nobody, none(), 401),
        case(M::DELETE, "/pipeline/p2", Admin, none(), 200),
        case(M::DELETE, "/pipeline/bad.name", Admin, none(), 400),
        case(M::DELETE, "/pipeline/p1", Stranger, none(), 403),
        case(M::DELETE, "/pipeline/nosuch", Admin, none(), 404),
        case(M::DELETE, "/pipeline/p1", Nobody, none(), 401),
        case(M::POST, "/exec/pipeline/p1", Admin, Body::Raw(b"{}".to_vec()), 200),
        case(M::POST, "/exec/pipeline/bad.name", Admin, none(), 400),
        case(M::POST, "/exec/pipeline/p1", Stranger, none(), 403),
        case(M::POST, "/exec/pipeline/nosuch", Admin, none(), 404),
        case(M::POST, "/exec/pipeline/p1", Admin, Body::Raw(big(input)), 413),
        case(M::POST, "/exec/pipeline/ptrap", Admin, Body::Raw(b"x".to_vec()), 500),
        case(M::POST, "/exec/pipeline/p1", Nobody, none(), 401),
        case(M::POST, "/async/pipeline/p1", Admin, Body::Raw(b"{}".to_vec()), 202),
        case(M::POST, "/async/pipeline/bad.name", Admin, none(), 400),
        case(M::POST, "/async/pipeline/p1", Stranger, none(), 403),
        case(M::POST, "/async/pipeline/nosuch", Admin, none(), 404),
        case(M::POST, "/async/pipeline/p1", Admin, Body::Raw(big(input)), 413),
        case(M::POST, "/async/pipeline/p1", Nobody, none(), 401),
        // Triggers.
        case(M::PUT, "/trigger/t1", Admin, trigger("docs.events"), 200),
        case(M::PUT, "/trigger/t2", Admin, trigger("docs.other"), 200),
        case(M::PUT, "/trigger/bad.name", Admin, trigger("docs.x"), 400),
        case(M::PUT, "/trigger/t1", Stranger, trigger("docs.events"), 403),
        case(M::PUT, "/trigger/t1", Admin, big_json(), 413),
        case(
            M::PUT,
            "/trigger/t3",
            Admin,
            Body::Json(j!({"subject": "docs.y", "function": "docs/nosuch"})),
            422,
        ),
        case(M::PUT, "/trigger/t3", Admin, trigger("docs.events"), 409),
        case(M::PUT, "/trigger/t1", Nobody, trigger("docs.events"), 401),
        case(M::GET, "/trigger", Admin, none(), 200),
        case(M::GET, "/trigger", Nobody, none(), 401),
        case(M::GET, "/trigger/t1", Admin, none(), 200),
        case(M::GET, "/trigger/bad.name", Admin, none(), 400),
        case(M::GET, "/trigger/t1", Stranger, none(), 403),
        case(M::GET, "/trigger/nosuch", Admin, none(), 404),
        case(M::GET, "/trigger/t1", Nobody, none(), 401),
        case(M::DELETE, "/trigger/t2", Admin, none(), 200),
        case(M::DELETE, "/trigger/bad.name", Admin, none(), 400),
        case(M::DELETE, "/trigger/t1", Stranger, none(), 403),
        case(M::DELETE, "/trigger/nosuch", Admin, none(), 404),
        case(M::DELETE, "/trigger/t1", Nobody, none(), 401),
        // Jobs.
        case(M::GET, "/jobs", Admin, none(), 200),
        case(M::GET, "/jobs?status=bogus", Admin, none(), 400),
        case(M::GET, "/jobs", Nobody, none(), 401),
        case(M::GET, format!("/jobs/{failed_job}"), Admin, none(), 200),
        case(M::GET, "/jobs/not-a-uuid", Admin, none(), 400),
        case(M::GET, format!("/jobs/{failed_job}"), Stranger, none(), 403),
        case(M::GET, format!("/jobs/{nosuch_job}"), Admin, none(), 404),
        case(M::GET, format!("/jobs/{failed_job}"), Nobody, none(), 401),
        // Replays (before the re-drive, which makes the job queued again).
        case(M::POST, format!("/jobs/{failed_job}/replay"), Admin, Body::Json(j!({})), 202),
        case(M::POST, "/jobs/not-a-uuid/replay", Admin, none(), 400),
        case(M::POST, format!("/jobs/{failed_job}/replay"), Stranger, none(), 403),
        case(M::POST, format!("/jobs/{nosuch_job}/replay"), Admin, none(), 404),
        case(M::POST, format!("/jobs/{failed_job}/replay"), Nobody, none(), 401),
        case(M::POST, format!("/jobs/{failed_job}/replay"), Admin, Body::Raw(big(8 << 10)), 413),
        case(M::POST, format!("/calls/{kept_call}/replay"), Admin, Body::Json(j!({})), 202),
        case(M::POST, "/calls/not-a-uuid/replay", Admin, none(), 400),
        case(M::POST, format!("/calls/{kept_call}/replay"), Stranger, none(), 403),
        case(M::POST, format!("/calls/{nosuch_job}/replay"), Admin, none(), 404),
        case(M::POST, format!("/calls/{kept_call}/replay"), Admin, Body::Raw(big(8 << 10)), 413),
        case(M::POST, format!("/calls/{kept_call}/replay"), Nobody, none(), 401),
        case(M::POST, format!("/jobs/{failed_job}/redrive"), Admin, none(), 202),
        case(M::POST, "/jobs/not-a-uuid/redrive", Admin, none(), 400),
        case(M::POST, format!("/jobs/{failed_job}/redrive"), Stranger, none(), 403),
        case(M::POST, format!("/jobs/{nosuch_job}/redrive"), Admin, none(), 404),
        case(M::POST, format!("/jobs/{failed_job}/redrive"), Nobody, none(), 401),
        // Tokens and audit.
        case(M::GET, "/tokens", Admin, none(), 200),
        case(M::GET, "/tokens", Stranger, none(), 403),
        case(M::GET, "/tokens", Nobody, none(), 401),
        case(M::POST, "/tokens", Admin, Body::Json(j!({"name": "ci", "scopes": ["invoke:docs"]})), 201),
        case(M::POST, "/tokens", Admin, Body::Json(j!({"name": "", "scopes": ["admin"]})), 400),
        case(M::POST, "/tokens", Stranger, Body::Json(j!({"name": "x", "scopes": ["admin"]})), 403),
        case(M::POST, "/tokens", Admin, big_json(), 413),
        case(M::POST, "/tokens", Nobody, none(), 401),
        case(M::DELETE, format!("/tokens/{doomed}"), Admin, none(), 200),
        case(M::DELETE, "/tokens/bootstrap", Admin, none(), 400),
        case(M::DELETE, format!("/tokens/{doomed}"), Stranger, none(), 403),
        case(M::DELETE, format!("/tokens/{}", "0".repeat(32)), Admin, none(), 404),
        case(M::DELETE, format!("/tokens/{doomed}"), Nobody, none(), 401),
        case(M::GET, "/audit", Admin, none(), 200),
        case(M::GET, "/audit", Stranger, none(), 403),
        case(M::GET, "/audit", Nobody, none(), 401),
        // Call logs (listed; a follow stays open, which a walk cannot wait for).
        case(M::GET, "/logs/docs/copy?limit=5", Admin, none(), 200),
        case(M::GET, "/logs/Bad_Name/copy", Admin, none(), 400),
        case(M::GET, "/logs/docs/copy?limit=many", Admin, none(), 400),
        case(M::GET, "/logs/docs/copy", Stranger, none(), 403),
        case(M::GET, "/logs/docs/copy", Nobody, none(), 401),
    ];
    for case in cases {
        walker.check(case).await;
    }
    // A job still running (spin runs to its time limit) is not replayed.
    let (status, body) =
        json(platform.http.post(platform.url("/async/docs/spin")).body("x").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let running = body["job_id"].as_str().unwrap().to_owned();
    walker.check(case(M::POST, format!("/jobs/{running}/replay"), Admin, none(), 409)).await;
    // `/run`, each method and both paths (`x` is the function's path).
    let http_guest = has_http_guest();
    if http_guest {
        platform.deploy("docs", "web", HTTP_GUEST).await;
    }
    for method in RUN_METHODS {
        let m: Method = method.parse().unwrap();
        for rest in ["", "/", "/x"] {
            let mut run = vec![
                case(m.clone(), format!("/run/docs/Bad.Name{rest}"), Admin, none(), 400),
                case(m.clone(), format!("/run/docs/web{rest}"), Stranger, none(), 403),
                case(m.clone(), format!("/run/docs/web{rest}"), Nobody, none(), 401),
            ];
            if http_guest {
                run.push(case(m.clone(), format!("/run/docs/web{rest}?status=200"), Admin, none(), 200));
                run.push(case(m.clone(), format!("/run/docs/nosuch{rest}"), Admin, none(), 404));
            }
            if http_guest && rest == "/x" {
                run.push(case(m.clone(), "/run/docs/web/trap", Admin, none(), 500));
            }
            for case in run {
                walker.check(case).await;
            }
            let over = case(m.clone(), format!("/run/docs/web{rest}"), Admin, Body::Raw(big(2 << 10)), 413);
            walker.check_at(&strict, over).await;
        }
    }
    // The second api: an upload over its limit, and closed probes.
    for case in [
        case(M::POST, "/file/docs/large", Admin, Body::Raw(big(300 << 10)), 413),
        case(M::GET, "/ready", Nobody, none(), 401),
        case(M::GET, "/ready", Stranger, none(), 403),
        case(M::GET, "/metrics", Nobody, none(), 401),
        case(M::GET, "/metrics", Stranger, none(), 403),
    ] {
        walker.check_at(&strict, case).await;
    }

    // Paths and methods the document does not name: the platform's errors.
    for (method, path, status, code) in [
        (M::GET, "/nothing/here".to_owned(), 404, "not_found"),
        (M::GET, "/bucket/docs/extra/segments".to_owned(), 404, "not_found"),
        (M::GET, "/exec/docs".to_owned(), 404, "not_found"),
    ] {
        assert_undocumented(&walker, method, &path, status, code).await;
    }
    for op_path in walker.ops.iter().map(|op| op.path.clone()).collect::<BTreeSet<_>>() {
        let concrete = fill(&op_path);
        for method in [M::GET, M::PUT, M::POST, M::DELETE, M::PATCH] {
            if walker.ops.iter().any(|op| op.path == op_path && op.method == method) {
                continue;
            }
            // The literal `/exec/pipeline/...` also fits `/exec/{bucket}/...`:
            // a method either serves counts as that route's.
            if find(&walker.ops, &method, &concrete).is_some() {
                continue;
            }
            assert_undocumented(&walker, method, &concrete, 405, "method_not_allowed").await;
        }
    }

    // NATS down: every route that needs it answers 503 at once, /ready too.
    platform.nats_server().stop();
    let stopped = Instant::now();
    while platform.http.get(platform.url("/bucket")).send().await.unwrap().status()
        != StatusCode::SERVICE_UNAVAILABLE
    {
        assert!(stopped.elapsed() < Duration::from_secs(10), "the api never noticed NATS is down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut down = vec![case(M::GET, "/ready", Nobody, none(), 503)];
    for op in walker.ops.clone() {
        let guarded = op
            .responses
            .get("503")
            .is_some_and(|r| r["description"].as_str().unwrap().contains("unavailable"));
        if guarded {
            let body = if op.method == M::PUT && op.path.starts_with("/trigger") {
                trigger("docs.z")
            } else if op.method == M::PUT && op.path.starts_with("/pipeline") {
                pipeline()
            } else if op.path == "/tokens" && op.method == M::POST {
                Body::Json(j!({"name": "x", "scopes": ["admin"]}))
            } else {
                Body::Raw(b"{}".to_vec())
            };
            let path = fill(&op.path).replace("{id}", nosuch_job);
            down.push(case(op.method.clone(), path, Admin, body, 503));
        }
    }
    for case in down {
        walker.check(case).await;
    }

    assert!(walker.covered.len() >= 120, "the walk covered {} answers", walker.covered.len());
    // Every documented answer was seen.
    let mut missing = Vec::new();
    for op in &walker.ops {
        for status in op.responses.keys().filter_map(|s| s.parse::<u16>().ok()) {
            if !excused(op, status, http_guest) && !walker.covered.contains(&(op.id.clone(), status)) {
                missing.push(format!("{} {} {status} ({})", op.method, op.path, op.id));
            }
        }
    }
    assert!(missing.is_empty(), "documented but never provoked: {missing:#?}");
}

/// A documented path with every placeholder filled with a valid name.
fn fill(template: &str) -> String {
    template
        .replace("{bucket}", "docs")
        .replace("{function}", "hello")
        .replace("{name}", "p1")
        .replace("{id}", "00000000-0000-4000-8000-000000000000")
        .replace("{*path}", "x")
}

async fn assert_undocumented(walker: &Walker<'_>, method: Method, path: &str, status: u16, code: &str) {
    let response = walker
        .http
        .request(method.clone(), format!("{}{path}", walker.base))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("x-request-id"), "{method} {path}: no x-request-id");
    let (got, body) = json(response).await;
    assert_eq!(
        (got.as_u16(), body["error"]["code"].as_str()),
        (status, Some(code)),
        "{method} {path}: {body}"
    );
    let mut errors = Vec::new();
    validate(walker.doc, &j!({"$ref": "#/components/schemas/ErrorResponse"}), &body, "", &mut errors);
    assert!(errors.is_empty(), "{method} {path}: {errors:?}");
}

/// The router has no route of its own: every one is declared through
/// `routes!` (which gives the document its operation), and the document
/// built from the declaration names each (method, path) once.
#[test]
fn the_router_is_declared_only_through_the_document() {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../api/src/routes/mod.rs")).unwrap();
    for bypass in [".route(", ".route_service(", ".nest(", ".nest_service("] {
        assert!(
            !source.contains(bypass),
            "api/src/routes/mod.rs adds a route with {bypass}: declare it with routes!() instead"
        );
    }
    let declared = source.matches("routes!(").count();
    let doc = serde_json::to_value(api::openapi::document()).unwrap();
    // For people to read, as the api serves it.
    let copy = concat!(env!("CARGO_TARGET_TMPDIR"), "/openapi.json");
    std::fs::write(copy, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let ops = operations(&doc);
    let ids: BTreeSet<_> = ops.iter().map(|op| op.id.clone()).collect();
    assert_eq!(ids.len(), ops.len(), "operation ids are unique");
    let paths: BTreeSet<_> = ops.iter().map(|op| op.path.clone()).collect();
    assert_eq!(paths.len(), declared, "one routes!() per documented path");
    // A route declared for several methods has an operation per method.
    let documented: BTreeSet<_> = api::openapi::OPERATIONS
        .iter()
        .flat_map(|op| match api::openapi::PER_METHOD.contains(&op.id) {
            true => RUN_METHODS.iter().map(|m| api::openapi::per_method_id(op.id, m)).collect(),
            false => vec![op.id.to_owned()],
        })
        .collect();
    assert_eq!(ids, documented, "every route has its errors listed, and nothing else");
    for op in &ops {
        let op_doc = &doc["paths"][&op.path][op.method.as_str().to_lowercase()];
        assert!(op_doc["security"].is_array(), "{} {}: no security", op.method, op.path);
        assert!(
            op_doc["description"].as_str().is_some_and(|d| d.contains("Access:")),
            "{} {}: no access in the description",
            op.method,
            op.path
        );
        for (status, response) in &op.responses {
            assert!(
                response["headers"]["x-request-id"].is_object(),
                "{} {} {status}: x-request-id",
                op.method,
                op.path
            );
        }
    }
}

/// `curl/*.http` request lines and the README's curl commands and route
/// table name only documented (method, path) pairs.
#[test]
fn curl_files_and_the_readme_name_only_documented_routes() {
    let doc = serde_json::to_value(api::openapi::document()).unwrap();
    let ops = operations(&doc);
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut named = Vec::new();
    let mut http_files = 0;
    for entry in std::fs::read_dir(format!("{root}/curl")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "http") {
            continue;
        }
        http_files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            if let Some((method, rest)) = line.split_once(' ')
                && let Ok(method) = method.parse::<Method>()
                && let Some(target) = rest.strip_prefix("{{host}}")
            {
                named.push((
                    format!("{}", path.display()),
                    method,
                    target.split_whitespace().next().unwrap().to_owned(),
                ));
            }
        }
    }
    assert!(http_files >= 10 && named.len() >= 30, "the curl files were read: {named:?}");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let mut curls = 0;
    // Curl commands, with their continuation lines joined.
    let joined = readme.replace("\\\n", " ");
    for line in joined.lines() {
        // A command, not a comment that mentions curl.
        let Some(at) = line.find("curl ").filter(|at| !line[..*at].contains('#')) else { continue };
        let words: Vec<&str> = line[at..].split_whitespace().collect();
        let url = words.iter().find_map(|w| {
            let w = w.trim_matches(|c| c == '"' || c == '\'' || c == ';');
            w.strip_prefix("http://localhost:3000").or_else(|| w.strip_prefix("$api"))
        });
        let Some(url) = url else { continue };
        let explicit = words.windows(2).find(|w| w[0] == "-X").map(|w| w[1]);
        let sends = words.iter().any(|w| ["-d", "-F", "--data", "--data-binary"].contains(w));
        let method = explicit.unwrap_or(if sends { "POST" } else { "GET" });
        named.push(("README.md curl".into(), method.parse().unwrap(), url.to_owned()));
        curls += 1;
    }
    assert!(curls >= 10, "the README's curl lines were read");
    // The route table and prose: `METHOD /path`.
    for method in ["GET", "PUT", "POST", "PATCH", "DELETE"] {
        let opening = format!("`{method} /");
        for (at, _) in readme.match_indices(&opening) {
            let rest = &readme[at + opening.len() - 1..];
            let path = &rest[..rest.find('`').unwrap()];
            let path = path.split(['[', '?']).next().unwrap();
            named.push(("README.md".into(), method.parse().unwrap(), path.to_owned()));
        }
    }
    let mut undocumented = Vec::new();
    for (source, method, target) in &named {
        // Shell variables stand for one segment.
        let path = target.split('?').next().unwrap().replace("$f", "f").replace("$1", "x");
        let templated = ops.iter().any(|op| op.method == *method && op.path == path);
        if !templated && find(&ops, method, &path).is_none() {
            undocumented.push(format!("{source}: {method} {target}"));
        }
    }
    assert!(undocumented.is_empty(), "not in /openapi.json: {undocumented:#?}");
}

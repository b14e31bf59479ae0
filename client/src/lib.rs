//! A typed client of the wasm-faas HTTP api.
//!
//! Every route has one method, taking and returning the types of
//! `protocol` the api itself answers with, so the client and the server
//! cannot drift apart. Every failure is one [`Error`]: the platform's own
//! error (status, code, message), or a connection failure.
//!
//! ```no_run
//! # async fn demo() -> Result<(), client::Error> {
//! let faas = client::Client::new("http://127.0.0.1:3000", Some("faas_..."))?;
//! let hello = "functions/hello".parse().unwrap();
//! let answer = faas.exec(&hello, br#"{"name":"World"}"#.to_vec(), false).await?;
//! println!("{}", answer.result);
//! # Ok(()) }
//! ```

mod error;

use bytes::Bytes;
use protocol::admin::{BucketList, PipelineList, TriggerList};
use protocol::auth::NewToken;
use protocol::function_config::{FunctionConfig, FunctionConfigView};
use protocol::http::{
    self as wire, BucketFunctions, CreatedBucket, CreatedToken, Deleted, ErrorResponse, ExecResult,
    JobAccepted, JobList, Revoked, TokenList, Uploaded,
};
use protocol::logs::CallLog;
use protocol::replay::ReplayRequest;
use protocol::{
    BucketName, ExecLogsReply, FunctionRef, JobRecord, JobStatus, Pipeline, PipelineName, PipelineSpec,
    Target, Trigger, TriggerName, TriggerSpec,
};
pub use reqwest::Method;
use reqwest::{RequestBuilder, Response, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use error::Error;

/// The default api address, as `scripts/up.sh` serves it.
pub const DEFAULT_URL: &str = "http://127.0.0.1:3000";

/// The size of the pieces an upload is sent in (and its progress reported).
const UPLOAD_CHUNK: usize = 256 << 10;

/// A client of one api, with one token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
}

impl std::fmt::Debug for Client {
    // Never the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

/// One call's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    /// The function's (or pipeline's) output.
    pub result: String,
    /// What it wrote to stdout, when logs were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// What it wrote to stderr, when logs were asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// Whether the logs were cut to fit the reply.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub logs_truncated: bool,
    /// sha256 of the component version that ran (`x-faas-digest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The executor that ran it (`x-faas-executor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,
    /// Where its compiled form came from (`x-faas-cache`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// The request id (`x-request-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// An HTTP function's answer, as it gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Its status, whatever it is.
    pub status: u16,
    /// Its headers (and the platform's `x-request-id`, `x-faas-*`), in
    /// order, repeated names repeated.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: Bytes,
}

impl Client {
    /// A client of the api at `base` (`http://host:port`), sending `token`
    /// as its bearer token when there is one.
    pub fn new(base: &str, token: Option<&str>) -> Result<Self, Error> {
        // reqwest is built without a default TLS provider (the workspace
        // links ring, not aws-lc); installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut base = Url::parse(base).map_err(|_| Error::InvalidUrl(base.to_owned()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::InvalidUrl(base.to_string()));
        }
        // Paths are appended as segments: a base of `http://h/faas/` or
        // `http://h/faas` both mean the api under `/faas`.
        if base.path().ends_with('/') {
            base.path_segments_mut().expect("checked above").pop_if_empty();
        }
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            let mut bearer = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| Error::InvalidToken)?;
            bearer.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, bearer);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("faas-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::connection(base.as_str(), &e))?;
        Ok(Self { http, base })
    }

    /// The api's address.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// `GET /health`: the api process answers.
    pub async fn health(&self) -> Result<(), Error> {
        self.send(self.request(Method::GET, &["health"])).await.map(drop)
    }

    /// `GET /bucket`: the buckets the token may read.
    pub async fn list_buckets(&self) -> Result<BucketList, Error> {
        self.json(self.request(Method::GET, &["bucket"])).await
    }

    /// `PUT /bucket/{bucket}`.
    pub async fn create_bucket(&self, bucket: &BucketName) -> Result<CreatedBucket, Error> {
        self.json(self.request(Method::PUT, &["bucket", bucket.as_str()])).await
    }

    /// `GET /bucket/{bucket}`: its functions.
    pub async fn list_functions(&self, bucket: &BucketName) -> Result<BucketFunctions, Error> {
        self.json(self.request(Method::GET, &["bucket", bucket.as_str()])).await
    }

    /// `DELETE /bucket/{bucket}[?force=true]`: with `force`, its functions too.
    pub async fn delete_bucket(&self, bucket: &BucketName, force: bool) -> Result<Deleted, Error> {
        let query: &[(&str, &str)] = if force { &[("force", "true")] } else { &[] };
        self.json(self.request_with(Method::DELETE, &["bucket", bucket.as_str()], query)).await
    }

    /// `POST /file/{bucket}/{function}`: stores a component, sending it in
    /// pieces and calling `progress` with the bytes sent so far.
    pub async fn upload(
        &self,
        function: &FunctionRef,
        component: Bytes,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<Uploaded, Error> {
        let size = component.len();
        let chunks = (0..size.div_ceil(UPLOAD_CHUNK)).map(move |i| {
            let end = ((i + 1) * UPLOAD_CHUNK).min(size);
            let piece = component.slice(i * UPLOAD_CHUNK..end);
            progress(end as u64);
            Ok::<_, std::io::Error>(piece)
        });
        let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
        let request = self
            .request(Method::POST, &["file", function.bucket.as_str(), function.function.as_str()])
            .header(reqwest::header::CONTENT_TYPE, "application/wasm")
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body);
        self.json(request).await
    }

    /// `GET /file/{bucket}/{function}`: the stored component.
    pub async fn download(&self, function: &FunctionRef) -> Result<Bytes, Error> {
        let request =
            self.request(Method::GET, &["file", function.bucket.as_str(), function.function.as_str()]);
        let url = self.base.to_string();
        self.send(request).await?.bytes().await.map_err(|e| Error::connection(&url, &e))
    }

    /// `DELETE /file/{bucket}/{function}`.
    pub async fn delete_function(&self, function: &FunctionRef) -> Result<Deleted, Error> {
        self.json(
            self.request(Method::DELETE, &["file", function.bucket.as_str(), function.function.as_str()]),
        )
        .await
    }

    /// `GET /file/{bucket}/{function}/versions`: the kept versions, newest first.
    pub async fn versions(&self, function: &FunctionRef) -> Result<protocol::versions::VersionList, Error> {
        let path = ["file", function.bucket.as_str(), function.function.as_str(), "versions"];
        self.json(self.request(Method::GET, &path)).await
    }

    /// `PUT /file/{bucket}/{function}/aliases/{alias}`: creates or moves
    /// an alias (`current` included); answered once every executor applied it.
    pub async fn put_alias(
        &self,
        function: &FunctionRef,
        alias: &str,
        spec: &protocol::aliases::AliasSpec,
    ) -> Result<protocol::aliases::AliasRecord, Error> {
        let path = ["file", function.bucket.as_str(), function.function.as_str(), "aliases", alias];
        self.json(self.request(Method::PUT, &path).json(spec)).await
    }

    /// `GET /file/{bucket}/{function}/aliases`: `current` first.
    pub async fn aliases(&self, function: &FunctionRef) -> Result<protocol::aliases::AliasList, Error> {
        let path = ["file", function.bucket.as_str(), function.function.as_str(), "aliases"];
        self.json(self.request(Method::GET, &path)).await
    }

    /// `DELETE /file/{bucket}/{function}/aliases/{alias}` (never `current`).
    pub async fn delete_alias(&self, function: &FunctionRef, alias: &str) -> Result<Deleted, Error> {
        let path = ["file", function.bucket.as_str(), function.function.as_str(), "aliases", alias];
        self.json(self.request(Method::DELETE, &path)).await
    }

    /// `POST /file/{bucket}/{function}/rollback`: `current` back one step
    /// (`no_rollback_target` when no earlier version is kept).
    pub async fn rollback(&self, function: &FunctionRef) -> Result<protocol::aliases::AliasRecord, Error> {
        let path = ["file", function.bucket.as_str(), function.function.as_str(), "rollback"];
        self.json(self.request(Method::POST, &path)).await
    }

    /// `GET /file/{bucket}/{function}?version=<version>`: one kept version's
    /// bytes (`version`: a digest or a unique prefix of 8+ hex characters).
    pub async fn download_version(&self, function: &FunctionRef, version: &str) -> Result<Bytes, Error> {
        let path = ["file", function.bucket.as_str(), function.function.as_str()];
        let request = self.request_with(Method::GET, &path, &[("version", version)]);
        let url = self.base.to_string();
        self.send(request).await?.bytes().await.map_err(|e| Error::connection(&url, &e))
    }

    /// `DELETE /file/{bucket}/{function}?version=<version>`: one kept
    /// version (never the current one: `version_in_use`).
    pub async fn delete_version(&self, function: &FunctionRef, version: &str) -> Result<Deleted, Error> {
        let path = ["file", function.bucket.as_str(), function.function.as_str()];
        let request = self.request_with(Method::DELETE, &path, &[("version", version)]);
        self.json(request).await
    }

    /// `PUT /file/{bucket}/{function}/shadow`: shadows a sample of the
    /// function's live calls with a candidate version (a fresh report).
    pub async fn put_shadow(
        &self,
        function: &FunctionRef,
        spec: &protocol::shadow::ShadowSpec,
    ) -> Result<protocol::shadow::ShadowConfig, Error> {
        let path = ["file", function.bucket.as_str(), function.function.as_str(), "shadow"];
        self.json(self.request(Method::PUT, &path).json(spec)).await
    }

    /// `GET /file/{bucket}/{function}/shadow`: the shadowing running now.
    pub async fn shadow(&self, function: &FunctionRef) -> Result<protocol::shadow::ShadowConfig, Error> {
        let path = ["file", function.bucket.as_str(), function.function.as_str(), "shadow"];
        self.json(self.request(Method::GET, &path)).await
    }

    /// `DELETE /file/{bucket}/{function}/shadow`: stops shadowing (the
    /// report stays until the next `PUT`).
    pub async fn delete_shadow(&self, function: &FunctionRef) -> Result<Deleted, Error> {
        let path = ["file", function.bucket.as_str(), function.function.as_str(), "shadow"];
        self.json(self.request(Method::DELETE, &path)).await
    }

    /// `GET /file/{bucket}/{function}/shadow/report`: the shadow pairs summarised.
    pub async fn shadow_report(
        &self,
        function: &FunctionRef,
    ) -> Result<protocol::shadow::ShadowReport, Error> {
        let path = ["file", function.bucket.as_str(), function.function.as_str(), "shadow", "report"];
        self.json(self.request(Method::GET, &path)).await
    }

    /// `<METHOD> /run/{bucket}/{function}{path}[?query]`: calls an HTTP
    /// function with `headers` and `body`. Any status the function answers
    /// is its answer, not an error; a failure of the platform (no such
    /// function, a trap, a timeout, the wrong world, ...) is
    /// [`Error::Api`], as for [`Client::exec`]: a non-2xx JSON answer in
    /// the platform's error shape with one of its codes (a function that
    /// answers exactly that shape is taken for the platform). `path` is
    /// sent as given (percent-encoding kept; `""` is `/`), `query` without
    /// its `?`.
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        &self,
        function: &FunctionRef,
        method: Method,
        path: &str,
        query: Option<&str>,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<HttpAnswer, Error> {
        let mut url = self.base.clone();
        url.path_segments_mut().expect("checked in new").extend([
            "run",
            function.bucket.as_str(),
            function.function.as_str(),
        ]);
        let path = path.strip_prefix('/').unwrap_or(path);
        if !path.is_empty() {
            let joined = format!("{}/{path}", url.path());
            url.set_path(&joined);
        }
        url.set_query(query.filter(|q| !q.is_empty()));
        let mut request = self.http.request(method, url);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response =
            request.body(body).send().await.map_err(|e| Error::connection(self.base.as_str(), &e))?;
        let url = response.url().to_string();
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect();
        let body = response.bytes().await.map_err(|e| Error::connection(&url, &e))?;
        // The platform's own failures carry its error body, with a code it
        // knows (which the deserialiser checks); a function's non-2xx
        // answer is passed through as it is.
        let json = headers.iter().any(|(n, v)| n == "content-type" && v.starts_with("application/json"));
        if !(200..300).contains(&status)
            && json
            && let Ok(ErrorResponse { error: detail }) = serde_json::from_slice::<ErrorResponse>(&body)
        {
            let request_id =
                headers.iter().find(|(n, _)| n == wire::REQUEST_ID_HEADER).map(|(_, v)| v.clone());
            return Err(Error::Api { status, detail, request_id });
        }
        Ok(HttpAnswer { status, headers, body })
    }

    /// `GET /config/{bucket}/{function}`: its configuration, secrets by name.
    pub async fn function_config(&self, function: &FunctionRef) -> Result<FunctionConfigView, Error> {
        self.json(
            self.request(Method::GET, &["config", function.bucket.as_str(), function.function.as_str()]),
        )
        .await
    }

    /// `PUT /config/{bucket}/{function}`: replaces its configuration (a
    /// `None` secret keeps its stored value).
    pub async fn put_function_config(
        &self,
        function: &FunctionRef,
        config: &FunctionConfig,
    ) -> Result<FunctionConfigView, Error> {
        let path = ["config", function.bucket.as_str(), function.function.as_str()];
        self.json(self.request(Method::PUT, &path).json(config)).await
    }

    /// `DELETE /config/{bucket}/{function}`: back to the defaults.
    pub async fn delete_function_config(&self, function: &FunctionRef) -> Result<FunctionConfigView, Error> {
        let path = ["config", function.bucket.as_str(), function.function.as_str()];
        self.json(self.request(Method::DELETE, &path)).await
    }

    /// `POST /exec/{bucket}/{function}` or `/exec/pipeline/{name}`: runs it
    /// and waits for its output; with `logs` (functions only), its stdout
    /// and stderr too.
    pub async fn exec(
        &self,
        target: &impl AsTarget,
        input: Vec<u8>,
        logs: bool,
    ) -> Result<Invocation, Error> {
        let target = target.as_target();
        self.exec_at(&target_bucket(&target), &target_name(&target), input, logs).await
    }

    /// `POST /exec/{bucket}/{function}@{version}`: runs a kept version of
    /// the function (`version`: a digest or a unique prefix of 8+ hex
    /// characters); the invocation's `digest` says which ran.
    pub async fn exec_version(
        &self,
        function: &FunctionRef,
        version: &str,
        input: Vec<u8>,
        logs: bool,
    ) -> Result<Invocation, Error> {
        let name = format!("{}@{version}", function.function);
        self.exec_at(function.bucket.as_str(), &name, input, logs).await
    }

    async fn exec_at(
        &self,
        bucket: &str,
        name: &str,
        input: Vec<u8>,
        logs: bool,
    ) -> Result<Invocation, Error> {
        let query: &[(&str, &str)] = if logs { &[("logs", "true")] } else { &[] };
        let request = self.request_with(Method::POST, &["exec", bucket, name], query);
        let response = self.send(request.body(input)).await?;
        let header =
            |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (digest, executor, cache, request_id) = (
            header(wire::DIGEST_HEADER),
            header(wire::EXECUTOR_HEADER),
            header(wire::CACHE_HEADER),
            header(wire::REQUEST_ID_HEADER),
        );
        let mut invocation = Invocation {
            result: String::new(),
            stdout: None,
            stderr: None,
            logs_truncated: false,
            digest,
            executor,
            cache,
            request_id,
        };
        if logs {
            let reply: ExecLogsReply = read_json(response).await?;
            invocation.result = reply.result;
            invocation.stdout = Some(reply.stdout);
            invocation.stderr = Some(reply.stderr);
            invocation.logs_truncated = reply.logs_truncated;
        } else {
            invocation.result = read_json::<ExecResult>(response).await?.result;
        }
        Ok(invocation)
    }

    /// `POST /async/{bucket}/{function}` or `/async/pipeline/{name}`: stores
    /// a job and answers at once.
    pub async fn submit(&self, target: &impl AsTarget, input: Vec<u8>) -> Result<JobAccepted, Error> {
        let target = target.as_target();
        self.json(
            self.request(Method::POST, &["async", &target_bucket(&target), &target_name(&target)])
                .body(input),
        )
        .await
    }

    /// `GET /jobs/{id}`: a job's record.
    pub async fn job(&self, id: &str) -> Result<JobRecord, Error> {
        self.json(self.request(Method::GET, &["jobs", id])).await
    }

    /// `GET /jobs[?status=][&limit=]`: records, newest first.
    pub async fn jobs(&self, status: Option<JobStatus>, limit: Option<usize>) -> Result<JobList, Error> {
        let limit = limit.map(|limit| limit.to_string());
        let query: Vec<(&str, &str)> =
            [("status", status.map(JobStatus::as_str)), ("limit", limit.as_deref())]
                .into_iter()
                .filter_map(|(name, value)| Some((name, value?)))
                .collect();
        self.json(self.request_with(Method::GET, &["jobs"], &query)).await
    }

    /// `POST /jobs/{id}/redrive`: queues a failed job again.
    pub async fn redrive(&self, id: &str) -> Result<JobRecord, Error> {
        self.json(self.request(Method::POST, &["jobs", id, "redrive"])).await
    }

    /// `POST /jobs/{id}/replay`: runs a finished job's input again as a
    /// new job (see [`protocol::replay`]).
    pub async fn replay_job(&self, id: &str, request: &ReplayRequest) -> Result<JobAccepted, Error> {
        self.replay("jobs", id, request).await
    }

    /// `POST /calls/{id}/replay`: runs a failed sync call's kept input
    /// (its `x-faas-call-id`) as a new job.
    pub async fn replay_call(&self, id: &str, request: &ReplayRequest) -> Result<JobAccepted, Error> {
        self.replay("calls", id, request).await
    }

    async fn replay(&self, kind: &str, id: &str, request: &ReplayRequest) -> Result<JobAccepted, Error> {
        let body = serde_json::to_vec(request).expect("a replay request always serialises");
        let request = self
            .request(Method::POST, &[kind, id, "replay"])
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.json(request).await
    }

    /// `GET /trigger`.
    pub async fn list_triggers(&self) -> Result<TriggerList, Error> {
        self.json(self.request(Method::GET, &["trigger"])).await
    }

    /// `GET /trigger/{name}`.
    pub async fn trigger(&self, name: &TriggerName) -> Result<Trigger, Error> {
        self.json(self.request(Method::GET, &["trigger", name.as_str()])).await
    }

    /// `PUT /trigger/{name}`: creates or replaces it.
    pub async fn put_trigger(&self, name: &TriggerName, spec: &TriggerSpec) -> Result<Trigger, Error> {
        self.json(self.request(Method::PUT, &["trigger", name.as_str()]).json(spec)).await
    }

    /// `DELETE /trigger/{name}`.
    pub async fn delete_trigger(&self, name: &TriggerName) -> Result<Deleted, Error> {
        self.json(self.request(Method::DELETE, &["trigger", name.as_str()])).await
    }

    /// `GET /pipeline`.
    pub async fn list_pipelines(&self) -> Result<PipelineList, Error> {
        self.json(self.request(Method::GET, &["pipeline"])).await
    }

    /// `GET /pipeline/{name}`.
    pub async fn pipeline(&self, name: &PipelineName) -> Result<Pipeline, Error> {
        self.json(self.request(Method::GET, &["pipeline", name.as_str()])).await
    }

    /// `PUT /pipeline/{name}`: creates or replaces it.
    pub async fn put_pipeline(&self, name: &PipelineName, spec: &PipelineSpec) -> Result<Pipeline, Error> {
        self.json(self.request(Method::PUT, &["pipeline", name.as_str()]).json(spec)).await
    }

    /// `DELETE /pipeline/{name}`.
    pub async fn delete_pipeline(&self, name: &PipelineName) -> Result<Deleted, Error> {
        self.json(self.request(Method::DELETE, &["pipeline", name.as_str()])).await
    }

    /// `GET /tokens` (admin).
    pub async fn list_tokens(&self) -> Result<TokenList, Error> {
        self.json(self.request(Method::GET, &["tokens"])).await
    }

    /// `POST /tokens` (admin): the answer holds the new token's secret.
    pub async fn create_token(&self, token: &NewToken) -> Result<CreatedToken, Error> {
        self.json(self.request(Method::POST, &["tokens"]).json(token)).await
    }

    /// `DELETE /tokens/{id}` (admin).
    pub async fn revoke_token(&self, id: &str) -> Result<Revoked, Error> {
        self.json(self.request(Method::DELETE, &["tokens", id])).await
    }

    /// `GET /logs/{bucket}/{function}[?limit=N]`: the newest call logs of a
    /// function (the api's default 50, at most 1000), oldest first.
    pub async fn logs(&self, function: &FunctionRef, limit: Option<usize>) -> Result<Vec<CallLog>, Error> {
        let limit = limit.map(|limit| limit.to_string());
        let query: Vec<(&str, &str)> = limit.as_deref().map(|limit| ("limit", limit)).into_iter().collect();
        let (bucket, name) = (function.bucket.to_string(), function.function.to_string());
        self.json(self.request_with(Method::GET, &["logs", &bucket, &name], &query)).await
    }

    /// `GET /logs/{bucket}/{function}?follow=true[&limit=N]`: the newest
    /// `limit` call logs (the api's default 10), then each new one as its
    /// call ends, until the api ends the answer or the [`LogFollow`] is
    /// dropped.
    pub async fn follow_logs(
        &self,
        function: &FunctionRef,
        limit: Option<usize>,
    ) -> Result<LogFollow, Error> {
        let limit = limit.map(|limit| limit.to_string());
        let mut query = vec![("follow", "true")];
        query.extend(limit.as_deref().map(|limit| ("limit", limit)));
        let (bucket, name) = (function.bucket.to_string(), function.function.to_string());
        let response = self.send(self.request_with(Method::GET, &["logs", &bucket, &name], &query)).await?;
        Ok(LogFollow { url: response.url().to_string(), response, buffer: Vec::new() })
    }

    /// A request to the api path made of `segments` (each percent-encoded).
    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.request_with(method, segments, &[])
    }

    /// A request to a path with query parameters.
    fn request_with(&self, method: Method, segments: &[&str], query: &[(&str, &str)]) -> RequestBuilder {
        let mut url = self.base.clone();
        url.path_segments_mut().expect("checked in new").extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        self.http.request(method, url)
    }

    /// Sends a request; an error status becomes [`Error::Api`].
    async fn send(&self, request: RequestBuilder) -> Result<Response, Error> {
        let response = request.send().await.map_err(|e| Error::connection(self.base.as_str(), &e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let url = response.url().to_string();
        let request_id =
            response.headers().get(wire::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = response.text().await.map_err(|e| Error::connection(&url, &e))?;
        match serde_json::from_str::<ErrorResponse>(&text) {
            Ok(ErrorResponse { error: detail }) => Err(Error::Api { status, detail, request_id }),
            Err(_) => Err(Error::UnexpectedAnswer { url, status, reason: snippet(&text) }),
        }
    }

    /// Sends a request and reads its JSON answer.
    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, Error> {
        read_json(self.send(request).await?).await
    }
}

/// A followed log: newline-delimited JSON, read one call log at a time
/// (the api's keep-alive blank lines skipped).
pub struct LogFollow {
    response: Response,
    buffer: Vec<u8>,
    url: String,
}

impl LogFollow {
    /// The next call log, or `None` once the api ended the answer.
    pub async fn next(&mut self) -> Option<Result<CallLog, Error>> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(serde_json::from_slice(&line).map_err(|e| Error::UnexpectedAnswer {
                    url: self.url.clone(),
                    status: self.response.status().as_u16(),
                    reason: format!("{e} in {}", snippet(&String::from_utf8_lossy(&line))),
                }));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => return None,
                Err(err) => return Some(Err(Error::connection(&self.url, &err))),
            }
        }
    }
}

/// Anything a call can run: a function or a pipeline.
pub trait AsTarget {
    /// As a [`Target`].
    fn as_target(&self) -> Target;
}

impl AsTarget for Target {
    fn as_target(&self) -> Target {
        self.clone()
    }
}

impl AsTarget for FunctionRef {
    fn as_target(&self) -> Target {
        Target::Function(self.clone())
    }
}

impl AsTarget for PipelineName {
    fn as_target(&self) -> Target {
        Target::Pipeline(self.clone())
    }
}

fn target_bucket(target: &Target) -> String {
    match target {
        Target::Function(function) => function.bucket.to_string(),
        Target::Pipeline(_) => protocol::names::RESERVED_BUCKET.to_owned(),
    }
}

fn target_name(target: &Target) -> String {
    match target {
        Target::Function(function) => function.function.to_string(),
        Target::Pipeline(name) => name.to_string(),
    }
}

async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, Error> {
    let status = response.status().as_u16();
    let url = response.url().to_string();
    let text = response.text().await.map_err(|e| Error::connection(&url, &e))?;
    serde_json::from_str(&text).map_err(|e| Error::UnexpectedAnswer {
        url,
        status,
        reason: format!("{e} in {}", snippet(&text)),
    })
}

/// The start of a body, for an error message.
fn snippet(text: &str) -> String {
    let cut: String = text.chars().take(200).collect();
    if cut.len() < text.len() { format!("{cut:?}...") } else { format!("{cut:?}") }
}

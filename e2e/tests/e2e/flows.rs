//! Event triggers and pipelines end to end: HTTP definitions, NATS events,
//! real nats-server with JetStream, real S3, in-process services.

use std::collections::HashMap;
use std::time::Duration;

use dispatcher::FlowSettings;
use e2e::{Platform, error_code, json, test_flow_settings};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json as j};

async fn put(platform: &Platform, path: &str, body: Value) -> (StatusCode, Value) {
    json(platform.http.put(platform.url(path)).json(&body).send().await.unwrap()).await
}

async fn get(platform: &Platform, path: &str) -> (StatusCode, Value) {
    json(platform.http.get(platform.url(path)).send().await.unwrap()).await
}

async fn delete(platform: &Platform, path: &str) -> (StatusCode, Value) {
    json(platform.http.delete(platform.url(path)).send().await.unwrap()).await
}

async fn post(platform: &Platform, path: &str, body: &str) -> (StatusCode, Value) {
    json(platform.http.post(platform.url(path)).body(body.to_owned()).send().await.unwrap()).await
}

/// A NATS request with a request id; returns the reply.
async fn request(platform: &Platform, subject: &str, request_id: &str, payload: &str) -> async_nats::Message {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Faas-Request-Id", request_id);
    let request = async_nats::Request::new()
        .headers(headers)
        .payload(payload.to_owned().into())
        .timeout(Some(Duration::from_secs(15)));
    platform.client.send_request(subject.to_owned(), request).await.expect("an answer")
}

fn header(message: &async_nats::Message, name: &str) -> Option<String> {
    message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_owned())
}

async fn next(subscription: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(Duration::from_secs(15), subscription.next())
        .await
        .expect("a message in time")
        .expect("subscription open")
}

async fn platform_with(guests: &[&str]) -> Platform {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    for guest in guests {
        platform.deploy("functions", guest, guest).await;
    }
    platform
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trigger_runs_on_events_and_goes_away_without_restarts() {
    let platform = platform_with(&["hello"]).await;
    let mut done = platform.client.subscribe("greet.done").await.unwrap();
    platform.client.flush().await.unwrap();

    let spec =
        j!({"subject": "greet.requested", "function": "functions/hello", "output_subject": "greet.done"});
    let (status, body) = put(&platform, "/trigger/greet", spec).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["mode"], "sync");

    // Live as soon as the PUT answered: a NATS request gets the output...
    let reply = request(&platform, "greet.requested", "req-1", r#"{"name":"World"}"#).await;
    assert_eq!(&reply.payload[..], b"Hello World, how are you?");
    assert_eq!(header(&reply, "Faas-Status").as_deref(), Some("ok"));
    // ...and the output subject too, one hop further, with the request id.
    let out = next(&mut done).await;
    assert_eq!(&out.payload[..], b"Hello World, how are you?");
    assert_eq!(header(&out, "Faas-Request-Id").as_deref(), Some("req-1"));
    assert_eq!(header(&out, "Faas-Hops").as_deref(), Some("1"));
    assert_eq!(header(&out, "Faas-Trigger").as_deref(), Some("greet"));

    let (_, listed) = get(&platform, "/trigger").await;
    assert_eq!(listed["triggers"][0]["name"], "greet");
    assert_eq!(get(&platform, "/trigger/greet").await.1["function"], "functions/hello");

    let (status, body) = delete(&platform, "/trigger/greet").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Gone everywhere once the DELETE answered: nobody listens any more.
    let gone = platform.client.request("greet.requested", r#"{"name":"x"}"#.into()).await.unwrap_err();
    assert_eq!(gone.kind(), async_nats::RequestErrorKind::NoResponders);
    let (status, body) = get(&platform, "/trigger/greet").await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "trigger_not_found"));
    let (status, _) = delete(&platform, "/trigger/greet").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_trigger_definitions_are_refused_with_their_reason() {
    let platform = platform_with(&["hello"]).await;
    let hello = "functions/hello";
    for (spec, status, code) in [
        (
            j!({"subject": "faas.exec.functions.hello", "function": hello}),
            StatusCode::BAD_REQUEST,
            "invalid_subject",
        ),
        (j!({"subject": ">", "function": hello}), StatusCode::BAD_REQUEST, "invalid_subject"),
        (j!({"subject": "*.created", "function": hello}), StatusCode::BAD_REQUEST, "invalid_subject"),
        (
            j!({"subject": "a.*", "function": hello, "output_subject": "a.b"}),
            StatusCode::BAD_REQUEST,
            "invalid_subject",
        ),
        (
            j!({"subject": "a.b", "function": hello, "output_subject": "c.*"}),
            StatusCode::BAD_REQUEST,
            "invalid_subject",
        ),
        (
            j!({"subject": "a.b", "function": "functions/nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_function",
        ),
        (j!({"subject": "a.b", "function": "nobucket"}), StatusCode::BAD_REQUEST, "bad_request"),
        (j!({"subject": "a.b", "function": hello, "mode": "later"}), StatusCode::BAD_REQUEST, "bad_request"),
    ] {
        let (got, body) = put(&platform, "/trigger/t", spec.clone()).await;
        assert_eq!((got, error_code(&body).0), (status, code), "{spec}: {body}");
    }
    let (status, body) = put(&platform, "/trigger/bad.name", j!({"subject": "a", "function": hello})).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::BAD_REQUEST, "invalid_name"));
    assert_eq!(get(&platform, "/trigger").await.1, j!({"triggers": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_event_is_published_on_the_errors_subject() {
    let platform = platform_with(&["trap"]).await;
    let mut errors = platform.client.subscribe("faas.errors.trigger.boom").await.unwrap();
    platform.client.flush().await.unwrap();
    let (status, body) =
        put(&platform, "/trigger/boom", j!({"subject": "boom.now", "function": "functions/trap"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A plain publish: nobody waits for an answer, yet the failure is seen.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Faas-Request-Id", "rid-boom");
    platform.client.publish_with_headers("boom.now", headers, "x".into()).await.unwrap();
    let failure: Value = serde_json::from_slice(&next(&mut errors).await.payload).unwrap();
    assert_eq!(failure["trigger"], "boom");
    assert_eq!(failure["request_id"], "rid-boom");
    assert_eq!(failure["code"], "function_trapped");
    assert_eq!(failure["function"], "functions/trap");
    assert_eq!(failure["subject"], "boom.now");

    // A request gets the error in the exec reply format.
    let reply = request(&platform, "boom.now", "rid-2", "x").await;
    assert_eq!(header(&reply, "Faas-Status").as_deref(), Some("error"));
    assert_eq!(header(&reply, "Faas-Error-Code").as_deref(), Some("function_trapped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_async_trigger_turns_each_event_into_a_durable_job() {
    let platform = platform_with(&["hello"]).await;
    let mut out = platform.client.subscribe("orders.greeted").await.unwrap();
    platform.client.flush().await.unwrap();
    let spec = j!({"subject": "orders.created", "function": "functions/hello",
                   "output_subject": "orders.greeted", "mode": "async"});
    assert_eq!(put(&platform, "/trigger/orders", spec).await.0, StatusCode::OK);

    let reply = request(&platform, "orders.created", "rid-async", r#"{"name":"Async"}"#).await;
    let accepted: Value = serde_json::from_slice(&reply.payload).unwrap();
    let job_id = accepted["job_id"].as_str().expect("a job id").to_owned();
    let output = next(&mut out).await;
    assert_eq!(&output.payload[..], b"Hello Async, how are you?");
    assert_eq!(header(&output, "Faas-Request-Id").as_deref(), Some("rid-async"));
    let (status, record) = get(&platform, &format!("/jobs/{job_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["result"], "Hello Async, how are you?");

    // A publisher's retry (same Nats-Msg-Id) finds the job of its first try.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", "order-7");
        let request = async_nats::Request::new()
            .headers(headers)
            .payload(r#"{"name":"Once"}"#.into())
            .timeout(Some(Duration::from_secs(15)));
        let reply = platform.client.send_request("orders.created", request).await.unwrap();
        let accepted: Value = serde_json::from_slice(&reply.payload).unwrap();
        ids.push((accepted["job_id"].clone(), accepted["duplicate"].clone()));
    }
    assert_eq!(ids[0].0, ids[1].0, "one job for one message id");
    assert_eq!((&ids[0].1, &ids[1].1), (&j!(false), &j!(true)));
    assert_eq!(&next(&mut out).await.payload[..], b"Hello Once, how are you?");
    let again = tokio::time::timeout(Duration::from_millis(500), out.next()).await;
    assert!(again.is_err(), "the retried event ran twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_triggers_chain_by_subject_and_a_cycle_is_cut() {
    let platform = platform_with(&["validate", "normalize", "hello", "chatty"]).await;
    let mut out = platform.client.subscribe("chain.out").await.unwrap();
    let mut errors = platform.client.subscribe("faas.errors.trigger.*").await.unwrap();
    platform.client.flush().await.unwrap();
    for (name, subject, function, output) in [
        ("check", "chain.in", "validate", "chain.valid"),
        ("tidy", "chain.valid", "normalize", "chain.tidy"),
        ("greet", "chain.tidy", "hello", "chain.out"),
    ] {
        let spec =
            j!({"subject": subject, "function": format!("functions/{function}"), "output_subject": output});
        assert_eq!(put(&platform, &format!("/trigger/{name}"), spec).await.0, StatusCode::OK);
    }
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Faas-Request-Id", "rid-chain");
    platform.client.publish_with_headers("chain.in", headers, r#"{"name":"  wORLD "}"#.into()).await.unwrap();
    let result = next(&mut out).await;
    assert_eq!(&result.payload[..], b"Hello World, how are you?");
    assert_eq!(header(&result, "Faas-Hops").as_deref(), Some("3"));
    assert_eq!(header(&result, "Faas-Request-Id").as_deref(), Some("rid-chain"));

    // Invalid input stops the chain at its first link, loudly.
    platform.client.publish("chain.in", r#"{"name":""}"#.into()).await.unwrap();
    let failure: Value = serde_json::from_slice(&next(&mut errors).await.payload).unwrap();
    assert_eq!(
        (failure["trigger"].as_str(), failure["code"].as_str()),
        (Some("check"), Some("function_trapped"))
    );

    // Two triggers feeding each other: the hop limit ends the cycle.
    for (name, subject, output) in [("ping", "loop.a", "loop.b"), ("pong", "loop.b", "loop.a")] {
        let spec = j!({"subject": subject, "function": "functions/chatty", "output_subject": output});
        assert_eq!(put(&platform, &format!("/trigger/{name}"), spec).await.0, StatusCode::OK);
    }
    platform.client.publish("loop.a", "x".into()).await.unwrap();
    let failure: Value = serde_json::from_slice(&next(&mut errors).await.payload).unwrap();
    assert_eq!(failure["code"], "hop_limit_exceeded", "{failure}");
    // Nothing more goes round.
    let quiet = tokio::time::timeout(Duration::from_millis(500), errors.next()).await;
    assert!(quiet.is_err(), "the cycle went on: {quiet:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_dispatchers_run_each_event_once() {
    let mut platform = platform_with(&["chatty"]).await;
    platform.add_dispatcher().await;
    wait_for_trigger_followers(&platform, 2).await;
    let mut out = platform.client.subscribe("events.echoed").await.unwrap();
    platform.client.flush().await.unwrap();
    let spec =
        j!({"subject": "events.raw", "function": "functions/chatty", "output_subject": "events.echoed"});
    assert_eq!(put(&platform, "/trigger/echo", spec).await.0, StatusCode::OK);

    for i in 0..50 {
        platform.client.publish("events.raw", format!("event-{i}").into()).await.unwrap();
    }
    let mut seen = HashMap::<String, usize>::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(3), out.next()).await {
        *seen.entry(String::from_utf8_lossy(&message.payload).into_owned()).or_default() += 1;
    }
    assert_eq!(seen.len(), 50, "every event ran: {seen:?}");
    assert!(seen.values().all(|&n| n == 1), "some event ran twice: {seen:?}");

    // Both dispatchers serve their metrics, and their counts add up to the events.
    let metrics = metrics(&platform).await;
    assert_eq!(metrics.matches("faas_build_info{role=\"dispatcher\"").count(), 2, "{metrics}");
    assert_eq!(metric_sum(&metrics, "faas_trigger_events_total", "trigger=\"echo\",outcome=\"ok\""), 50);
}

/// Every dispatcher's metrics: each serves its own.
async fn metrics(platform: &Platform) -> String {
    platform.dispatcher_metrics().await
}

/// The sum of a counter's series whose labels contain `labels`.
fn metric_sum(text: &str, family: &str, labels: &str) -> u64 {
    e2e::metric_sum(text, family, labels) as u64
}

/// Waits until `n` dispatchers follow the trigger store.
async fn wait_for_trigger_followers(platform: &Platform, n: usize) {
    let js = async_nats::jetstream::new(platform.client.clone());
    for _ in 0..200 {
        if let Ok(mut stream) = js.get_stream("KV_faas-triggers").await
            && let Ok(info) = stream.info().await
            && info.state.consumer_count >= n
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} dispatchers never followed the triggers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_step_pipeline_runs_over_http_nats_and_as_a_job() {
    let platform = platform_with(&["validate", "normalize", "hello"]).await;
    let steps = j!({"steps": ["functions/validate", "functions/normalize", "functions/hello"]});
    let (status, body) = put(&platform, "/pipeline/greet", steps.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["steps"], steps["steps"]);

    let input = r#"{"name":"  ada   LOVELACE "}"#;
    let (status, body) = post(&platform, "/exec/pipeline/greet", input).await;
    assert_eq!((status, &body), (StatusCode::OK, &j!({"result": "Hello Ada Lovelace, how are you?"})));

    let reply = request(&platform, "faas.pipeline.greet", "rid-p", input).await;
    assert_eq!(&reply.payload[..], b"Hello Ada Lovelace, how are you?");
    assert_eq!(header(&reply, "Faas-Request-Id").as_deref(), Some("rid-p"));

    let (status, accepted) = post(&platform, "/async/pipeline/greet", input).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let job_url = accepted["status_url"].as_str().unwrap().to_owned();
    let mut record = Value::Null;
    for _ in 0..200 {
        record = get(&platform, &job_url).await.1;
        if record["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(record["result"], "Hello Ada Lovelace, how are you?", "{record}");
    assert_eq!(record["function"], "pipeline/greet");

    assert_eq!(get(&platform, "/pipeline").await.1["pipelines"][0]["name"], "greet");
    assert_eq!(delete(&platform, "/pipeline/greet").await.0, StatusCode::OK);
    let (status, body) = post(&platform, "/exec/pipeline/greet", input).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "pipeline_not_found"));
    let (status, body) = post(&platform, "/async/pipeline/greet", input).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "pipeline_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pipeline_failures_name_the_step() {
    let platform = platform_with(&["validate", "normalize", "trap", "hello"]).await;
    // A missing step is refused at creation, by its position.
    let (status, body) =
        put(&platform, "/pipeline/p", j!({"steps": ["functions/hello", "functions/nope"]})).await;
    let (code, message) = error_code(&body);
    assert_eq!((status, code), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_function"));
    assert!(message.contains("step 2 (functions/nope)"), "{message}");
    let (status, body) = put(&platform, "/pipeline/p", j!({"steps": []})).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::BAD_REQUEST, "bad_request"));

    let steps = j!({"steps": ["functions/normalize", "functions/trap", "functions/hello"]});
    assert_eq!(put(&platform, "/pipeline/broken", steps).await.0, StatusCode::OK);
    let (status, body) = post(&platform, "/exec/pipeline/broken", r#"{"name":"x"}"#).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"]["code"], "function_trapped");
    assert_eq!(body["error"]["step"], 2);
    assert_eq!(body["error"]["function"], "functions/trap");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("step 2 of 3 (functions/trap) failed"), "{message}");

    // Over NATS the same failure is in the headers.
    let reply = request(&platform, "faas.pipeline.broken", "rid", r#"{"name":"x"}"#).await;
    assert_eq!(header(&reply, "Faas-Error-Code").as_deref(), Some("function_trapped"));
    assert_eq!(header(&reply, "Faas-Pipeline-Step").as_deref(), Some("2"));
    assert_eq!(header(&reply, "Faas-Pipeline-Function").as_deref(), Some("functions/trap"));
    // The executors run pipelines, and count them.
    let text = platform.executor_metrics().await;
    let failed = "pipeline=\"broken\",outcome=\"function_trapped\"";
    assert_eq!(metric_sum(&text, "faas_pipeline_runs_total", failed), 2, "{text}");

    // Bad input stops at the validating first step.
    let steps = j!({"steps": ["functions/validate", "functions/hello"]});
    assert_eq!(put(&platform, "/pipeline/checked", steps).await.0, StatusCode::OK);
    let (_, body) = post(&platform, "/exec/pipeline/checked", r#"{"name":"  "}"#).await;
    assert_eq!(body["error"]["step"], 1, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trigger_subjects_and_counts_are_limited() {
    let platform = Platform::start_with_flows(FlowSettings {
        trigger_subjects: vec!["orders.>".into(), "audit.*".into()],
        max_triggers: 3,
        max_triggers_per_subject: 2,
        ..test_flow_settings()
    })
    .await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let hello = "functions/hello";
    // Reserved whatever the operator allows: NATS's own, inboxes, other platforms'.
    for (subject, rule) in [
        ("_R_.>", "starts with `$` or `_`"),
        ("$KV.faas-jobs.>", "starts with `$` or `_`"),
        ("KV.orders", "key-value and object stores"),
        ("OBJ.x", "key-value and object stores"),
        ("team1.faas.exec.*.*", "another platform's subject `<prefix>.exec.<bucket>.<function>`"),
        ("orders.faas.admin.>", "another platform's subject `<prefix>.admin.<command>`"),
        ("billing.created", "FAAS_TRIGGER_SUBJECTS: orders.>, audit.*"),
    ] {
        let (status, body) = put(&platform, "/trigger/t", j!({"subject": subject, "function": hello})).await;
        let (code, message) = error_code(&body);
        assert_eq!((status, code), (StatusCode::BAD_REQUEST, "invalid_subject"), "{subject}: {body}");
        assert!(message.contains(rule), "{subject}: {message}");
    }
    let (status, body) = put(
        &platform,
        "/trigger/t",
        j!({"subject": "orders.x", "function": hello, "output_subject": "mail.x"}),
    )
    .await;
    assert_eq!((status, error_code(&body).0), (StatusCode::BAD_REQUEST, "invalid_subject"), "{body}");

    for (name, subject) in [("one", "orders.created"), ("two", "orders.*")] {
        let (status, body) =
            put(&platform, &format!("/trigger/{name}"), j!({"subject": subject, "function": hello})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // `orders.>` would receive what both receive: a third trigger per event.
    let (status, body) =
        put(&platform, "/trigger/three", j!({"subject": "orders.>", "function": hello})).await;
    let (code, message) = error_code(&body);
    assert_eq!((status, code), (StatusCode::CONFLICT, "too_many_triggers"), "{body}");
    assert!(message.contains("FAAS_MAX_TRIGGERS_PER_SUBJECT") && message.contains("one, two"), "{message}");
    // Replacing a trigger is not one more.
    let (status, body) =
        put(&platform, "/trigger/one", j!({"subject": "orders.created", "function": hello})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        put(&platform, "/trigger/three", j!({"subject": "audit.x", "function": hello})).await.0,
        StatusCode::OK
    );
    let (status, body) = put(&platform, "/trigger/four", j!({"subject": "audit.y", "function": hello})).await;
    let (code, message) = error_code(&body);
    assert_eq!((status, code), (StatusCode::CONFLICT, "too_many_triggers"), "{body}");
    assert!(message.contains("3 triggers exist") && message.contains("FAAS_MAX_TRIGGERS"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fanning_out_cycle_runs_at_most_the_event_budget() {
    let budget = 10;
    let platform =
        Platform::start_with_flows(FlowSettings { event_budget: budget, ..test_flow_settings() }).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "chatty", "chatty").await;
    let mut outputs = platform.client.subscribe("fan.*").await.unwrap();
    let mut errors = platform.client.subscribe("faas.errors.trigger.*").await.unwrap();
    platform.client.flush().await.unwrap();
    // Two triggers on each side of a two-subject cycle: without a budget,
    // 2 + 4 + ... + 2^8 runs before the hop limit.
    for (name, subject, output) in [
        ("a1", "fan.a", "fan.b"),
        ("a2", "fan.a", "fan.b"),
        ("b1", "fan.b", "fan.a"),
        ("b2", "fan.b", "fan.a"),
    ] {
        let spec = j!({"subject": subject, "function": "functions/chatty", "output_subject": output});
        assert_eq!(put(&platform, &format!("/trigger/{name}"), spec).await.0, StatusCode::OK);
    }
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Faas-Request-Id", "rid-fan");
    platform.client.publish_with_headers("fan.a", headers, "x".into()).await.unwrap();

    let mut runs = 0;
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(2), outputs.next()).await {
        if header(&message, "Faas-Trigger").is_some() {
            assert_eq!(header(&message, "Faas-Request-Id").as_deref(), Some("rid-fan"));
            runs += 1;
        }
    }
    assert_eq!(runs, budget, "every run of the chain is one output");
    let failure: Value = serde_json::from_slice(&next(&mut errors).await.payload).unwrap();
    assert_eq!(failure["code"], "fan_out_exceeded", "{failure}");
    assert_eq!(failure["request_id"], "rid-fan");
    assert!(failure["message"].as_str().unwrap().contains("FAAS_EVENT_BUDGET"), "{failure}");
    let text = metrics(&platform).await;
    assert_eq!(metric_sum(&text, "faas_trigger_events_total", "outcome=\"ok\""), u64::from(budget), "{text}");

    // Another event has a budget of its own.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Faas-Request-Id", "rid-fan-2");
    platform.client.publish_with_headers("fan.a", headers, "y".into()).await.unwrap();
    let mut first = next(&mut outputs).await;
    while header(&first, "Faas-Trigger").is_none() {
        first = next(&mut outputs).await;
    }
    assert_eq!(&first.payload[..], b"chatty: y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_beyond_a_full_dispatcher_are_refused_and_reported() {
    let platform = Platform::start_with_flows(FlowSettings {
        trigger_concurrency: 1,
        trigger_backlog: 1,
        ..test_flow_settings()
    })
    .await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "sleepy", "sleepy").await;
    let mut done = platform.client.subscribe("nap.done").await.unwrap();
    let mut errors = platform.client.subscribe("faas.errors.trigger.nap").await.unwrap();
    platform.client.flush().await.unwrap();
    let spec = j!({"subject": "nap.now", "function": "functions/sleepy", "output_subject": "nap.done"});
    assert_eq!(put(&platform, "/trigger/nap", spec).await.0, StatusCode::OK);

    let events = 8;
    for _ in 0..events {
        platform.client.publish("nap.now", r#"{"ms":400}"#.into()).await.unwrap();
    }
    let (mut ran, mut refused) = (0, 0);
    while ran + refused < events {
        tokio::select! {
            Some(_) = done.next() => ran += 1,
            Some(failure) = errors.next() => {
                let failure: Value = serde_json::from_slice(&failure.payload).unwrap();
                assert_eq!(failure["code"], "unavailable", "{failure}");
                assert!(failure["message"].as_str().unwrap().contains("FAAS_TRIGGER_BACKLOG"), "{failure}");
                refused += 1;
            }
            () = tokio::time::sleep(Duration::from_secs(10)) => panic!("events lost: {ran} ran, {refused} refused"),
        }
    }
    assert!(ran >= 2 && refused >= 4, "{ran} ran, {refused} refused");
    let text = metrics(&platform).await;
    assert_eq!(metric_sum(&text, "faas_trigger_events_total", "outcome=\"unavailable\""), refused, "{text}");
    let dropped = "trigger=\"nap\",reason=\"unavailable\"";
    assert_eq!(metric_sum(&text, "faas_trigger_events_dropped_total", dropped), refused, "{text}");
}

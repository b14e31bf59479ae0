//! Per-call logs: every call's outcome and output, published by the
//! executor that ran it, kept in `FAAS_LOGS` and read back with
//! `GET /logs/{bucket}/{function}` (listed, or followed as NDJSON).

use std::time::Duration;

use e2e::{Platform, error_code, json};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::Value;

/// Calls `function` with `input`; returns the request id the api gave it.
async fn call(platform: &Platform, function: &str, input: &str) -> (StatusCode, String) {
    let resp = platform
        .http
        .post(platform.url(&format!("/exec/functions/{function}")))
        .body(input.to_owned())
        .send()
        .await
        .unwrap();
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    (resp.status(), id)
}

/// `GET /logs/functions/{function}{query}` once it lists `count` logs.
async fn logs(platform: &Platform, function: &str, query: &str, count: usize) -> Vec<Value> {
    let mut listed = Value::Null;
    for _ in 0..100 {
        let url = platform.url(&format!("/logs/functions/{function}{query}"));
        let (status, body) = json(platform.http.get(url).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body.as_array().is_some_and(|logs| logs.len() >= count) {
            return body.as_array().unwrap().clone();
        }
        listed = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{function} never listed {count} logs: {listed}");
}

/// Reads a followed answer's lines until one is a log `matches` accepts
/// (blank keep-alive lines skipped), within 10 s.
async fn next_log(answer: &mut reqwest::Response, buffer: &mut Vec<u8>) -> Value {
    let read = async {
        loop {
            if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return serde_json::from_slice::<Value>(&line).unwrap();
            }
            let chunk = answer.chunk().await.unwrap().expect("the answer stays open");
            buffer.extend_from_slice(&chunk);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("a log line within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_call_leaves_a_log_with_its_request_id_output_and_outcome() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "chatty", "chatty").await;
    platform.deploy("functions", "trap", "trap").await;

    let (status, id) = call(&platform, "chatty", "hi").await;
    assert_eq!(status, StatusCode::OK);
    let listed = logs(&platform, "chatty", "", 1).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let log = &listed[0];
    assert_eq!(log["request_id"], id.as_str());
    assert_eq!((log["bucket"].as_str(), log["function"].as_str()), (Some("functions"), Some("chatty")));
    assert_eq!(log["outcome"], "ok");
    assert_eq!(log["stdout"], "stdout: hi\n");
    assert_eq!(log["stderr"], "stderr: hi\n");
    assert_eq!(log["truncated"], false);
    assert_eq!(log["digest"].as_str().map(str::len), Some(64), "{log}");
    assert!(log["executor"].as_str().is_some_and(|e| !e.is_empty()), "{log}");
    assert!(log["at_ms"].as_u64().is_some() && log["duration_ms"].as_u64().is_some(), "{log}");

    // A failing call: its error code, and what it printed before failing.
    let (status, id) = call(&platform, "trap", "x").await;
    assert!(!status.is_success(), "{status}");
    let listed = logs(&platform, "trap", "", 1).await;
    assert_eq!(listed[0]["request_id"], id.as_str());
    assert_eq!(listed[0]["outcome"], serde_json::json!({"error": "function_trapped"}));
    assert!(listed[0]["stderr"].as_str().unwrap().contains("deliberate panic"), "{}", listed[0]);

    // The newest N, oldest first.
    for input in ["a", "b", "c"] {
        assert_eq!(call(&platform, "chatty", input).await.0, StatusCode::OK);
    }
    logs(&platform, "chatty", "", 4).await;
    let newest = logs(&platform, "chatty", "?limit=2", 2).await;
    let outputs: Vec<&str> = newest.iter().map(|log| log["stdout"].as_str().unwrap()).collect();
    assert_eq!(outputs, ["stdout: b\n", "stdout: c\n"]);

    // A function never deployed has no logs; bad names and limits are 400s.
    assert_eq!(logs(&platform, "nothing-here", "", 0).await, Vec::<Value>::new());
    for (path, code) in [
        ("/logs/Bad_Bucket/chatty", "invalid_name"),
        ("/logs/functions/chatty?limit=many", "bad_request"),
        ("/logs/functions/chatty?follow=maybe", "bad_request"),
    ] {
        let (status, body) = json(platform.http.get(platform.url(path)).send().await.unwrap()).await;
        assert_eq!((status, error_code(&body).0), (StatusCode::BAD_REQUEST, code), "{path}: {body}");
    }

    // Following: the newest first, then a call made after it started.
    let mut answer =
        platform.http.get(platform.url("/logs/functions/chatty?follow=true&limit=1")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["content-type"], "application/x-ndjson");
    let mut buffer = Vec::new();
    let first = next_log(&mut answer, &mut buffer).await;
    assert_eq!(first["stdout"], "stdout: c\n", "{first}");
    let (_, id) = call(&platform, "chatty", "live").await;
    let live = next_log(&mut answer, &mut buffer).await;
    assert_eq!(
        (live["request_id"].as_str(), live["stdout"].as_str()),
        (Some(id.as_str()), Some("stdout: live\n"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_are_cut_to_the_cap_and_can_be_turned_off() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    platform.call_logs.max_bytes = 10;
    platform.add_executor(4).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "chatty", "chatty").await;

    let (status, _) = call(&platform, "chatty", "a long input").await;
    assert_eq!(status, StatusCode::OK);
    let listed = logs(&platform, "chatty", "", 1).await;
    assert_eq!(
        (listed[0]["stdout"].as_str(), listed[0]["stderr"].as_str()),
        (Some("stdout: a "), Some("stderr: a "))
    );
    assert_eq!(listed[0]["truncated"], true);

    // An executor with logs off publishes none: after its call and one of
    // an executor with logs on, only the latter is kept.
    platform.stop_executors().await;
    platform.call_logs = executor::CallLogSettings { mode: executor::CallLogs::Off, ..Default::default() };
    platform.add_executor(4).await;
    let (status, silent) = call(&platform, "chatty", "silent").await;
    assert_eq!(status, StatusCode::OK);
    platform.stop_executors().await;
    platform.call_logs = executor::CallLogSettings::default();
    platform.add_executor(4).await;
    let (status, heard) = call(&platform, "chatty", "heard").await;
    assert_eq!(status, StatusCode::OK);
    let listed = logs(&platform, "chatty", "", 2).await;
    let ids: Vec<&str> = listed.iter().map(|log| log["request_id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&silent.as_str()), "{listed:?}");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[1]["request_id"], heard.as_str());
}

/// The platform's subjects, as the executors publish on them.
fn subjects(platform: &Platform) -> protocol::Subjects {
    protocol::Subjects::new(&platform.env.subject_prefix)
}

/// Messages the logs stream keeps on `function`'s log subject.
async fn stream_messages(platform: &Platform, function: &str) -> u64 {
    let js = async_nats::jetstream::new(platform.client.clone());
    let stream = js.get_stream(protocol::JetStreamNames::default().logs_stream()).await.unwrap();
    let subject = subjects(platform).call_log(&protocol::FunctionRef::new("functions", function).unwrap());
    let info = stream.info_with_subjects(subject.clone()).await.unwrap();
    let mut counts = std::pin::pin!(info);
    let mut messages = 0;
    while let Some(entry) = counts.next().await {
        let (name, count) = entry.unwrap();
        if name == subject {
            messages = count as u64;
        }
    }
    messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_calls_share_a_few_messages_and_every_log_is_read_back() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    // Long enough that concurrent calls land in one batch or few.
    platform.call_logs.flush_ms = 1000;
    platform.add_executor(8).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "chatty", "chatty").await;

    const CALLS: usize = 40;
    let calls = (0..CALLS).map(|n| {
        let platform = &platform;
        async move { call(platform, "chatty", &format!("n{n}")).await }
    });
    let mut ids = Vec::new();
    let mut input_of = std::collections::HashMap::new();
    for (n, (status, id)) in futures::future::join_all(calls).await.into_iter().enumerate() {
        assert_eq!(status, StatusCode::OK);
        input_of.insert(id.clone(), format!("n{n}"));
        ids.push(id);
    }
    let listed = logs(&platform, "chatty", "?limit=1000", CALLS).await;
    assert_eq!(listed.len(), CALLS, "{listed:?}");
    let mut read: Vec<String> =
        listed.iter().map(|log| log["request_id"].as_str().unwrap().to_owned()).collect();
    // Each log keeps its own call's output under its own call's id.
    for log in &listed {
        let input = &input_of[log["request_id"].as_str().unwrap()];
        assert_eq!(log["stdout"].as_str().unwrap(), format!("stdout: {input}\n"), "{log}");
    }
    read.sort();
    ids.sort();
    assert_eq!(read, ids, "every call's log, once");
    let messages = stream_messages(&platform, "chatty").await;
    assert!(messages >= 1 && (messages as usize) < CALLS / 2, "{messages} messages for {CALLS} calls");

    // The newest N count logs, not messages: a limit cuts through a batch.
    let newest = logs(&platform, "chatty", "?limit=7", 7).await;
    assert_eq!(newest.len(), 7);
    assert_eq!(newest.as_slice(), &listed[CALLS - 7..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_stop_publishes_the_logs_still_waiting() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    // Longer than the test: only the stop can publish them.
    platform.call_logs.flush_ms = 600_000;
    platform.add_executor(4).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "chatty", "chatty").await;

    let mut ids = Vec::new();
    for input in ["one", "two", "three"] {
        let (status, id) = call(&platform, "chatty", input).await;
        assert_eq!(status, StatusCode::OK);
        ids.push(id);
    }
    assert_eq!(logs(&platform, "chatty", "", 0).await, Vec::<Value>::new(), "still waiting in the batch");
    platform.stop_executors().await;
    let listed = logs(&platform, "chatty", "", 3).await;
    let read: Vec<&str> = listed.iter().map(|log| log["request_id"].as_str().unwrap()).collect();
    assert_eq!(read, ids, "every log, in the order the calls ended");
    assert_eq!(stream_messages(&platform, "chatty").await, 1, "one message for the three");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_log_messages_and_batches_are_read_alike() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let subject = subjects(&platform).call_log(&protocol::FunctionRef::new("functions", "old").unwrap());
    let log = |id: &str| {
        serde_json::json!({
            "at_ms": 1, "request_id": id, "bucket": "functions", "function": "old", "executor": "e",
            "outcome": "ok", "duration_ms": 1, "stdout": "out\n", "stderr": "", "truncated": false,
        })
    };
    // As executors published before batches: one object, no newline.
    let single = serde_json::to_vec(&log("r1")).unwrap();
    platform.client.publish(subject.clone(), single.into()).await.unwrap();
    // A batch: one object per line.
    let batch = format!("{}\n{}\n", log("r2"), log("r3"));
    platform.client.publish(subject.clone(), batch.into()).await.unwrap();
    platform.client.flush().await.unwrap();

    let listed = logs(&platform, "old", "", 3).await;
    let read: Vec<&str> = listed.iter().map(|log| log["request_id"].as_str().unwrap()).collect();
    assert_eq!(read, ["r1", "r2", "r3"]);
    assert_eq!(listed[0]["stdout"], "out\n");
    let newest = logs(&platform, "old", "?limit=2", 2).await;
    let read: Vec<&str> = newest.iter().map(|log| log["request_id"].as_str().unwrap()).collect();
    assert_eq!(read, ["r2", "r3"]);

    // Following: the newest, then each live message's logs in order.
    let mut answer =
        platform.http.get(platform.url("/logs/functions/old?follow=true&limit=1")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let mut buffer = Vec::new();
    assert_eq!(next_log(&mut answer, &mut buffer).await["request_id"], "r3");
    let batch = format!("{}\n{}\n", log("r4"), log("r5"));
    platform.client.publish(subject.clone(), batch.into()).await.unwrap();
    platform.client.publish(subject, serde_json::to_vec(&log("r6")).unwrap().into()).await.unwrap();
    for id in ["r4", "r5", "r6"] {
        assert_eq!(next_log(&mut answer, &mut buffer).await["request_id"], id);
    }
}

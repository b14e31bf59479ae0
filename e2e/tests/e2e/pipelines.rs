//! Pipelines on the executors: the executor that takes a run calls the
//! steps in process, from its followed copy of the definitions. What must
//! hold: a PUT or DELETE answered is what the very next run sees (on any
//! executor), each step is still a call of its own function (its
//! configuration, limits, pinned version, metrics), and failures keep their
//! format. The happy paths and the failure format are in `flows`.

use e2e::{Platform, error_code, json};
use reqwest::StatusCode;
use serde_json::{Value, json as j};

async fn put(platform: &Platform, path: &str, body: Value) -> (StatusCode, Value) {
    json(platform.http.put(platform.url(path)).json(&body).send().await.unwrap()).await
}

async fn post(platform: &Platform, path: &str, body: &str) -> (StatusCode, Value) {
    json(platform.http.post(platform.url(path)).body(body.to_owned()).send().await.unwrap()).await
}

/// A pipeline request over NATS: the reply's error code header (if any) and payload.
async fn over_nats(platform: &Platform, pipeline: &str, input: &str) -> (Option<String>, String) {
    over_nats_as(platform, pipeline, input, "rid-pipelines").await
}

/// [`over_nats`] with this request id.
async fn over_nats_as(
    platform: &Platform,
    pipeline: &str,
    input: &str,
    request_id: &str,
) -> (Option<String>, String) {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Faas-Request-Id", request_id);
    let subject = format!("faas.pipeline.{pipeline}");
    let reply = platform.client.request_with_headers(subject, headers, input.to_owned().into()).await;
    let reply = reply.expect("an answer");
    let code = reply.headers.as_ref().and_then(|h| h.get("Faas-Error-Code")).map(|v| v.as_str().to_owned());
    (code, String::from_utf8_lossy(&reply.payload).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_changed_or_deleted_pipeline_is_what_the_very_next_run_sees() {
    // Two executors: whichever takes the next run must have the change.
    let platform = Platform::start_with(2, 64 << 20).await;
    platform.create_bucket("functions").await;
    for guest in ["normalize", "hello", "format"] {
        platform.deploy("functions", guest, guest).await;
    }
    let input = r#"{"name":"  ada   LOVELACE "}"#;
    let greeting = "Hello Ada Lovelace, how are you?";
    let formatted = r#"{"message":"Hello Ada Lovelace, how are you?","words":6}"#;
    let two = j!({"steps": ["functions/normalize", "functions/hello"]});
    let three = j!({"steps": ["functions/normalize", "functions/hello", "functions/format"]});
    for round in 0..20 {
        let (steps, expected) = if round % 2 == 0 { (&two, greeting) } else { (&three, formatted) };
        let (status, body) = put(&platform, "/pipeline/greet", steps.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Over NATS first: the shortest way to an executor after the answer.
        for _ in 0..2 {
            let reply = over_nats(&platform, "greet", input).await;
            assert_eq!(reply, (None, expected.to_owned()), "round {round}");
        }
        let (status, body) = post(&platform, "/exec/pipeline/greet", input).await;
        assert_eq!((status, &body["result"]), (StatusCode::OK, &j!(expected)), "round {round}: {body}");
    }

    let resp = platform.http.delete(platform.url("/pipeline/greet")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    for _ in 0..2 {
        let (code, message) = over_nats(&platform, "greet", input).await;
        assert_eq!(code.as_deref(), Some("pipeline_not_found"), "{message}");
        let (status, body) = post(&platform, "/exec/pipeline/greet", input).await;
        assert_eq!((status, error_code(&body).0), (StatusCode::NOT_FOUND, "pipeline_not_found"), "{body}");
    }
    // A subject naming no valid pipeline is refused as such.
    let (code, message) = over_nats(&platform, "-not+a~name", input).await;
    assert_eq!(code.as_deref(), Some("invalid_name"), "{message}");
    // Defined again, it runs again at once.
    assert_eq!(put(&platform, "/pipeline/greet", two).await.0, StatusCode::OK);
    let (status, body) = post(&platform, "/exec/pipeline/greet", input).await;
    assert_eq!((status, &body["result"]), (StatusCode::OK, &j!(greeting)), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_runs_with_its_own_function_s_limits_and_is_counted_as_its_call() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    for (function, guest) in [("slow", "sleepy"), ("hello", "hello")] {
        platform.deploy("functions", function, guest).await;
    }
    let url = platform.url("/config/functions/slow");
    let (status, body) =
        json(platform.http.put(url).json(&j!({"timeout_ms": 200})).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let steps = j!({"steps": ["functions/slow", "functions/hello"]});
    assert_eq!(put(&platform, "/pipeline/slowly", steps).await.0, StatusCode::OK);
    assert_eq!(put(&platform, "/pipeline/quick", j!({"steps": ["functions/slow"]})).await.0, StatusCode::OK);

    // Step 1's own 200 ms, not the executor's 1.5 s, and the usual format.
    let (status, body) = post(&platform, "/exec/pipeline/slowly", r#"{"ms":1000}"#).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"]["code"], "function_timeout", "{body}");
    assert_eq!((&body["error"]["step"], &body["error"]["function"]), (&j!(1), &j!("functions/slow")));
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("step 1 of 2 (functions/slow) failed") && message.contains("200 ms"),
        "{message}"
    );
    let (status, body) = post(&platform, "/exec/pipeline/quick", r#"{"ms":10}"#).await;
    assert_eq!((status, &body["result"]), (StatusCode::OK, &j!("slept 10 ms")), "{body}");

    // Each step is a call of its function in the executor's metrics, and
    // the failed run stopped before step 2.
    let text = platform.executor_metrics().await;
    let calls = |labels: &str| e2e::metric_sum(&text, "faas_exec_calls_total", labels) as u64;
    assert_eq!(calls("function=\"functions/slow\",outcome=\"function_timeout\""), 1, "{text}");
    assert_eq!(calls("function=\"functions/slow\",outcome=\"ok\""), 1, "{text}");
    assert_eq!(calls("function=\"functions/hello\""), 0, "{text}");
    let runs = |labels: &str| e2e::metric_sum(&text, "faas_pipeline_runs_total", labels) as u64;
    assert_eq!(runs("pipeline=\"slowly\",outcome=\"function_timeout\""), 1, "{text}");
    assert_eq!(runs("pipeline=\"quick\",outcome=\"ok\""), 1, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pinned_step_runs_its_version_after_a_new_upload() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    let (status, first) = platform.upload("functions", "greet", stack::guests::guest_bytes("hello")).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first = first["digest"].as_str().unwrap().to_owned();
    platform.deploy("functions", "greet", "format").await;

    let pinned = j!({"steps": [format!("functions/greet@{}", &first[..12]), "functions/greet"]});
    assert_eq!(put(&platform, "/pipeline/pinned", pinned).await.0, StatusCode::OK);
    // Step 1 is the pinned hello, step 2 the current format.
    let (status, body) = post(&platform, "/exec/pipeline/pinned", r#"{"name":"Ada"}"#).await;
    let expected = r#"{"message":"Hello Ada, how are you?","words":5}"#;
    assert_eq!((status, &body["result"]), (StatusCode::OK, &j!(expected)), "{body}");
    let (code, output) = over_nats_as(&platform, "pinned", r#"{"name":"Ada"}"#, "rid-pinned").await;
    assert_eq!((code, output.as_str()), (None, expected));

    // Each step left its call's log, with the run's request id and the
    // version it ran: the pinned one, then the current one.
    let mut ran = Vec::new();
    for _ in 0..100 {
        let (status, logs) =
            json(platform.http.get(platform.url("/logs/functions/greet?limit=10")).send().await.unwrap())
                .await;
        assert_eq!(status, StatusCode::OK, "{logs}");
        ran = logs
            .as_array()
            .unwrap()
            .iter()
            .filter(|log| log["request_id"] == "rid-pinned")
            .map(|log| (log["digest"].as_str().unwrap().to_owned(), log["outcome"].clone()))
            .collect();
        if ran.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ran.len(), 2, "{ran:?}");
    assert!(ran.iter().all(|(_, outcome)| outcome == "ok"), "{ran:?}");
    assert!(ran.iter().any(|(digest, _)| *digest == first), "the pinned step ran {first}: {ran:?}");
    assert!(ran.iter().any(|(digest, _)| *digest != first), "the other step ran the current one: {ran:?}");
}

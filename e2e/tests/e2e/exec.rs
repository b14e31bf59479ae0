//! Running functions over HTTP and over plain NATS, including hostile guests.

use std::time::{Duration, Instant};

use e2e::{Platform, error_code};
use protocol::headers;
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hello_and_fibonacci_answer_like_the_original() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    platform.deploy("functions", "fibonacci", "fibonacci").await;

    let (status, body) = platform.exec("functions", "hello", r#"{"name":"World"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, serde_json::json!({"result": "Hello World, how are you?"}));

    let (status, body) = platform.exec("functions", "fibonacci", r#"{"n":10}"#).await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("55")));
    let (status, body) = platform.exec("functions", "fibonacci", "not json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["result"].as_str().unwrap().starts_with("error:"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_are_returned_on_request() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "chatty", "chatty").await;

    let (status, body) = platform.exec("functions", "chatty", "hi").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({"result": "chatty: hi"}), "no logs unless asked");

    let resp =
        platform.http.post(platform.url("/exec/functions/chatty?logs=true")).body("hi").send().await.unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"], "chatty: hi");
    assert_eq!(body["stdout"], "stdout: hi\n");
    assert_eq!(body["stderr"], "stderr: hi\n");

    let resp = platform
        .http
        .post(platform.url("/exec/functions/chatty?logs=maybe"))
        .body("hi")
        .send()
        .await
        .unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body).0, "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_and_invalid_functions_get_clear_errors() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;

    let (status, body) = platform.exec("functions", "nope", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body).0, "function_not_found");

    let (status, body) = platform.exec("no-such-bucket", "hello", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body).0, "bucket_not_found");

    let resp = platform.http.post(platform.url("/exec/Bad.Bucket/hello")).send().await.unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (code, message) = error_code(&body);
    assert_eq!(code, "invalid_name");
    assert!(message.contains("lowercase letters, digits and hyphens"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn input_over_max_payload_is_refused_with_413() {
    let platform = Platform::start().await;
    let max_payload = platform.client.server_info().max_payload;
    let input = "x".repeat(max_payload + 1);
    let (status, body) = platform.exec("functions", "hello", &input).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (code, message) = error_code(&body);
    assert_eq!(code, "payload_too_large");
    assert!(message.contains("bytes"), "the message states the limit: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn output_over_max_payload_is_refused_with_413() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    // The largest input the api lets through, whose greeting is a little longer.
    let max_input = platform.client.server_info().max_payload - 4096;
    let name = "x".repeat(max_input - r#"{"name":""}"#.len());
    let (status, body) = platform.exec("functions", "hello", &format!(r#"{{"name":"{name}"}}"#)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "output_too_large");
    assert!(message.contains("exceeds the limit"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_guests_fail_only_their_own_call() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    for guest in ["hello", "trap", "spin", "hog"] {
        platform.deploy("functions", guest, guest).await;
    }

    let hostile = async {
        tokio::join!(
            platform.exec("functions", "trap", ""),
            platform.exec("functions", "spin", ""),
            platform.exec("functions", "hog", ""),
        )
    };
    let friendly = async {
        // Runs while the spinning guest is still inside its time budget.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let answer = platform.exec("functions", "hello", r#"{"name":"Ada"}"#).await;
        (answer, started.elapsed())
    };
    let ((trap, spin, hog), ((status, body), hello_took)) = tokio::join!(hostile, friendly);

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "Hello Ada, how are you?");
    assert!(hello_took < Duration::from_millis(1_400), "hello waited for the spinner: {hello_took:?}");

    assert_eq!(trap.0, StatusCode::INTERNAL_SERVER_ERROR, "{}", trap.1);
    let (code, message) = error_code(&trap.1);
    assert_eq!(code, "function_trapped");
    assert!(message.contains("deliberate panic"), "the guest's panic message is passed on: {message}");

    assert_eq!(spin.0, StatusCode::GATEWAY_TIMEOUT, "{}", spin.1);
    assert_eq!(error_code(&spin.1).0, "function_timeout");

    assert_eq!(hog.0, StatusCode::INTERNAL_SERVER_ERROR, "{}", hog.1);
    let (code, message) = error_code(&hog.1);
    assert_eq!(code, "memory_limit_exceeded");
    assert!(message.contains("64 MiB"), "{message}");

    // And the executor still serves.
    let (status, _) = platform.exec("functions", "hello", r#"{"name":"again"}"#).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_version_takes_effect_on_the_next_call() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "greet", "hello").await;
    let (_, body) = platform.exec("functions", "greet", r#"{"name":"v"}"#).await;
    assert_eq!(body["result"], "Hello v, how are you?");

    platform.deploy("functions", "greet", "chatty").await;
    let (_, body) = platform.exec("functions", "greet", "v").await;
    assert_eq!(body["result"], "chatty: v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_nats_client_can_run_a_function() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;

    // A plain request, no headers, no api.
    let reply =
        platform.client.request("faas.exec.functions.hello", r#"{"name":"NATS"}"#.into()).await.unwrap();
    assert_eq!(&reply.payload[..], b"Hello NATS, how are you?");
    let hdrs = reply.headers.expect("status headers");
    assert_eq!(hdrs.get(headers::STATUS).unwrap().as_str(), "ok");
    assert!(hdrs.get(headers::REQUEST_ID).is_some(), "an id is assigned when the caller sent none");

    let reply = platform.client.request("faas.exec.functions.missing", "".into()).await.unwrap();
    let hdrs = reply.headers.expect("status headers");
    assert_eq!(hdrs.get(headers::STATUS).unwrap().as_str(), "error");
    assert_eq!(hdrs.get(headers::ERROR_CODE).unwrap().as_str(), "function_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_executors_share_the_work() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    let first = platform.add_executor(2).await;
    let second = platform.add_executor(2).await;
    assert_ne!(first, second);
    platform.create_bucket("functions").await;
    platform.deploy("functions", "chatty", "chatty").await;

    // Enough concurrent calls that one executor's two slots are not enough;
    // each answer names the executor that ran it.
    let calls = (0..16).map(|i| {
        let platform = &platform;
        async move {
            let resp = platform
                .http
                .post(platform.url("/exec/functions/chatty"))
                .body(format!("{i}"))
                .send()
                .await
                .unwrap();
            let executor = resp.headers().get("x-faas-executor").map(|v| v.to_str().unwrap().to_owned());
            let (status, body) = e2e::json(resp).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["result"], format!("chatty: {i}"));
            executor.expect("the executor is named")
        }
    });
    let executors: std::collections::HashSet<String> =
        futures::future::join_all(calls).await.into_iter().collect();
    assert_eq!(executors.len(), 2, "both executors served calls: {executors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_executor_means_503_at_once() {
    let mut platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    platform.stop_executors().await;

    let started = Instant::now();
    let (status, body) = platform.exec("functions", "hello", r#"{"name":"x"}"#).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "unavailable");
    assert!(message.contains("executor"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(2), "answered after {:?}", started.elapsed());

    let resp = platform.http.get(platform.url("/ready")).send().await.unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["executor"], "none running");
    assert_eq!(body["dispatcher"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_executor_leaves_the_queue_group_until_it_has_room() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    platform.add_executor_with(1, 0).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "spin", "spin").await;
    platform.deploy("functions", "hello", "hello").await;

    let spinning = platform.exec("functions", "spin", "");
    let while_full = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let started = Instant::now();
        let answer = platform.exec("functions", "hello", r#"{"name":"x"}"#).await;
        (answer, started.elapsed())
    };
    let (spin, ((status, body), took)) = tokio::join!(spinning, while_full);
    assert_eq!(spin.0, StatusCode::GATEWAY_TIMEOUT);
    // Its only slot is taken: it is out of the queue group, so NATS says at
    // once that nobody can take the call instead of queueing it blindly.
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(took < Duration::from_millis(500), "answered after {took:?}");

    // With the slot free again it has rejoined.
    let mut answered = None;
    for _ in 0..50 {
        let (status, body) = platform.exec("functions", "hello", r#"{"name":"back"}"#).await;
        if status == StatusCode::OK {
            answered = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(answered.expect("the executor rejoined")["result"], "Hello back, how are you?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopping_executor_answers_every_call_its_threads_took() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    platform.add_executor(8).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "sleepy", "sleepy").await;
    let (status, body) = platform.exec("functions", "sleepy", r#"{"ms":1}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Eight calls at once, which the server spreads over the executor's
    // call threads (one connection each); the stop comes while all run.
    let client = platform.client.clone();
    let calls = futures::future::join_all((0..8).map(|_| {
        let client = client.clone();
        async move { client.request("faas.exec.functions.sleepy", r#"{"ms":800}"#.into()).await }
    }));
    let stop = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        platform.stop_executors().await;
    };
    let (replies, ()) = tokio::join!(calls, stop);
    for reply in replies {
        let reply = reply.expect("every call taken before the stop is answered");
        assert!(reply.headers.as_ref().and_then(|h| h.get(headers::ERROR_CODE)).is_none(), "{reply:?}");
        assert_eq!(std::str::from_utf8(&reply.payload).unwrap(), "slept 800 ms");
    }
    // And it took nothing after: with no executor left, nobody answers.
    let after = client.request("faas.exec.functions.sleepy", r#"{"ms":1}"#.into()).await;
    assert!(after.is_err(), "a stopped executor answered: {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guests_see_no_environment_arguments_files_or_network() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "probe", "probe").await;
    let (status, body) = platform.exec("functions", "probe", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen: serde_json::Value = serde_json::from_str(body["result"].as_str().unwrap()).unwrap();
    assert_eq!(seen["env"], serde_json::json!([]), "no host environment variables");
    assert_eq!(seen["args"], serde_json::json!([]), "no arguments");
    assert_eq!(seen["read_dir_root"], false, "no filesystem");
    assert_eq!(seen["read_file"], false, "no filesystem");
    assert_eq!(seen["tcp_connect"], false, "no network");
    assert_eq!(seen["clock"], true, "clocks work");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_guest_blocked_in_a_host_call_times_out_at_the_limit_and_frees_its_slot() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    platform.limits.timeout_ms = 1_000;
    // One slot: the next call can only run if the timed-out one gave it back.
    platform.add_executor(1).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "sleepy", "sleepy").await;
    platform.deploy("functions", "hello", "hello").await;
    // Warm: the time measured below is the call's, not a first compile's.
    let (status, _) = platform.exec("functions", "sleepy", r#"{"ms":1}"#).await;
    assert_eq!(status, StatusCode::OK);

    let started = Instant::now();
    let (status, body) = platform.exec("functions", "sleepy", r#"{"ms":20000}"#).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "function_timeout");
    assert!(message.contains("1000 ms"), "{message}");
    assert!(took < Duration::from_millis(1_100), "answered after {took:?}, limit 1 s");

    let started = Instant::now();
    let (status, body) = platform.exec("functions", "hello", r#"{"name":"next"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(started.elapsed() < Duration::from_millis(500), "the slot was free at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logs_that_do_not_fit_in_a_message_are_cut_and_marked() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    // Logs as large as the result each: together three times a message.
    platform.limits.max_log = 1 << 20;
    platform.add_executor(1).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "chatty", "chatty").await;
    let max_payload = platform.client.server_info().max_payload;
    let input = "y".repeat(max_payload / 3);

    let started = Instant::now();
    let resp = platform
        .http
        .post(platform.url("/exec/functions/chatty?logs=true"))
        .body(input.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = e2e::json(resp).await;
    assert_eq!(status, StatusCode::OK, "{}", &body.to_string()[..200.min(body.to_string().len())]);
    assert!(started.elapsed() < Duration::from_secs(5), "answered at once, not timed out");
    assert_eq!(body["result"].as_str(), Some(format!("chatty: {input}").as_str()), "the result is whole");
    assert_eq!(body["logs_truncated"], true);
    let (stdout, stderr) = (body["stdout"].as_str().unwrap(), body["stderr"].as_str().unwrap());
    assert!(format!("stdout: {input}\n").starts_with(stdout), "stdout is cut from its end");
    assert!(format!("stderr: {input}\n").starts_with(stderr), "stderr is cut from its end");
    assert!(stdout.len() + stderr.len() + input.len() < max_payload);

    // Small logs are whole, and say so.
    let resp =
        platform.http.post(platform.url("/exec/functions/chatty?logs=true")).body("hi").send().await.unwrap();
    let (_, body) = e2e::json(resp).await;
    assert_eq!(
        (body["stdout"].as_str(), body["logs_truncated"].as_bool()),
        (Some("stdout: hi\n"), Some(false))
    );
}

//! The shipped NATS permission layout (`deploy/nats/nats-server.conf`):
//! every role works on its own user, and an outside publisher (the `app`
//! user), a compromised executor or api is refused what could take the
//! platform over: admin commands, the executors' queue group, the function
//! registry, the api tokens.

use std::time::Duration;

use async_nats::ConnectOptions;
use e2e::{NATS_USERS, Platform, json};
use reqwest::StatusCode;
use tokio::sync::mpsc;

/// A client of `user` whose server errors (permission violations) arrive
/// on the returned channel.
async fn connect_as(
    platform: &Platform,
    user: &str,
    inbox_prefix: &str,
) -> (async_nats::Client, mpsc::UnboundedReceiver<String>) {
    let (_, _, password) = NATS_USERS.iter().find(|(name, ..)| *name == user).unwrap();
    let (errors, received) = mpsc::unbounded_channel();
    let options = ConnectOptions::with_user_and_password(user.into(), (*password).into())
        .custom_inbox_prefix(inbox_prefix)
        .event_callback(move |event| {
            let errors = errors.clone();
            async move {
                if let async_nats::Event::ServerError(err) = event {
                    let _ = errors.send(err.to_string());
                }
            }
        });
    (options.connect(platform.env.nats_url.as_str()).await.unwrap(), received)
}

/// Waits for the server's permission violation naming `subject`.
async fn refused(errors: &mut mpsc::UnboundedReceiver<String>, subject: &str) {
    let wait = async {
        loop {
            let error = errors.recv().await.expect("the client is open");
            if error.to_lowercase().contains("permissions violation") && error.contains(subject) {
                return error;
            }
        }
    };
    let error = tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or_else(|_| panic!("no permission violation for {subject}"));
    assert!(error.contains(subject), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_role_works_on_its_own_user_and_the_app_user_calls_its_buckets() {
    let platform = Platform::start_secure().await;
    // The api's user may ask the services how many instances run.
    let (status, body) = json(platform.http.get(platform.url("/ready")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["executors"].as_u64(), body["dispatchers"].as_u64()), (Some(1), Some(1)), "{body}");
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;

    let (status, body) = platform.exec("functions", "hello", r#"{"name":"Secure"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "Hello Secure, how are you?");

    // A function configuration: the dispatcher writes it, executors follow
    // it and take and give back concurrency slots on their own user.
    platform.deploy("functions", "limited", "hello").await;
    let config = serde_json::json!({"env": {"GREETING": "x"}, "secrets": {"K": "v"}, "max_concurrency": 1});
    let resp =
        platform.http.put(platform.url("/config/functions/limited")).json(&config).send().await.unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for _ in 0..2 {
        let (status, body) = platform.exec("functions", "limited", r#"{"name":"Limited"}"#).await;
        assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("Hello Limited, how are you?")));
    }

    // A pipeline: executors follow the definitions and serve the pipeline
    // subject in their group on their own user.
    let steps = serde_json::json!({"steps": ["functions/limited"]});
    let resp = platform.http.put(platform.url("/pipeline/piped")).json(&steps).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = platform.http.post(platform.url("/exec/pipeline/piped")).body(r#"{"name":"Piped"}"#);
    let (status, body) = json(resp.send().await.unwrap()).await;
    assert_eq!(
        (status, body["result"].as_str()),
        (StatusCode::OK, Some("Hello Piped, how are you?")),
        "{body}"
    );

    // An async job: the api queues it, a dispatcher runs it.
    let resp = platform
        .http
        .post(platform.url("/async/functions/hello"))
        .body(r#"{"name":"Later"}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job = body["job_id"].as_str().unwrap().to_owned();
    let mut record = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, body) =
            json(platform.http.get(platform.url(&format!("/jobs/{job}"))).send().await.unwrap()).await;
        record = body;
        if record["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(record["status"], "succeeded", "{record}");

    // Call logs: the executor publishes them, the dispatcher's stream
    // keeps them, the api reads them (a direct get and an ordered consumer
    // of its own, listing and following).
    let mut logs = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, body) =
            json(platform.http.get(platform.url("/logs/functions/hello")).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        logs = body;
        if logs.as_array().is_some_and(|logs| logs.len() >= 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(logs.as_array().map(Vec::len), Some(2), "the sync call and the job: {logs}");
    assert!(logs.as_array().unwrap().iter().all(|log| log["outcome"] == "ok"), "{logs}");
    let mut followed =
        platform.http.get(platform.url("/logs/functions/hello?follow=true&limit=1")).send().await.unwrap();
    assert_eq!(followed.status(), StatusCode::OK);
    let first =
        tokio::time::timeout(Duration::from_secs(5), followed.chunk()).await.unwrap().unwrap().unwrap();
    let first: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(first["function"], "hello", "{first}");
    drop(followed);

    // The app user calls its bucket's functions over NATS, on its own inbox.
    let (app, _) = connect_as(&platform, "app", "_INBOX.app").await;
    let reply = app.request("faas.exec.functions.hello", r#"{"name":"App"}"#.into()).await.unwrap();
    assert_eq!(&reply.payload[..], b"Hello App, how are you?");

    // Tokens: the api checks, a dispatcher writes the bucket.
    let (status, created) = json(
        platform
            .http
            .post(platform.url("/tokens"))
            .json(&serde_json::json!({"name": "reader", "scopes": ["read:functions"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (token, id) = (created["token"].as_str().unwrap(), created["id"].as_str().unwrap());
    let reader = reqwest::Client::new();
    let listed = reader.get(platform.url("/bucket/functions")).bearer_auth(token).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let revoked = platform.http.delete(platform.url(&format!("/tokens/{id}"))).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let listed = reader.get(platform.url("/bucket/functions")).bearer_auth(token).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::UNAUTHORIZED);
    // A public bucket: the dispatcher writes the setting, the api (on its
    // own user) follows it and lets callers without a token in.
    let public = serde_json::json!({ "public_invoke": true });
    let resp = platform.http.patch(platform.url("/bucket/functions")).json(&public).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = reqwest::Client::new()
        .post(platform.url("/exec/functions/hello"))
        .body(r#"{"name":"Anyone"}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = json(resp).await;
    assert_eq!((status, &body["result"]), (StatusCode::OK, &"Hello Anyone, how are you?".into()), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_app_user_and_executors_cannot_take_the_platform_over() {
    let platform = Platform::start_secure().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    platform.deploy("functions", "fib", "fibonacci").await;

    let (app, mut app_errors) = connect_as(&platform, "app", "_INBOX.app").await;

    // Admin commands.
    let body = br#"{"command":"delete_bucket","bucket":"functions","force":true}"#;
    let sent = app.request("faas.admin.delete_bucket", body.as_slice().into());
    let _ = tokio::time::timeout(Duration::from_secs(1), sent).await;
    refused(&mut app_errors, "faas.admin.delete_bucket").await;

    // Joining the executors' queue group, to answer exec requests.
    let _stolen = app.queue_subscribe("faas.exec.>", "faas-executors".into()).await.unwrap();
    refused(&mut app_errors, "faas.exec.>").await;
    // Reading other callers' replies.
    let _snoop = app.subscribe("_INBOX.>").await.unwrap();
    refused(&mut app_errors, "_INBOX.>").await;

    // The registry-repoint attack: make functions/hello run fib's code by
    // writing fib's digest under hello's key.
    let registry =
        async_nats::jetstream::new(platform.client.clone()).get_key_value("faas-functions").await.unwrap();
    let fib_entry = registry.get("functions.fib").await.unwrap().expect("fib is registered");
    let hello_entry = registry.get("functions.hello").await.unwrap().expect("hello is registered");
    assert_ne!(fib_entry, hello_entry);
    let app_js = async_nats::jetstream::new(app.clone());
    let attack = app_js.publish("$KV.faas-functions.functions.hello", fib_entry.clone());
    let _ = tokio::time::timeout(Duration::from_secs(1), async { attack.await?.await }).await;
    refused(&mut app_errors, "$KV.faas-functions.functions.hello").await;

    // An executor's user may not either: one compromised executor cannot
    // repoint functions for the others, nor send admin commands.
    let (executor, mut executor_errors) = connect_as(&platform, "executor", "_INBOX").await;
    let executor_js = async_nats::jetstream::new(executor.clone());
    let attack = executor_js.publish("$KV.faas-functions.functions.hello", fib_entry.clone());
    let _ = tokio::time::timeout(Duration::from_secs(1), async { attack.await?.await }).await;
    refused(&mut executor_errors, "$KV.faas-functions.functions.hello").await;
    let sent = executor.request("faas.admin.delete_bucket", body.as_slice().into());
    let _ = tokio::time::timeout(Duration::from_secs(1), sent).await;
    refused(&mut executor_errors, "faas.admin.delete_bucket").await;
    // Nor purge the registry's stream.
    let purge = executor.request("$JS.API.STREAM.PURGE.KV_faas-functions", "".into());
    let _ = tokio::time::timeout(Duration::from_secs(1), purge).await;
    refused(&mut executor_errors, "$JS.API.STREAM.PURGE.KV_faas-functions").await;
    // Nor erase the kept call logs.
    let purge = executor.request("$JS.API.STREAM.PURGE.FAAS_LOGS", "".into());
    let _ = tokio::time::timeout(Duration::from_secs(1), purge).await;
    refused(&mut executor_errors, "$JS.API.STREAM.PURGE.FAAS_LOGS").await;
    // Nor give a function variables (or lift its limits) behind the
    // dispatcher's back.
    let config = br#"{"env":{"INJECTED":"1"}}"#;
    let attack = executor_js.publish("$KV.faas-function-config.functions.hello", config.as_slice().into());
    let _ = tokio::time::timeout(Duration::from_secs(1), async { attack.await?.await }).await;
    refused(&mut executor_errors, "$KV.faas-function-config.functions.hello").await;
    // Nor name a version of its own making.
    let forged_version = br#"{"digest":"00000000","size":1,"uploaded_at_ms":0}"#;
    let attack =
        executor_js.publish("$KV.faas-versions.functions.hello.00000000", forged_version.as_slice().into());
    let _ = tokio::time::timeout(Duration::from_secs(1), async { attack.await?.await }).await;
    refused(&mut executor_errors, "$KV.faas-versions.functions.hello.00000000").await;

    // The api's user may not join the executors' group, nor make a bucket
    // public behind the dispatcher's back.
    let (api, mut api_errors) = connect_as(&platform, "api", "_INBOX").await;
    let _stolen = api.queue_subscribe("faas.exec.>", "faas-executors".into()).await.unwrap();
    refused(&mut api_errors, "faas.exec.>").await;
    // Nor write a token of its own making (a dispatcher writes tokens), nor
    // repoint a function.
    let forged = br#"{"id":"00000000000000000000000000000000","name":"forged","scopes":["admin"],"created_at_ms":0,"secret_sha256":"0000000000000000000000000000000000000000000000000000000000000000"}"#;
    let api_js = async_nats::jetstream::new(api.clone());
    let attack = api_js.publish("$KV.faas-tokens.00000000000000000000000000000000", forged.as_slice().into());
    let _ = tokio::time::timeout(Duration::from_secs(1), async { attack.await?.await }).await;
    refused(&mut api_errors, "$KV.faas-tokens.00000000000000000000000000000000").await;
    let attack = api_js.publish("$KV.faas-functions.functions.hello", fib_entry.clone());
    let _ = tokio::time::timeout(Duration::from_secs(1), async { attack.await?.await }).await;
    refused(&mut api_errors, "$KV.faas-functions.functions.hello").await;
    let tokens =
        async_nats::jetstream::new(platform.client.clone()).get_key_value("faas-tokens").await.unwrap();
    assert_eq!(tokens.get("00000000000000000000000000000000").await.unwrap(), None);
    let attack = api_js.publish("$KV.faas-buckets.functions", br#"{"public_invoke":true}"#.as_slice().into());
    let _ = tokio::time::timeout(Duration::from_secs(1), async { attack.await?.await }).await;
    refused(&mut api_errors, "$KV.faas-buckets.functions").await;
    let anonymous = reqwest::Client::new().post(platform.url("/exec/functions/hello")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "the bucket stayed private");

    // Nothing changed: the registry, the bucket, and what hello runs.
    assert_eq!(registry.get("functions.hello").await.unwrap(), Some(hello_entry));
    let (status, body) = platform.exec("functions", "hello", r#"{"name":"Still"}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "Hello Still, how are you?");
    let reply = app.request("faas.exec.functions.hello", r#"{"name":"App"}"#.into()).await.unwrap();
    assert_eq!(&reply.payload[..], b"Hello App, how are you?");
}

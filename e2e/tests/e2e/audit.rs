//! The audit trail, end to end: every admin action is published on
//! `faas.audit.<action>` with who did it, what it was about and how it
//! went, whether it succeeded, failed, was refused for a missing scope, or
//! came from a NATS client that named no principal. Read as any NATS
//! subscriber would, against real servers, and as kept (`GET /audit`).

use std::time::Duration;

use e2e::{Platform, error_code, json};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json as j};

/// The next audit event, as JSON.
async fn next_event(events: &mut async_nats::Subscriber) -> (String, Value) {
    let message = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("an audit event within 5 s")
        .expect("the subscription is open");
    let event: Value = serde_json::from_slice(&message.payload).expect("an audit event is JSON");
    (message.subject.to_string(), event)
}

/// Asserts the next event's action (and subject), principal, target and
/// outcome.
async fn expect_event(
    events: &mut async_nats::Subscriber,
    action: &str,
    principal: (&str, &str),
    target: Value,
    outcome: Value,
) {
    let (subject, event) = next_event(events).await;
    assert_eq!(subject, format!("faas.audit.{action}"), "{event}");
    assert_eq!(event["action"], action, "{event}");
    assert_eq!(event["principal"], j!({"id": principal.0, "name": principal.1}), "{event}");
    assert_eq!(event["target"], target, "{event}");
    assert_eq!(event["outcome"], outcome, "{event}");
    assert!(event["at_ms"].as_u64().is_some_and(|at| at > 0), "{event}");
    assert!(event["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_admin_action_is_published_with_who_what_and_how_it_went() {
    let platform = Platform::start().await;
    let mut events = platform.client.subscribe("faas.audit.>").await.unwrap();
    platform.client.flush().await.unwrap();
    let admin = ("bootstrap", "bootstrap admin (FAAS_ADMIN_TOKEN)");

    platform.create_bucket("audited").await;
    expect_event(&mut events, "create_bucket", admin, j!({"bucket": "audited"}), j!("ok")).await;

    platform.deploy("audited", "hello", "hello").await;
    let hello = j!({"bucket": "audited", "function": "audited/hello"});
    expect_event(&mut events, "put_function", admin, hello.clone(), j!("ok")).await;

    // Reads are not audited: the next event is the delete's.
    let listed = platform.http.get(platform.url("/bucket/audited")).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let deleted = platform.http.delete(platform.url("/file/audited/hello")).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    expect_event(&mut events, "delete_function", admin, hello.clone(), j!("ok")).await;

    // A failing delete is audited with its error code.
    let (status, body) =
        json(platform.http.delete(platform.url("/file/audited/hello")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (code, _) = error_code(&body);
    expect_event(&mut events, "delete_function", admin, hello, j!({"error": code})).await;

    // A token: created by the admin, then used to try what it may not.
    let (status, created) = json(
        platform
            .http
            .post(platform.url("/tokens"))
            .json(&j!({"name": "ci reader", "scopes": ["read:audited"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    expect_event(&mut events, "create_token", admin, j!({"token": id}), j!("ok")).await;
    let (_, event) = {
        let reader = reqwest::Client::new();
        let token = created["token"].as_str().unwrap();
        let refused = reader.delete(platform.url("/bucket/audited")).bearer_auth(token).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        next_event(&mut events).await
    };
    assert_eq!(event["action"], "forbidden", "{event}");
    assert_eq!(event["principal"], j!({"id": id, "name": "ci reader"}), "{event}");
    assert_eq!(event["target"], j!({"route": "DELETE /bucket/audited"}), "{event}");
    assert_eq!(event["outcome"], j!({"error": "forbidden"}), "{event}");

    let revoked = platform.http.delete(platform.url(&format!("/tokens/{id}"))).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    expect_event(&mut events, "revoke_token", admin, j!({"token": id}), j!("ok")).await;

    // A NATS client that is not the api names no principal: still served
    // (NATS permissions decide who may send admin commands), audited as
    // unknown.
    let reply = platform
        .client
        .request(
            "faas.admin.delete_bucket",
            r#"{"command":"delete_bucket","bucket":"audited","force":false}"#.into(),
        )
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(reply, j!({"ok": {}}));
    expect_event(&mut events, "delete_bucket", ("unknown", "nats"), j!({"bucket": "audited"}), j!("ok"))
        .await;

    // The kept trail: the newest events, oldest first, for admins.
    let actions = [
        "create_bucket",
        "put_function",
        "delete_function",
        "delete_function",
        "create_token",
        "forbidden",
        "revoke_token",
        "delete_bucket",
    ];
    let mut kept = Vec::new();
    for _ in 0..50 {
        let (status, body) =
            json(platform.http.get(platform.url("/audit?limit=100")).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        kept = body["events"].as_array().unwrap().iter().map(|event| event["action"].clone()).collect();
        if kept.len() == actions.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kept, actions.map(Value::from), "the kept trail");
    let (_, body) = json(platform.http.get(platform.url("/audit?limit=2")).send().await.unwrap()).await;
    let newest: Vec<&Value> =
        body["events"].as_array().unwrap().iter().map(|event| &event["action"]).collect();
    assert_eq!(newest, [&j!("revoke_token"), &j!("delete_bucket")], "{body}");
    assert_eq!(body["events"][1]["principal"]["id"], "unknown", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redrive_is_audited_by_the_api_that_did_it() {
    let platform = Platform::start().await;
    platform.create_bucket("audited").await;
    platform.deploy("audited", "trap", "trap").await;
    let (status, body) =
        json(platform.http.post(platform.url("/async/audited/trap")).body("boom").send().await.unwrap())
            .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job = body["job_id"].as_str().unwrap().to_owned();
    let mut record = Value::Null;
    for _ in 0..100 {
        record = json(platform.http.get(platform.url(&format!("/jobs/{job}"))).send().await.unwrap()).await.1;
        if record["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(record["status"], "failed", "{record}");

    let mut events = platform.client.subscribe("faas.audit.>").await.unwrap();
    platform.client.flush().await.unwrap();
    let redriven = platform.http.post(platform.url(&format!("/jobs/{job}/redrive"))).send().await.unwrap();
    assert_eq!(redriven.status(), StatusCode::ACCEPTED);
    expect_event(
        &mut events,
        "redrive_job",
        ("bootstrap", "bootstrap admin (FAAS_ADMIN_TOKEN)"),
        j!({"bucket": "audited", "function": "audited/trap", "job": job}),
        j!("ok"),
    )
    .await;
}

//! The audit trail, end to end: every admin action is published on
//! `faas.audit.<action>` with who did it, what it was about and how it
//! went, whether it succeeded, failed, was refused for a missing scope, or
//! came from a NATS client that named no principal. Read as any NATS
//! subscriber would, against real servers.

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
}

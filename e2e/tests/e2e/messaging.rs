//! `wasmcloud:messaging` on a whole platform: a function publishes only
//! where its grant (or its bucket's default) allows and never on the
//! platform's own subjects; its messages carry the call's request id and
//! hop count, so a trigger on the subject runs as a link of the call's
//! chain and a function feeding itself is cut at the hop limit.

use std::time::Duration;

use e2e::{Platform, error_code, json};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json as j};

async fn put(platform: &Platform, path: &str, body: Value) -> (StatusCode, Value) {
    json(platform.http.put(platform.url(path)).json(&body).send().await.unwrap()).await
}

async fn patch(platform: &Platform, path: &str, body: Value) -> (StatusCode, Value) {
    json(platform.http.patch(platform.url(path)).json(&body).send().await.unwrap()).await
}

/// Runs `bucket/function` (the `publisher` guest) with `input` and request
/// id `rid`: status and body.
async fn publish(platform: &Platform, function: &str, rid: &str, input: Value) -> (StatusCode, Value) {
    let resp = platform
        .http
        .post(platform.url(&format!("/exec/{function}")))
        .header(protocol::http::REQUEST_ID_HEADER, rid)
        .body(input.to_string())
        .send()
        .await
        .unwrap();
    json(resp).await
}

/// The guest's answer to `input`, asserting the call itself succeeded.
async fn answer(platform: &Platform, function: &str, input: Value) -> String {
    let (status, body) = publish(platform, function, "rid-any", input).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["result"].as_str().unwrap().to_owned()
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

/// Nothing arrives on `subscription` for a while.
async fn quiet(subscription: &mut async_nats::Subscriber) {
    let got = tokio::time::timeout(Duration::from_millis(500), subscription.next()).await;
    assert!(got.is_err(), "unexpected message: {:?}", got.map(|m| m.map(|m| m.subject)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_publish_goes_only_where_granted_with_the_call_s_request_id_and_one_hop() {
    let mut platform = Platform::start_with(0, 64 << 20).await;
    platform.capability_limits.messaging_max_publishes = 3;
    platform.add_executor(4).await;
    platform.create_bucket("msg").await;
    platform.deploy("msg", "pub", "publisher").await;
    let mut created = platform.client.subscribe("orders.created").await.unwrap();
    let mut billing = platform.client.subscribe("billing.>").await.unwrap();
    // (Not the exec subject: the api's own calls of the function go there.)
    let mut platform_subjects = platform.client.subscribe("faas.admin.x").await.unwrap();
    platform.client.flush().await.unwrap();

    // Not granted: the call is refused before it runs, naming the interface.
    let (status, body) =
        publish(&platform, "msg/pub", "rid-0", j!({"subject": "orders.created", "body": "x"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (code, message) = error_code(&body);
    assert_eq!(code, "capability_not_granted");
    assert!(message.contains("wasmcloud:messaging"), "{message}");
    quiet(&mut created).await;

    // Grants on the platform's own or system subjects are refused at once.
    for pattern in ["faas.>", "faas.exec.*.*", "$JS.API.>", "_INBOX.>", ">", "*.created"] {
        let (status, body) =
            put(&platform, "/config/msg/pub", j!({"capabilities": {"messaging": {"publish": [pattern]}}}))
                .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{pattern}: {body}");
    }
    let (status, body) =
        put(&platform, "/config/msg/pub", j!({"capabilities": {"messaging": {"publish": ["orders.>"]}}}))
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Allowed: a plain subscriber gets it with the call's request id, one hop on.
    let (status, body) =
        publish(&platform, "msg/pub", "rid-msg-1", j!({"subject": "orders.created", "body": "order 7"}))
            .await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("published")), "{body}");
    let message = next(&mut created).await;
    assert_eq!(&message.payload[..], b"order 7");
    assert_eq!(header(&message, "Faas-Request-Id").as_deref(), Some("rid-msg-1"));
    assert_eq!(header(&message, "Faas-Hops").as_deref(), Some("1"));

    // Outside the grant, on platform or system subjects, or not a subject:
    // the guest sees an error and nothing is published.
    for (subject, expected) in [
        ("billing.created", "not among"),
        ("faas.exec.msg.pub", "platform subject"),
        ("faas.admin.x", "platform subject"),
        ("$JS.API.INFO", "refused"),
        ("_INBOX.x", "refused"),
        ("orders.exec.msg.pub", "refused"),
        ("orders.*", "not a NATS subject"),
        ("orders created", "not a NATS subject"),
    ] {
        let result = answer(&platform, "msg/pub", j!({"subject": subject, "body": "x"})).await;
        assert!(result.starts_with("error: ") && result.contains(expected), "{subject}: {result}");
    }
    // A reply-to must be allowed too.
    let result =
        answer(&platform, "msg/pub", j!({"subject": "orders.created", "reply_to": "billing.x", "body": "x"}))
            .await;
    assert!(result.starts_with("error: reply-to"), "{result}");
    quiet(&mut created).await;
    quiet(&mut billing).await;
    quiet(&mut platform_subjects).await;

    // A request answered by a plain responder, under the call's time.
    let mut responder = platform.client.subscribe("orders.price").await.unwrap();
    platform.client.flush().await.unwrap();
    let client = platform.client.clone();
    let serve = tokio::spawn(async move {
        let request = responder.next().await.unwrap();
        let rid = header(&request, "Faas-Request-Id").unwrap_or_default();
        client.publish(request.reply.unwrap(), format!("42 for {rid}").into()).await.unwrap();
        client.flush().await.unwrap();
    });
    let (status, body) =
        publish(&platform, "msg/pub", "rid-req", j!({"subject": "orders.price", "request": true})).await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("42 for rid-req")), "{body}");
    serve.await.unwrap();
    let result = answer(&platform, "msg/pub", j!({"subject": "orders.nobody", "request": true})).await;
    assert!(result.starts_with("error: no one answers"), "{result}");

    // At most `messaging_max_publishes` (3 here) per call.
    let result = answer(&platform, "msg/pub", j!({"subject": "orders.created", "times": 5})).await;
    assert!(result.contains("FAAS_MESSAGING_MAX_PUBLISHES"), "{result}");
    for _ in 0..3 {
        next(&mut created).await;
    }
    quiet(&mut created).await;

    let metrics = platform.executor_metrics().await;
    let publishes = e2e::metric_sum(
        &metrics,
        "faas_capability_calls_total",
        r#"capability="messaging",operation="publish""#,
    );
    let errors = e2e::metric_sum(
        &metrics,
        "faas_capability_errors_total",
        r#"capability="messaging",operation="publish""#,
    );
    assert!(publishes >= 13.0 && errors >= 10.0, "{publishes} {errors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trigger_picks_up_a_function_s_event_and_a_function_feeding_itself_is_cut() {
    let platform = Platform::start().await;
    platform.create_bucket("msg").await;
    platform.deploy("msg", "pub", "publisher").await;
    platform.deploy("msg", "hello", "hello").await;
    let grant = j!({"capabilities": {"messaging": {"publish": ["orders.>", "loop.>"]}}});
    assert_eq!(put(&platform, "/config/msg/pub", grant).await.0, StatusCode::OK);
    let mut greeted = platform.client.subscribe("orders.greeted").await.unwrap();
    let mut errors = platform.client.subscribe("faas.errors.trigger.*").await.unwrap();
    let mut looped = platform.client.subscribe("loop.me").await.unwrap();
    platform.client.flush().await.unwrap();

    let spec = j!({"subject": "orders.created", "function": "msg/hello", "output_subject": "orders.greeted"});
    let (status, body) = put(&platform, "/trigger/greet", spec).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let input = j!({"subject": "orders.created", "body": r#"{"name":"Event"}"#});
    let (status, body) = publish(&platform, "msg/pub", "rid-chain", input).await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("published")), "{body}");
    let output = next(&mut greeted).await;
    assert_eq!(&output.payload[..], b"Hello Event, how are you?");
    assert_eq!(header(&output, "Faas-Request-Id").as_deref(), Some("rid-chain"));
    assert_eq!(header(&output, "Faas-Hops").as_deref(), Some("2"), "the guest's publish was one hop");

    // A function whose event runs it again: the hop limit ends the chain.
    let spec = j!({"subject": "loop.me", "function": "msg/pub"});
    assert_eq!(put(&platform, "/trigger/again", spec).await.0, StatusCode::OK);
    let (status, body) =
        publish(&platform, "msg/pub", "rid-loop", j!({"subject": "loop.me", "repeat": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let failure: Value = serde_json::from_slice(&next(&mut errors).await.payload).unwrap();
    assert_eq!(failure["code"], "hop_limit_exceeded", "{failure}");
    assert_eq!(failure["request_id"], "rid-loop", "{failure}");
    let mut hops = Vec::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(200), looped.next()).await {
        hops.push(header(&message, "Faas-Hops").unwrap_or_default());
    }
    let expected: Vec<String> = (1..=protocol::triggers::DEFAULT_MAX_HOPS).map(|h| h.to_string()).collect();
    assert_eq!(hops, expected, "one publish per link, each one hop further, none past the limit");
    quiet(&mut errors).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bucket_s_default_grants_apply_to_functions_without_their_own() {
    let platform = Platform::start().await;
    platform.create_bucket("dflt").await;
    platform.deploy("dflt", "pub", "publisher").await;
    let mut created = platform.client.subscribe("orders.created").await.unwrap();
    platform.client.flush().await.unwrap();
    let input = j!({"subject": "orders.created", "body": "from the bucket default"});
    assert_eq!(publish(&platform, "dflt/pub", "rid-1", input.clone()).await.0, StatusCode::FORBIDDEN);

    // Bad default grants are refused, on PATCH and on PUT.
    let bad = j!({"capabilities": {"messaging": {"publish": ["$JS.>"]}}});
    assert_eq!(patch(&platform, "/bucket/dflt", bad.clone()).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(put(&platform, "/bucket/dflt", bad).await.0, StatusCode::BAD_REQUEST);

    let grants = j!({"messaging": {"publish": ["orders.>"]}});
    let (status, body) = patch(&platform, "/bucket/dflt", j!({"capabilities": grants})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["capabilities"]["messaging"], grants["messaging"], "{body}");
    let listed = platform.http.get(platform.url("/bucket/dflt")).send().await.unwrap();
    let (_, listed) = json(listed).await;
    assert_eq!(listed["capabilities"]["messaging"], grants["messaging"], "{listed}");
    // Applied on the executor by the time the PATCH answered.
    let (status, body) = publish(&platform, "dflt/pub", "rid-2", input.clone()).await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("published")), "{body}");
    assert_eq!(&next(&mut created).await.payload[..], b"from the bucket default");

    // A function's own grants replace the bucket's: `{}` is nothing.
    assert_eq!(put(&platform, "/config/dflt/pub", j!({"capabilities": {}})).await.0, StatusCode::OK);
    let (status, body) = publish(&platform, "dflt/pub", "rid-3", input.clone()).await;
    assert_eq!((status, error_code(&body).0), (StatusCode::FORBIDDEN, "capability_not_granted"), "{body}");
    // Without its own, the default again; a default of nothing removes it.
    assert_eq!(put(&platform, "/config/dflt/pub", j!({})).await.0, StatusCode::OK);
    assert_eq!(publish(&platform, "dflt/pub", "rid-4", input.clone()).await.0, StatusCode::OK);
    next(&mut created).await;
    let (status, body) = patch(&platform, "/bucket/dflt", j!({"capabilities": {}})).await;
    assert_eq!((status, body.get("capabilities")), (StatusCode::OK, None), "{body}");
    assert_eq!(publish(&platform, "dflt/pub", "rid-5", input).await.0, StatusCode::FORBIDDEN);
    quiet(&mut created).await;
}

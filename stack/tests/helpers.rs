//! Checks that the test helpers themselves work, so a failing service test
//! points at the service and not at its scaffolding.

use std::time::Duration;

use faas_stack::ports::free_port;
use faas_stack::{NatsServer, S3Server};
use futures::StreamExt as _;

/// Answers requests on `subject` by echoing them with a prefix.
async fn serve_echo(client: &async_nats::Client, subject: &str) {
    let mut sub = client.subscribe(subject.to_owned()).await.unwrap();
    let replier = client.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if let Some(reply) = msg.reply {
                let mut body = b"echo: ".to_vec();
                body.extend_from_slice(&msg.payload);
                replier.publish(reply, body.into()).await.unwrap();
            }
        }
    });
    // The subscription must reach the server before anyone requests.
    client.flush().await.unwrap();
}

#[test]
fn free_ports_are_bindable_distinct_and_outside_the_ephemeral_range() {
    let ephemeral_start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768);
    let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
    let distinct: std::collections::HashSet<_> = ports.iter().collect();
    assert_eq!(distinct.len(), ports.len(), "a port handed out twice: {ports:?}");
    for &port in &ports {
        assert_ne!(port, 0);
        // Outgoing connections take their local ports from the ephemeral
        // range, so none of them can hold a port from below it.
        assert!(port < ephemeral_start || ephemeral_start <= 10_000, "{port} is in the ephemeral range");
    }
    // Held while the next is chosen: still free, because nothing else hands out these ports.
    let _held = std::net::TcpListener::bind(("127.0.0.1", ports[0])).expect("the port is free");
}

#[tokio::test]
async fn nats_request_reply_survives_stop_and_restart() {
    faas_stack::tracing::init_test_tracing();
    let mut nats = NatsServer::start().expect("nats-server starts");
    assert!(nats.url().starts_with("nats://127.0.0.1:"));

    let client = nats.connect().await;
    serve_echo(&client, "helpers.echo").await;
    let reply = client.request("helpers.echo", "hi".into()).await.expect("request/reply works");
    assert_eq!(&reply.payload[..], b"echo: hi");

    nats.stop();
    assert!(!nats.is_running());
    let refused = tokio::time::timeout(Duration::from_secs(5), async_nats::connect(nats.url()))
        .await
        .expect("a refused connection fails fast");
    assert!(refused.is_err(), "connecting to a stopped server must fail");

    nats.restart().expect("nats-server restarts");
    assert!(nats.is_running());
    let client = nats.connect().await;
    serve_echo(&client, "helpers.echo").await;
    let reply =
        client.request("helpers.echo", "again".into()).await.expect("request/reply works after restart");
    assert_eq!(&reply.payload[..], b"echo: again");
}

#[tokio::test]
async fn nats_has_jetstream() {
    let nats = NatsServer::start().unwrap();
    let js = async_nats::jetstream::new(nats.connect().await);
    let mut stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: "HELPERS".into(),
            subjects: vec!["helpers.js.>".into()],
            ..Default::default()
        })
        .await
        .expect("JetStream is enabled");
    js.publish("helpers.js.one", "x".into()).await.unwrap().await.expect("the stream acknowledges");
    assert_eq!(stream.info().await.unwrap().state.messages, 1);
}

#[tokio::test]
async fn s3_server_answers_http_and_can_restart() {
    faas_stack::install_crypto_provider();
    let mut s3 = S3Server::start().expect("S3 server starts");
    assert!(s3.root().is_dir());
    assert_eq!(s3.region(), "us-east-1");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // Unsigned requests are refused, which proves both that the server
    // answers S3 and that authentication is on.
    let resp = http.get(s3.endpoint()).send().await.expect("S3 answers");
    assert_eq!(resp.status(), reqwest::StatusCode::FORBIDDEN);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<Error>"), "an S3 error document: {body}");

    s3.stop();
    // A fresh client so no pooled connection hides the outage.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(http.get(s3.endpoint()).send().await.is_err(), "a stopped server must not answer");

    s3.restart().expect("S3 server restarts");
    let resp = http.get(s3.endpoint()).send().await.expect("S3 answers again");
    assert_eq!(resp.status(), reqwest::StatusCode::FORBIDDEN);
}

#[test]
fn nats_runs_one_go_scheduler_thread_unless_told_otherwise() {
    let server = NatsServer::start().expect("nats-server");
    let pid = server.pid().expect("running");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("the server's environment");
    let set: Vec<&[u8]> = environ.split(|b| *b == 0).filter(|v| v.starts_with(b"GOMAXPROCS=")).collect();
    let expected = faas_stack::nats::go_max_procs();
    assert_eq!(set, [format!("GOMAXPROCS={expected}").as_bytes()]);
    if std::env::var_os("GOMAXPROCS").is_none() {
        assert_eq!(expected, faas_stack::nats::SHARED_HOST_GOMAXPROCS);
        assert_eq!(expected, "1");
    }
}

#[test]
fn s3_server_outlives_a_test_runtime() {
    faas_stack::install_crypto_provider();
    let s3 = S3Server::start().unwrap();
    let endpoint = s3.endpoint();
    // One runtime ends completely before the next starts, as with
    // consecutive `#[tokio::test]` bodies sharing a server.
    for _ in 0..2 {
        let status = tokio::runtime::Runtime::new().unwrap().block_on(async {
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(&endpoint)
                .send()
                .await
                .unwrap()
                .status()
        });
        assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
    }
}

#[test]
fn guests_build_as_components() {
    // Magic, then version 0x0d and layer 1: a component, not a core module.
    const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    let path = faas_stack::guests::guest_path("hello");
    assert!(path.ends_with("hello.wasm"));
    let hello = faas_stack::guests::guest_bytes("hello");
    assert_eq!(hello[..8], COMPONENT_PREAMBLE);
    let padded = faas_stack::guests::with_custom_section(&hello, 5 << 20);
    assert_eq!(padded.len(), 5 << 20);
    assert_eq!(padded[..hello.len()], hello[..]);
}

#[test]
fn tagged_variants_append_one_custom_section_and_change_the_digest() {
    let hello = faas_stack::guests::guest_bytes("hello");
    let a = faas_stack::guests::with_tag(&hello, "a");
    assert_ne!(a, faas_stack::guests::with_tag(&hello, "b"));
    assert_eq!(&a[..hello.len()], &hello[..], "the code is untouched");
    // id 0, size 14 (one LEB128 byte), name length 12, "faas-variant", tag.
    let section = &a[hello.len()..];
    assert_eq!(&section[..3], &[0, 14, 12]);
    assert_eq!(&section[3..15], b"faas-variant");
    assert_eq!(&section[15..], b"a");
}

#[test]
fn executors_get_their_own_artifact_copies_folder_only_when_one_is_set() {
    faas_stack::install_crypto_provider();
    let s3 = S3Server::start().unwrap();
    let mut env = faas_stack::services::ServiceEnv::on_urls("nats://127.0.0.1:1".into(), &s3);
    let folder = |vars: Vec<(&str, String)>| {
        vars.into_iter().find(|(name, _)| *name == "FAAS_ARTIFACT_CACHE_DIR").map(|(_, dir)| dir)
    };
    assert_eq!(folder(env.executor()), None, "the executor's default unless set");
    env.artifact_copies_dir = Some("/data/artifact-copies".into());
    assert_eq!(folder(env.executor()).as_deref(), Some("/data/artifact-copies"));
    assert_eq!(folder(env.dispatcher()), None, "only executors keep copies");
}

//! The serving threads against a real api and a real nats-server, with the
//! test playing the executor: a plain NATS subscriber on the exec subjects
//! that answers each call with its input, after a pause.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use protocol::Subjects;
use protocol::subjects::DEFAULT_PREFIX;

struct Api {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<Result<(), api::ServeError>>,
}

async fn start_api(nats: &stack::nats::NatsServer, serve_threads: usize) -> Api {
    stack::install_crypto_provider();
    let mut config = api::ApiConfig::local(nats.url());
    config.serve_threads = serve_threads;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = nats.connect().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(api::serve(listener, config, client, async move {
        let _ = stopped.await;
    }));
    Api { addr, stop: Some(stop), served }
}

/// What the stand-in executor saw: each request's reply inbox, up to its
/// last token (one prefix per NATS connection).
#[derive(Default)]
struct Seen {
    inbox_prefixes: Mutex<Vec<String>>,
}

/// Answers every exec request with its input after `pause`.
async fn stand_in_executor(nats: &stack::nats::NatsServer, pause: Duration) -> Arc<Seen> {
    let client = nats.connect().await;
    let mut requests = client.subscribe(Subjects::new(DEFAULT_PREFIX).exec_all()).await.unwrap();
    client.flush().await.unwrap();
    let seen = Arc::new(Seen::default());
    let record = seen.clone();
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            let reply = request.reply.clone().expect("a request has a reply inbox");
            let (prefix, _) = reply.as_str().rsplit_once('.').expect("an inbox has tokens");
            record.inbox_prefixes.lock().unwrap().push(prefix.to_owned());
            let id = request
                .headers
                .as_ref()
                .and_then(|headers| headers.get(protocol::headers::REQUEST_ID))
                .map(|id| id.as_str().to_owned())
                .unwrap_or_default();
            let client = client.clone();
            tokio::spawn(async move {
                tokio::time::sleep(pause).await;
                let (headers, payload) = bus::encode_reply(&id, Ok(request.payload));
                client.publish_with_headers(reply, headers, payload).await.unwrap();
            });
        }
    });
    seen
}

/// One call over a connection of its own (a client per call).
async fn call(addr: SocketAddr, input: String) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/exec/threads/echo"))
        .body(input)
        .send()
        .await
        .expect("the api answers");
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

async fn wait_ready_nats(addr: SocketAddr) {
    for _ in 0..200 {
        let ready: serde_json::Value = match reqwest::get(format!("http://{addr}/ready")).await {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        if ready["nats"] == "connected" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the api's NATS connections never came up");
}

#[tokio::test]
async fn connections_are_spread_over_the_threads_and_each_calls_over_its_own_nats_connection() {
    let nats = stack::nats::NatsServer::start().expect("nats-server starts");
    let seen = stand_in_executor(&nats, Duration::from_millis(300)).await;
    let api = start_api(&nats, 2).await;
    wait_ready_nats(api.addr).await;

    // Both connections are open at once, so the second goes to the thread
    // with none.
    let (first, second) = tokio::join!(call(api.addr, "one".into()), call(api.addr, "two".into()));
    assert_eq!(first, (200, serde_json::json!({ "result": "one" })));
    assert_eq!(second, (200, serde_json::json!({ "result": "two" })));

    let prefixes = seen.inbox_prefixes.lock().unwrap().clone();
    assert_eq!(prefixes.len(), 2);
    let distinct: HashSet<_> = prefixes.iter().collect();
    assert_eq!(distinct.len(), 2, "both calls went over one NATS connection: {prefixes:?}");
}

#[tokio::test]
async fn a_stopping_api_answers_the_calls_in_progress_on_every_thread_then_ends() {
    let nats = stack::nats::NatsServer::start().expect("nats-server starts");
    let seen = stand_in_executor(&nats, Duration::from_millis(800)).await;
    let mut api = start_api(&nats, 2).await;
    wait_ready_nats(api.addr).await;

    let calls: Vec<_> = (0..4).map(|i| tokio::spawn(call(api.addr, format!("input {i}")))).collect();
    // Stop once every call is with the executor, on both threads.
    for _ in 0..200 {
        if seen.inbox_prefixes.lock().unwrap().len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let distinct: HashSet<_> = seen.inbox_prefixes.lock().unwrap().iter().cloned().collect();
    assert_eq!(distinct.len(), 2, "four connections on two threads use two NATS connections");
    let _ = api.stop.take().expect("not stopped yet").send(());

    for (i, answered) in calls.into_iter().enumerate() {
        let answered = answered.await.unwrap();
        assert_eq!(answered, (200, serde_json::json!({ "result": format!("input {i}") })));
    }
    let served = tokio::time::timeout(Duration::from_secs(10), &mut api.served)
        .await
        .expect("the api ends once its calls are answered");
    served.unwrap().expect("the api stops cleanly");
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(api.addr).await.is_err());
}

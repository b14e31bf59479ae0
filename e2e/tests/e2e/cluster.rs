//! Replicated state on a real three-node NATS cluster: every store has three
//! replicas, and a node killed with SIGKILL under load costs sync callers a
//! short reconnect window and the job queue nothing; the node comes back
//! and catches up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use e2e::Platform;
use futures::StreamExt as _;
use protocol::JetStreamNames;
use reqwest::StatusCode;
use serde_json::{Value, json};
use stack::NatsCluster;

/// Async jobs submitted across the kill.
const JOBS: usize = 500;

/// Longest window after the kill in which a sync call may start and fail.
const RECONNECT_LIMIT: Duration = Duration::from_secs(15);

/// The api's wait for an exec reply in the test platform
/// (`FAAS_EXEC_WAIT_SECS`): a request in flight to the dying node gets no
/// reply (NATS request/reply has no failure notice), so it fails by this
/// timeout; plus slack for a loaded machine.
const IN_FLIGHT_LIMIT: Duration = Duration::from_secs(25);

/// One sync call of the steady load.
#[derive(Debug, Clone)]
struct Call {
    started: Instant,
    ended: Instant,
    status: u16,
}

/// Every stream the platform keeps that exists now, with its info.
async fn streams(js: &jetstream::Context) -> Vec<jetstream::stream::Info> {
    let mut found = Vec::new();
    for name in JetStreamNames::default().all_streams() {
        if let Ok(mut stream) = js.get_stream(&name).await
            && let Ok(info) = stream.info().await
        {
            found.push(info.clone());
        }
    }
    found
}

/// Submits job `n` until it is accepted (a submission refused during the
/// window is sent again with the same idempotency key, so it stays one job).
async fn submit(http: &reqwest::Client, url: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let response = http
            .post(url)
            .header("Idempotency-Key", format!("cluster-job-{n}"))
            .body(format!("{{\"name\":\"job{n}\"}}"))
            .send()
            .await;
        if let Ok(response) = response
            && response.status() == StatusCode::ACCEPTED
        {
            let body: Value = response.json().await.expect("a job answer");
            return body["job_id"].as_str().expect("a job id").to_owned();
        }
        assert!(Instant::now() < deadline, "job {n} was never accepted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Retries `attempt` (an admin change over HTTP) until it answers `want`,
/// for at most 20 s; returns the last answer.
async fn until_status<F, Fut>(want: StatusCode, mut attempt: F) -> (StatusCode, String)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = reqwest::Result<reqwest::Response>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = match attempt().await {
            Ok(response) => (response.status(), response.text().await.unwrap_or_default()),
            Err(err) => (StatusCode::BAD_GATEWAY, err.to_string()),
        };
        if status == want || Instant::now() >= deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_under_load_costs_a_short_reconnect_window_and_no_job() {
    let cluster = NatsCluster::start(3).await.expect("a three-node cluster starts");
    let urls = cluster.urls();
    let mut platform = Platform::start_on_cluster(cluster, 2, 2).await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let js = jetstream::new(platform.client.clone());

    // Every store the platform created is kept on three nodes.
    let before = streams(&js).await;
    let names: Vec<&str> = before.iter().map(|info| info.config.name.as_str()).collect();
    for must in ["FAAS_JOBS", "KV_faas-jobs", "KV_faas-functions", "KV_faas-triggers", "OBJ_faas-transfer"] {
        assert!(names.contains(&must), "{must} missing from {names:?}");
    }
    for info in &before {
        assert_eq!(
            info.config.num_replicas, 3,
            "{} has {} replicas",
            info.config.name, info.config.num_replicas
        );
    }

    // The victim: the node leading the job queue, the worst one to lose.
    let jobs_info = js.get_stream("FAAS_JOBS").await.unwrap().info().await.unwrap().clone();
    let leader =
        jobs_info.cluster.as_ref().and_then(|c| c.leader.clone()).expect("the jobs stream has a leader");
    let cluster = platform.cluster.as_ref().unwrap();
    let victim = cluster.index_of(&leader).expect("the leader is a node of the cluster");
    let victim_name = format!("n{victim}");
    // The observer stays on a node that lives, so it misses no announcement.
    let observer_node = (victim + 1) % urls.len();
    let observer = async_nats::connect(&urls[observer_node]).await.unwrap();
    let mut results = observer.subscribe("faas.results.functions.hello").await.unwrap();
    observer.flush().await.unwrap();
    let announced = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let counting = {
        let announced = announced.clone();
        tokio::spawn(async move {
            while let Some(message) = results.next().await {
                let record: Value = serde_json::from_slice(&message.payload).unwrap_or_default();
                if let Some(id) = record["job_id"].as_str() {
                    *announced.lock().unwrap().entry(id.to_owned()).or_default() += 1;
                }
            }
        })
    };

    // Steady sync load: three callers, one call at a time each.
    let http = e2e::admin_http().timeout(Duration::from_secs(30)).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(Mutex::new(Vec::<Call>::new()));
    let mut load = Vec::new();
    for _ in 0..3 {
        let (http, stop, calls, url) =
            (http.clone(), stop.clone(), calls.clone(), platform.url("/exec/functions/hello"));
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let status = match http.post(&url).body(r#"{"name":"sync"}"#).send().await {
                    Ok(response) => response.status().as_u16(),
                    Err(_) => 0,
                };
                calls.lock().unwrap().push(Call { started, ended: Instant::now(), status });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    // 500 async jobs, four submitters; the node dies after half of them.
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut submitters = Vec::new();
    for _ in 0..4 {
        let (http, next, accepted, url) =
            (http.clone(), next.clone(), accepted.clone(), platform.url("/async/functions/hello"));
        submitters.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= JOBS {
                    return;
                }
                let id = submit(&http, &url, n).await;
                accepted.lock().unwrap().push(id);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    while accepted.lock().unwrap().len() < JOBS / 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let killed = Instant::now();
    platform.cluster.as_mut().unwrap().kill(victim);

    // While it is down, uploads and trigger changes work.
    let upload = || {
        let part =
            reqwest::multipart::Part::bytes(stack::guests::guest_bytes("hello")).file_name("again.wasm");
        http.post(platform.url("/file/functions/again"))
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
    };
    let (status, body) = until_status(StatusCode::CREATED, upload).await;
    assert_eq!(status, StatusCode::CREATED, "upload while a node is down: {body}");
    let spec = json!({"subject": "cluster.greet", "function": "functions/again"});
    let put_trigger = || http.put(platform.url("/trigger/greet")).json(&spec).send();
    let (status, body) = until_status(StatusCode::OK, put_trigger).await;
    assert_eq!(status, StatusCode::OK, "trigger change while a node is down: {body}");
    // The answer means the subscription exists on the dispatcher's node;
    // the observer's node learns of it over the cluster route a moment
    // later, and until then NATS answers "no responders".
    let deadline = Instant::now() + Duration::from_secs(5);
    let reply = loop {
        match observer.request("cluster.greet", r#"{"name":"trigger"}"#.into()).await {
            Ok(reply) => break reply,
            Err(err) if Instant::now() < deadline => {
                println!("trigger not reachable yet from the observer's node: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("the trigger answers: {err:?}"),
        }
    };
    assert_eq!(&reply.payload[..], b"Hello trigger, how are you?");
    let changes_done = killed.elapsed();

    // Until every job was submitted and sync calls run again for 2 s.
    for submitter in submitters {
        submitter.await.expect("every job was accepted");
    }
    loop {
        let recent_ok = calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.started > killed && c.status == 200)
            .map(|c| c.ended)
            .min()
            .is_some_and(|first| first.elapsed() > Duration::from_secs(2));
        if recent_ok {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(30), "sync calls never succeeded again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The node comes back with its store.
    let restarted = Instant::now();
    platform.cluster.as_mut().unwrap().restart(victim).expect("the node restarts");

    // Every accepted job ends, once.
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), JOBS);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut finished = 0;
    for job_id in &accepted {
        loop {
            let resp = http.get(platform.url(&format!("/jobs/{job_id}"))).send().await;
            let record = match resp {
                Ok(resp) if resp.status() == StatusCode::OK => resp.json::<Value>().await.unwrap_or_default(),
                _ => Value::Null,
            };
            if record["status"] == "succeeded" {
                finished += 1;
                break;
            }
            assert!(record["status"] != "failed", "job {job_id} failed: {record}");
            assert!(Instant::now() < deadline, "accepted job {job_id} never succeeded: {record}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(finished, JOBS);
    stop.store(true, Ordering::SeqCst);
    for caller in load {
        caller.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    counting.abort();
    let announced = announced.lock().unwrap().clone();
    let twice: Vec<_> = announced.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "jobs announced as finished more than once: {twice:?}");
    let unknown = announced.keys().filter(|id| !accepted.contains(id)).count();
    assert_eq!(unknown, 0, "announcements of jobs nobody submitted");

    // Sync callers saw errors only in the reconnect window after the kill:
    // calls started later all succeeded. A call in flight to the dying node
    // ends by the exec timeout, the only notice request/reply gives.
    let calls = calls.lock().unwrap().clone();
    let failed: Vec<&Call> = calls.iter().filter(|c| c.status != 200).collect();
    assert!(failed.iter().all(|c| c.ended >= killed), "a call failed before the kill: {failed:?}");
    let window = failed.iter().map(|c| c.started.saturating_duration_since(killed)).max().unwrap_or_default();
    assert!(
        window < RECONNECT_LIMIT,
        "sync calls started {window:?} after the kill still failed: {failed:?}"
    );
    let slowest = failed.iter().map(|c| c.ended - c.started).max().unwrap_or_default();
    assert!(slowest < IN_FLIGHT_LIMIT, "a failed sync call took {slowest:?}: {failed:?}");

    // The restarted node catches up: it holds every stream as the leaders
    // do, and the leaders count it current.
    let monitor =
        format!("{}/jsz?accounts=true&streams=true", platform.cluster.as_ref().unwrap().monitor_url(victim));
    let plain = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (caught_up, catch_up) = loop {
        let leaders = streams(&js).await;
        let held: Value = match plain.get(&monitor).send().await {
            Ok(resp) => resp.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        };
        let on_node: HashMap<String, (u64, u64)> = held["account_details"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|account| account["stream_detail"].as_array().cloned().unwrap_or_default())
            .filter_map(|s| {
                let name = s["name"].as_str()?.to_owned();
                Some((name, (s["state"]["messages"].as_u64()?, s["state"]["last_seq"].as_u64()?)))
            })
            .collect();
        let behind: Vec<String> = leaders
            .iter()
            .filter(|info| {
                let current = info
                    .cluster
                    .as_ref()
                    .is_some_and(|c| c.replicas.iter().any(|peer| peer.name == victim_name && peer.current));
                let same =
                    on_node.get(&info.config.name) == Some(&(info.state.messages, info.state.last_sequence));
                !(current && same)
            })
            .map(|info| info.config.name.clone())
            .collect();
        if behind.is_empty() {
            break (leaders.len(), restarted.elapsed());
        }
        assert!(Instant::now() < deadline, "node {victim_name} never caught up on {behind:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    eprintln!(
        "cluster: killed {victim_name} (leader of FAAS_JOBS); sync calls: {} of {} failed, reconnect window {window:?} \
         (calls started later all succeeded; slowest failure {slowest:?}); \
         upload and trigger change done {changes_done:?} after the kill; {JOBS} jobs each succeeded once \
         ({} announcements seen); node caught up on {caught_up} streams {catch_up:?} after its restart",
        failed.len(),
        calls.len(),
        announced.len(),
    );
}

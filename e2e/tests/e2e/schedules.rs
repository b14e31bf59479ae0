//! Scheduled triggers end to end: a cron schedule runs its function once per
//! tick across every dispatcher, whichever of them stops; real nats-server,
//! real S3, in-process services.

use std::collections::HashSet;
use std::time::Duration;

use e2e::{Platform, error_code, json};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json as j};
use tokio::time::Instant;

async fn put(platform: &Platform, path: &str, body: Value) -> (StatusCode, Value) {
    json(platform.http.put(platform.url(path)).json(&body).send().await.unwrap()).await
}

fn header(message: &async_nats::Message, name: &str) -> Option<String> {
    message.headers.as_ref()?.get(name).map(|v| v.as_str().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_one_second_schedule_runs_once_per_tick_across_dispatchers_even_when_one_stops() {
    let mut platform = Platform::start().await;
    platform.add_dispatcher().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let mut outputs = platform.client.subscribe("ticks.done").await.unwrap();
    let mut ticks = platform.client.subscribe("faas.schedule.every-second").await.unwrap();
    platform.client.flush().await.unwrap();

    let spec = j!({"schedule": "* * * * * *", "function": "functions/hello",
                   "input": r#"{"name":"cron"}"#, "output_subject": "ticks.done"});
    let (status, body) = put(&platform, "/trigger/every-second", spec).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["schedule"], "* * * * * *");

    // Ten seconds of ticks; one of the two dispatchers stops half-way.
    let started = Instant::now();
    let window = Duration::from_secs(10);
    let (mut runs, mut stopped_one) = (Vec::new(), false);
    while let Ok(Some(out)) = tokio::time::timeout_at(started + window, outputs.next()).await {
        assert_eq!(&out.payload[..], b"Hello cron, how are you?");
        runs.push(header(&out, "Faas-Request-Id").expect("outputs carry the tick's request id"));
        if !stopped_one && started.elapsed() > window / 2 {
            platform.stop_dispatcher().await;
            stopped_one = true;
        }
    }
    assert!(stopped_one);
    assert!((9..=11).contains(&runs.len()), "{} runs in 10 s of a 1 s schedule: {runs:?}", runs.len());
    let distinct: HashSet<_> = runs.iter().collect();
    assert_eq!(distinct.len(), runs.len(), "a tick ran twice: {runs:?}");

    // Each tick was published once, marked with its own second.
    let mut times = HashSet::new();
    while let Ok(Some(tick)) = tokio::time::timeout(Duration::from_millis(200), ticks.next()).await {
        let at = header(&tick, "Faas-Scheduled-At").expect("ticks say when they were due");
        assert!(at.ends_with(".000Z"), "ticks fall on whole seconds: {at}");
        assert!(times.insert(at.clone()), "tick {at} published twice");
    }
    assert!(times.len() >= runs.len(), "{} ticks, {} runs", times.len(), runs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_schedules_are_refused_with_their_reason() {
    let platform = Platform::start().await;
    platform.create_bucket("functions").await;
    platform.deploy("functions", "hello", "hello").await;
    let cases = [
        (j!({"schedule": "every minute", "function": "functions/hello"}), "invalid_schedule", "cron"),
        (
            j!({"schedule": "0 9 * * *", "time_zone": "Mars/Olympus", "function": "functions/hello"}),
            "invalid_schedule",
            "IANA",
        ),
        (
            j!({"schedule": "0 9 * * *", "subject": "a.b", "function": "functions/hello"}),
            "invalid_subject",
            "not both",
        ),
        (j!({"function": "functions/hello"}), "invalid_subject", "schedule"),
    ];
    for (spec, code, reason) in cases {
        let (status, body) = put(&platform, "/trigger/nightly", spec.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{spec}: {body}");
        let (got, message) = error_code(&body);
        assert_eq!(got, code, "{spec}: {body}");
        assert!(message.contains(reason), "{spec}: {message}");
    }
    let spec = j!({"schedule": "0 9 * * 1-5", "time_zone": "Europe/Paris", "function": "functions/hello"});
    let (status, body) = put(&platform, "/trigger/nightly", spec).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

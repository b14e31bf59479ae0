//! The generic acked follower against a real nats-server, followed the way
//! a new kind would follow its bucket: replay then changes, typed values
//! (a malformed one counts as removed), current only once everything was
//! applied, and a follower whose consumer vanished starts over with
//! `Restarted` and replays the last entry of every key.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv, object_store, stream};
use faas_bus::{Change, FollowedBucket, Follower, FollowerError, open_or_create};
use serde::Deserialize;
use stack::NatsServer;

/// A kind of value the platform does not have yet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Token {
    scope: String,
}

const PREFIX: &str = "faas-token-follower-";

async fn tokens(client: &async_nats::Client) -> FollowedBucket {
    let config = kv::Config { bucket: "faas-test-tokens".into(), history: 1, ..Default::default() };
    let kv = open_or_create(&jetstream::new(client.clone()), 1, config).await.unwrap();
    FollowedBucket::new(kv, PREFIX)
}

async fn put(bucket: &FollowedBucket, key: &str, json: &str) -> u64 {
    bucket.store().put(key, json.to_owned().into()).await.unwrap()
}

/// The next change, applied at once; fails the test after 15 s.
async fn next_applied(follower: &mut Follower<Token>) -> Change<Token> {
    let (change, applied) =
        tokio::time::timeout(Duration::from_secs(15), follower.next()).await.expect("no change within 15 s");
    applied.done().await;
    change
}

fn set(name: &str, scope: &str) -> String {
    format!("{:?}", Change::Set { name: name.to_owned(), value: Token { scope: scope.to_owned() } })
}

fn removed(name: &str) -> String {
    format!("{:?}", Change::<Token>::Removed { name: name.to_owned() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kind_follows_its_bucket_with_acks() {
    let nats = NatsServer::start().unwrap();
    let client = nats.connect().await;
    let bucket = tokens(&client).await;
    put(&bucket, "a", r#"{"scope":"read"}"#).await;
    put(&bucket, "b", r#"{"scope":"write"}"#).await;
    put(&bucket, "broken", "not json").await;

    let mut follower = bucket.follow::<Token>(&client).await.unwrap();
    let status = follower.status();
    assert!(!status.is_current(), "nothing was applied yet");
    let mut replay = Vec::new();
    for _ in 0..2 {
        replay.push(format!("{:?}", next_applied(&mut follower).await));
    }
    assert!(!status.is_current(), "one entry is still pending");
    let (last, applied) = follower.next().await;
    assert!(!status.is_current(), "the last entry is not applied yet");
    applied.done().await;
    assert!(status.is_current(), "everything was applied");
    replay.push(format!("{last:?}"));
    assert_eq!(replay, vec![set("a", "read"), set("b", "write"), removed("broken")]);

    // A writer waits for the ack, which comes only once the change is applied.
    let revision = put(&bucket, "a", r#"{"scope":"admin"}"#).await;
    let (change, applied) = follower.next().await;
    assert_eq!(format!("{change:?}"), set("a", "admin"));
    match bucket.wait_for_followers(revision, Duration::from_millis(300)).await {
        Err(FollowerError::Behind { followers, .. }) => {
            assert!(followers.len() == 1 && followers[0].starts_with(PREFIX), "{followers:?}")
        }
        other => panic!("expected the unacked follower to be named, got {other:?}"),
    }
    applied.done().await;
    bucket.wait_for_followers(revision, Duration::from_secs(5)).await.unwrap();

    bucket.store().delete("b").await.unwrap();
    let revision = bucket.last_revision().await.unwrap();
    assert_eq!(format!("{:?}", next_applied(&mut follower).await), removed("b"));
    bucket.wait_for_followers(revision, Duration::from_secs(5)).await.unwrap();

    // A follower that is gone (its subscription dropped) is not waited for.
    drop(follower);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let revision = put(&bucket, "c", r#"{"scope":"read"}"#).await;
    let started = Instant::now();
    bucket.wait_for_followers(revision, Duration::from_secs(5)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "waited {:?} for a dead follower", started.elapsed());
}

/// Deletes the only follower consumer of the tokens bucket, as the server
/// does when a follower stayed away longer than the inactivity limit.
async fn remove_the_consumer(nats: &NatsServer) {
    let admin = nats.connect().await;
    let stream = jetstream::new(admin.clone()).get_stream("KV_faas-test-tokens").await.unwrap();
    let names: Vec<String> = futures::TryStreamExt::try_collect(stream.consumer_names()).await.unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    stream.delete_consumer(&names[0]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_whose_consumer_vanished_in_an_outage_restarts_and_replays() {
    let mut nats = NatsServer::start().unwrap();
    let client = nats.connect().await;
    let bucket = tokens(&client).await;
    put(&bucket, "kept", r#"{"scope":"read"}"#).await;
    put(&bucket, "gone", r#"{"scope":"write"}"#).await;
    let mut follower = bucket.follow::<Token>(&client).await.unwrap();
    next_applied(&mut follower).await;
    next_applied(&mut follower).await;
    let status = follower.status();
    assert!(status.is_current());

    remove_the_consumer(&nats).await;
    nats.restart().unwrap();
    let writer = tokens(&nats.connect().await).await;
    writer.store().purge("gone").await.unwrap();
    put(&writer, "new", r#"{"scope":"admin"}"#).await;

    assert_eq!(
        format!("{:?}", next_applied(&mut follower).await),
        format!("{:?}", Change::<Token>::Restarted)
    );
    assert!(!status.is_current(), "not current before the replay is applied");
    // The last entry of every key: the purge's marker comes as a removal.
    let mut replay = Vec::new();
    for _ in 0..3 {
        replay.push(format!("{:?}", next_applied(&mut follower).await));
    }
    replay.sort();
    assert_eq!(replay, vec![removed("gone"), set("kept", "read"), set("new", "admin")]);
    assert!(status.is_current(), "current again once the replay is applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_notices_its_consumer_removed_without_an_outage() {
    let nats = NatsServer::start().unwrap();
    let client = nats.connect().await;
    let bucket = tokens(&client).await;
    put(&bucket, "kept", r#"{"scope":"read"}"#).await;
    let mut follower = bucket.follow::<Token>(&client).await.unwrap();
    next_applied(&mut follower).await;

    remove_the_consumer(&nats).await;
    let started = Instant::now();
    assert_eq!(
        format!("{:?}", next_applied(&mut follower).await),
        format!("{:?}", Change::<Token>::Restarted)
    );
    assert!(started.elapsed() < Duration::from_secs(10), "noticed after {:?}", started.elapsed());
    assert_eq!(format!("{:?}", next_applied(&mut follower).await), set("kept", "read"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_or_create_creates_once_then_opens_what_exists() {
    let nats = NatsServer::start().unwrap();
    let js = jetstream::new(nats.connect().await);

    let config = || kv::Config { bucket: "faas-test-kv".into(), history: 1, ..Default::default() };
    let created = open_or_create(&js, 1, config()).await.unwrap();
    created.put("k", "v".into()).await.unwrap();
    let opened = open_or_create(&js, 1, kv::Config { history: 5, ..config() }).await.unwrap();
    assert_eq!(opened.get("k").await.unwrap().as_deref(), Some(&b"v"[..]), "the same bucket");
    assert_eq!(opened.status().await.unwrap().history(), 1, "an existing bucket keeps its settings");

    let objects = || object_store::Config { bucket: "faas-test-objects".into(), ..Default::default() };
    open_or_create(&js, 1, objects()).await.unwrap().put("o", &mut &b"bytes"[..]).await.unwrap();
    let store = open_or_create(&js, 1, objects()).await.unwrap();
    assert!(store.get("o").await.is_ok(), "the same object store");

    let events = || stream::Config {
        name: "FAAS_TEST".into(),
        subjects: vec!["faas-test.>".into()],
        ..Default::default()
    };
    open_or_create(&js, 1, events()).await.unwrap();
    js.publish("faas-test.x", "event".into()).await.unwrap().await.unwrap();
    let mut stream = open_or_create(&js, 1, events()).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1, "the same stream");
}

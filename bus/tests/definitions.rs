//! The definition store and its feed against a real nats-server: a writer
//! that waited for the followers finds its write applied in each, a
//! follower that does not ack holds the writer up (until the timeout names
//! it), and a feed whose consumer vanished in an outage starts over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faas_bus::{Change, DefinitionError, DefinitionFeed, DefinitionStore, JetStreamLayout};
use stack::NatsServer;

type Applied = Arc<Mutex<HashMap<String, String>>>;

/// Applies every change into a map, then acks it, like a dispatcher does.
fn apply_forever(mut feed: DefinitionFeed<String>) -> Applied {
    let applied = Applied::default();
    let view = applied.clone();
    tokio::spawn(async move {
        loop {
            let (change, ack) = feed.next().await;
            match change {
                Change::Set { name, value } => {
                    view.lock().unwrap().insert(name, value);
                }
                Change::Removed { name } => {
                    view.lock().unwrap().remove(&name);
                }
                Change::Restarted => view.lock().unwrap().clear(),
            }
            ack.done().await;
        }
    });
    applied
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_applied_in_every_feed_once_the_writer_waited() {
    let nats = NatsServer::start().unwrap();
    let client = nats.connect().await;
    let store = DefinitionStore::<String>::open(&client, &JetStreamLayout::default(), "faas-test", "trigger")
        .await
        .unwrap();
    store.put("old", &"v0".to_owned()).await.unwrap();

    let (c1, c2) = (nats.connect().await, nats.connect().await);
    let a = apply_forever(store.follow(&c1).await.unwrap());
    let b = apply_forever(store.follow(&c2).await.unwrap());
    for round in 0..20 {
        let value = format!("v{round}");
        let revision = store.put("t", &value).await.unwrap();
        store.wait_for_followers(revision, Duration::from_secs(5)).await.unwrap();
        // No sleeping: applied already, in both.
        assert_eq!(a.lock().unwrap().get("t"), Some(&value), "round {round}");
        assert_eq!(b.lock().unwrap().get("t"), Some(&value), "round {round}");
    }
    assert_eq!(a.lock().unwrap().get("old").map(String::as_str), Some("v0"), "existing ones are replayed");

    let revision = store.delete("t").await.unwrap();
    store.wait_for_followers(revision, Duration::from_secs(5)).await.unwrap();
    assert!(!a.lock().unwrap().contains_key("t") && !b.lock().unwrap().contains_key("t"));
    assert!(matches!(store.delete("t").await, Err(DefinitionError::NotFound { .. })));
    assert!(matches!(store.get("t").await, Err(DefinitionError::NotFound { .. })));
    let listed = store.list().await.unwrap();
    assert_eq!(listed, vec![("old".to_owned(), "v0".to_owned())]);

    // A follower that is alive but never applies anything is named.
    let c3 = nats.connect().await;
    let _stuck = store.follow(&c3).await.unwrap();
    let revision = store.put("t", &"late".to_owned()).await.unwrap();
    match store.wait_for_followers(revision, Duration::from_millis(300)).await {
        Err(DefinitionError::FollowersBehind { followers, .. }) => {
            assert_eq!(followers.len(), 1, "{followers:?}")
        }
        other => panic!("expected the stuck follower to be named, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_whose_consumer_vanished_during_an_outage_starts_over() {
    let mut nats = NatsServer::start().unwrap();
    let client = nats.connect().await;
    let store = DefinitionStore::<String>::open(&client, &JetStreamLayout::default(), "faas-test", "trigger")
        .await
        .unwrap();
    store.put("gone", &"x".to_owned()).await.unwrap();
    let applied = apply_forever(store.follow(&client).await.unwrap());
    let revision = store.put("kept", &"y".to_owned()).await.unwrap();
    store.wait_for_followers(revision, Duration::from_secs(5)).await.unwrap();

    // What the server does to the consumer of a dispatcher that stayed away
    // longer than the inactivity limit.
    let admin = nats.connect().await;
    let stream = async_nats::jetstream::new(admin.clone()).get_stream("KV_faas-test").await.unwrap();
    let names: Vec<String> = futures::TryStreamExt::try_collect(stream.consumer_names()).await.unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    stream.delete_consumer(&names[0]).await.unwrap();
    drop(admin);
    nats.restart().unwrap();

    let writer = DefinitionStore::<String>::open(
        &nats.connect().await,
        &JetStreamLayout::default(),
        "faas-test",
        "trigger",
    )
    .await
    .unwrap();
    writer.delete("gone").await.unwrap();
    writer.put("new", &"z".to_owned()).await.unwrap();
    let started = std::time::Instant::now();
    loop {
        let view = applied.lock().unwrap().clone();
        let expected: HashMap<String, String> =
            [("kept", "y"), ("new", "z")].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        if view == expected {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the feed never started over: {view:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! The registry watch against a real nats-server: writes are visible in
//! every watch as soon as `wait_for_watchers` returns, and a watch that is
//! gone does not hold writers up.

use std::time::{Duration, Instant};

use faas_bus::{FunctionRegistry, JetStreamLayout, Lookup, RegistryError};
use protocol::{FunctionRef, FunctionVersion};
use stack::NatsServer;

fn version(digest: &str) -> FunctionVersion {
    FunctionVersion { digest: digest.into(), size: 1, world: Default::default(), aliases: Default::default() }
}

async fn until_current(watch: &faas_bus::RegistryWatch) {
    let started = Instant::now();
    while !watch.is_current() {
        assert!(started.elapsed() < Duration::from_secs(10), "the watch never became current");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Writes `version` as a dispatcher does: over the revision just read.
async fn write(
    registry: &FunctionRegistry,
    function: &FunctionRef,
    version: &FunctionVersion,
) -> Result<u64, RegistryError> {
    let (_, seen) = registry.get_at(function).await?;
    registry.replace(function, version, seen).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_is_already_in_every_watch() {
    let nats = NatsServer::start().unwrap();
    let writer = FunctionRegistry::open(&nats.connect().await, &JetStreamLayout::default()).await.unwrap();
    let hello = FunctionRef::new("functions", "hello").unwrap();
    write(&writer, &hello, &version("d0")).await.unwrap();

    // Two executors' watches, each on its own connection.
    let (c1, c2) = (nats.connect().await, nats.connect().await);
    let w1 =
        FunctionRegistry::open(&c1, &JetStreamLayout::default()).await.unwrap().watch(&c1).await.unwrap();
    let w2 =
        FunctionRegistry::open(&c2, &JetStreamLayout::default()).await.unwrap().watch(&c2).await.unwrap();
    until_current(&w1).await;
    until_current(&w2).await;
    assert_eq!(w1.lookup(&hello), Lookup::Digest("d0".into()), "existing entries are loaded");

    for round in 0..50 {
        let digest = format!("d{round}");
        let revision = write(&writer, &hello, &version(&digest)).await.unwrap();
        writer.wait_for_watchers(revision, Duration::from_secs(5)).await.unwrap();
        // No sleeping, no retry: the write must already be applied.
        assert_eq!(w1.lookup(&hello), Lookup::Digest(digest.clone()), "round {round}");
        assert_eq!(w2.lookup(&hello), Lookup::Digest(digest), "round {round}");
    }

    let revision = writer.remove(&hello).await.unwrap();
    writer.wait_for_watchers(revision, Duration::from_secs(5)).await.unwrap();
    assert_eq!(w1.lookup(&hello), Lookup::Absent);
    let other = FunctionRef::new("functions", "other").unwrap();
    let revision = write(&writer, &other, &version("x")).await.unwrap();
    writer.wait_for_watchers(revision, Duration::from_secs(5)).await.unwrap();
    let revision = writer.remove_bucket(&other.bucket).await.unwrap();
    writer.wait_for_watchers(revision, Duration::from_secs(5)).await.unwrap();
    assert_eq!(w2.lookup(&other), Lookup::Absent, "a bucket's entries go with it");

    // An executor that is gone (its connection closed) does not hold writes up.
    drop(w2);
    drop(c2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let revision = write(&writer, &hello, &version("after")).await.unwrap();
    writer.wait_for_watchers(revision, Duration::from_secs(5)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "waited {:?} for a dead watch", started.elapsed());
    assert_eq!(w1.lookup(&hello), Lookup::Digest("after".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnected_watch_is_not_trusted_until_it_has_caught_up() {
    let mut nats = NatsServer::start().unwrap();
    let client = nats.connect().await;
    let registry = FunctionRegistry::open(&client, &JetStreamLayout::default()).await.unwrap();
    let watch = registry.watch(&client).await.unwrap();
    until_current(&watch).await;

    nats.restart().unwrap();
    // Until the client has reconnected and the watch confirmed itself, it
    // answers Unknown (callers then read the registry directly).
    let started = Instant::now();
    while client.statistics().connects.load(std::sync::atomic::Ordering::Acquire) < 2 {
        assert!(started.elapsed() < Duration::from_secs(15), "the client never reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until_current(&watch).await;
    let hello = FunctionRef::new("functions", "hello").unwrap();
    let revision = write(&registry, &hello, &version("new")).await.unwrap();
    registry.wait_for_watchers(revision, Duration::from_secs(5)).await.unwrap();
    assert_eq!(watch.lookup(&hello), Lookup::Digest("new".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_whose_consumer_vanished_during_an_outage_starts_over() {
    let mut nats = NatsServer::start().unwrap();
    let client = nats.connect().await;
    let registry = FunctionRegistry::open(&client, &JetStreamLayout::default()).await.unwrap();
    let watch = registry.watch(&client).await.unwrap();
    until_current(&watch).await;

    // What the server does to the consumer of an executor that stayed away
    // longer than the inactivity limit.
    let admin = nats.connect().await;
    let stream = async_nats::jetstream::new(admin.clone()).get_stream("KV_faas-functions").await.unwrap();
    let names: Vec<String> = futures::TryStreamExt::try_collect(stream.consumer_names()).await.unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    stream.delete_consumer(&names[0]).await.unwrap();
    drop(admin);
    nats.restart().unwrap();

    let hello = FunctionRef::new("functions", "hello").unwrap();
    let writer = FunctionRegistry::open(&nats.connect().await, &JetStreamLayout::default()).await.unwrap();
    write(&writer, &hello, &version("after-outage")).await.unwrap();
    let started = Instant::now();
    while watch.lookup(&hello) != Lookup::Digest("after-outage".into()) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the watch never started over: {:?}",
            watch.lookup(&hello)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

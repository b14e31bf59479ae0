//! Conformance of the storage layer: the same answers from every S3 server.
//!
//! Runs against the local server from `stack` (s3s-fs, or RustFS when
//! `FAAS_TEST_RUSTFS_BIN` is set), or against any S3 endpoint given by
//! `S3_TEST_ENDPOINT`, `S3_TEST_ACCESS_KEY`, `S3_TEST_SECRET_KEY` and
//! `S3_TEST_REGION` (default `us-east-1`). Every test uses buckets of its own
//! with unique names and deletes them at the end, so a shared endpoint is
//! fine. Cases that need S3 versioning are skipped, with a notice, on a
//! server without it.

use std::io::Write as _;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use bytes::Bytes;
use faas_storage::{FunctionStore, S3Config, StorageError};
use protocol::{BucketName, ErrorCode, FunctionRef};
use stack::s3::S3Server;

/// The S3 service under test, and the buckets a test made there.
struct Target {
    config: S3Config,
    store: FunctionStore,
    buckets: Vec<BucketName>,
    // A local server, which must outlive the cleanup in `Drop`; fields are
    // dropped only after it.
    local: Option<S3Server>,
}

impl Target {
    fn start() -> Self {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (config, local) = match env("S3_TEST_ENDPOINT") {
            Some(endpoint) => {
                let config = S3Config {
                    endpoint,
                    access_key: env("S3_TEST_ACCESS_KEY").expect("S3_TEST_ACCESS_KEY is set"),
                    secret_key: env("S3_TEST_SECRET_KEY").expect("S3_TEST_SECRET_KEY is set"),
                    region: env("S3_TEST_REGION").unwrap_or_else(|| "us-east-1".into()),
                };
                (config, None)
            }
            None => {
                let s3 = S3Server::start().expect("the local S3 server starts");
                let config = S3Config {
                    endpoint: s3.endpoint(),
                    access_key: s3.access_key().into(),
                    secret_key: s3.secret_key().into(),
                    region: s3.region().into(),
                };
                (config, Some(s3))
            }
        };
        Self { store: FunctionStore::new(&config), config, buckets: Vec::new(), local }
    }

    /// Whether this is the in-process s3s-fs server, whose known departures
    /// from S3 the tests skip (with a notice) rather than assert.
    fn is_local_s3s_fs(&self) -> bool {
        self.local.as_ref().is_some_and(|s3| !s3.is_rustfs())
    }

    /// A bucket name no other test or run uses, registered for cleanup.
    fn bucket(&mut self, label: &str) -> BucketName {
        let name = format!("faas-conf-{label}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.adopt(BucketName::new(name).expect("a valid bucket name"))
    }

    /// Registers `bucket` for cleanup.
    fn adopt(&mut self, bucket: BucketName) -> BucketName {
        self.buckets.push(bucket.clone());
        bucket
    }

    /// A created bucket of its own.
    async fn created_bucket(&mut self, label: &str) -> BucketName {
        let bucket = self.bucket(label);
        self.store.create_bucket(&bucket).await.expect("the bucket is created");
        bucket
    }

    /// A plain S3 client, for what the platform does not do itself:
    /// versioning, and looking behind the store's back.
    fn s3(&self) -> aws_sdk_s3::Client {
        self.config.client()
    }

    /// Turns versioning on for `bucket`; false (after a notice) if the
    /// server does not support it, so the caller skips rather than fakes.
    async fn enable_versioning(&self, bucket: &BucketName, test: &str) -> bool {
        let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
        let put = self
            .s3()
            .put_bucket_versioning()
            .bucket(bucket.as_str())
            .versioning_configuration(enabled)
            .send();
        if let Err(err) = put.await {
            notice(&format!("{test}: skipped, the server does not support versioning ({})", code_of(&err)));
            return false;
        }
        let status = self.s3().get_bucket_versioning().bucket(bucket.as_str()).send().await;
        match status.ok().and_then(|s| s.status().cloned()) {
            Some(BucketVersioningStatus::Enabled) => true,
            other => {
                notice(&format!("{test}: skipped, versioning was accepted but reads back as {other:?}"));
                false
            }
        }
    }

    /// Every (key, is delete marker) version of the keys under `prefix`.
    async fn versions(&self, bucket: &BucketName, prefix: &str) -> Vec<(String, bool)> {
        let page = self
            .s3()
            .list_object_versions()
            .bucket(bucket.as_str())
            .prefix(prefix)
            .send()
            .await
            .expect("versions are listed");
        assert_ne!(page.is_truncated(), Some(true), "the tests make fewer than 1000 versions");
        let versions = page.versions().iter().map(|v| (v.key().unwrap_or_default().to_owned(), false));
        let markers = page.delete_markers().iter().map(|m| (m.key().unwrap_or_default().to_owned(), true));
        let mut all: Vec<_> = versions.chain(markers).collect();
        all.sort();
        all
    }
}

impl Drop for Target {
    /// Force-deletes the test's buckets, also when the test failed. On a
    /// fresh thread and runtime (and client): the test's runtime may be
    /// the one this runs on, blocked here.
    fn drop(&mut self) {
        let (config, buckets) = (self.config.clone(), std::mem::take(&mut self.buckets));
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let store = FunctionStore::new(&config);
                for bucket in buckets {
                    match store.delete_bucket(&bucket, true).await {
                        Ok(()) | Err(StorageError::BucketNotFound(_)) => {}
                        Err(err) => notice(&format!("cleanup: bucket {bucket} is left over: {err}")),
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A line in the test output even when the test passes (the harness
/// captures `println!`, not direct writes).
fn notice(message: &str) {
    let _ = writeln!(std::io::stderr(), "conformance: {message}");
}

fn code_of<E: aws_sdk_s3::error::ProvideErrorMetadata>(err: &E) -> String {
    err.code().unwrap_or("no code").to_owned()
}

fn function(bucket: &BucketName, name: &str) -> FunctionRef {
    FunctionRef::new(bucket.as_str(), name).expect("a valid function name")
}

/// Deterministic bytes of `len`, different per `seed`, so a mix-up shows.
fn component(len: usize, seed: u8) -> Bytes {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>().into()
}

const DIGEST: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[tokio::test]
async fn an_empty_bucket_is_created_listed_and_deleted() {
    let mut target = Target::start();
    let bucket = target.bucket("empty");
    assert!(!target.store.bucket_exists(&bucket).await.unwrap());

    target.store.create_bucket(&bucket).await.expect("created");
    assert!(target.store.bucket_exists(&bucket).await.unwrap());
    let buckets = target.store.list_buckets().await.unwrap();
    let listed = buckets.iter().find(|b| b.name == bucket.as_str()).expect("the new bucket is listed");
    assert!(listed.created.is_some(), "{listed:?}");
    assert!(
        target.store.list_functions(&bucket).await.unwrap().is_empty(),
        "a new bucket holds no functions"
    );

    target.store.delete_bucket(&bucket, false).await.expect("an empty bucket goes without force");
    assert!(!target.store.bucket_exists(&bucket).await.unwrap());
    let buckets = target.store.list_buckets().await.unwrap();
    assert!(buckets.iter().all(|b| b.name != bucket.as_str()));
}

#[tokio::test]
async fn creating_an_existing_bucket_is_bucket_exists() {
    let mut target = Target::start();
    let bucket = target.created_bucket("twice").await;
    let err = target.store.create_bucket(&bucket).await.expect_err("a second create fails");
    assert!(matches!(err, StorageError::BucketExists(_)), "{err:?}");
    assert_eq!(err.code(), ErrorCode::BucketExists);
}

#[tokio::test]
async fn creating_a_bucket_made_with_another_s3_client_is_bucket_exists() {
    let mut target = Target::start();
    let bucket = target.bucket("foreign");
    target.s3().create_bucket().bucket(bucket.as_str()).send().await.expect("S3 creates the bucket");
    let err = target.store.create_bucket(&bucket).await.expect_err("the bucket exists");
    assert!(matches!(err, StorageError::BucketExists(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_racing_creates_one_succeeds_and_one_is_bucket_exists() {
    let mut target = Target::start();
    // Two stores, as two dispatchers would have, each with its own client.
    let (first, second) = (FunctionStore::new(&target.config), FunctionStore::new(&target.config));
    for round in 0..5 {
        let bucket = target.bucket("race");
        let (a, b) = tokio::join!(first.create_bucket(&bucket), second.create_bucket(&bucket));
        let outcomes = [&a, &b];
        let created = outcomes.iter().filter(|r| r.is_ok()).count();
        let exists = outcomes.iter().filter(|r| matches!(r, Err(StorageError::BucketExists(_)))).count();
        assert_eq!((created, exists), (1, 1), "round {round}: {a:?} and {b:?}");
    }
}

#[tokio::test]
async fn functions_are_put_got_listed_replaced_and_deleted() {
    let mut target = Target::start();
    let bucket = target.created_bucket("objects").await;
    let (alpha, beta) = (function(&bucket, "alpha"), function(&bucket, "beta"));

    let info = target.store.put_function(&alpha, component(1000, 1), DIGEST).await.expect("stored");
    assert_eq!((info.name.as_str(), info.size), ("alpha", 1000));
    assert!(info.etag.as_deref().is_some_and(|e| !e.is_empty() && !e.contains('"')), "{info:?}");
    assert!(info.last_modified.is_some(), "{info:?}");
    target.store.put_function(&beta, component(2000, 2), DIGEST).await.expect("stored");
    assert_eq!(target.store.get_function(&alpha).await.unwrap(), component(1000, 1));
    assert_eq!(target.store.get_function(&beta).await.unwrap(), component(2000, 2));

    let listed = target.store.list_functions(&bucket).await.unwrap();
    let summary: Vec<_> = listed.iter().map(|f| (f.name.as_str(), f.size)).collect();
    assert_eq!(summary, [("alpha", 1000), ("beta", 2000)]);
    assert!(listed.iter().all(|f| f.etag.is_some() && f.last_modified.is_some()), "{listed:?}");

    // Uploading again replaces.
    target.store.put_function(&alpha, component(500, 3), DIGEST).await.expect("replaced");
    assert_eq!(target.store.get_function(&alpha).await.unwrap(), component(500, 3));
    let listed = target.store.list_functions(&bucket).await.unwrap();
    assert_eq!(
        listed.iter().map(|f| (f.name.as_str(), f.size)).collect::<Vec<_>>(),
        [("alpha", 500), ("beta", 2000)]
    );

    target.store.delete_function(&alpha).await.expect("deleted");
    let err = target.store.get_function(&alpha).await.expect_err("gone");
    assert!(matches!(err, StorageError::FunctionNotFound(_)), "{err:?}");
    let err = target.store.delete_function(&alpha).await.expect_err("deleting twice fails");
    assert!(matches!(err, StorageError::FunctionNotFound(_)), "{err:?}");
    let names: Vec<_> =
        target.store.list_functions(&bucket).await.unwrap().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["beta"]);
}

#[tokio::test]
async fn a_64_mib_component_round_trips_byte_identical() {
    // The platform's default upload limit; stored with one PutObject (no
    // multipart: the platform does not use it).
    let mut target = Target::start();
    let bucket = target.created_bucket("large").await;
    let large = function(&bucket, "large");
    let bytes = component(64 * 1024 * 1024, 7);
    let info = target.store.put_function(&large, bytes.clone(), DIGEST).await.expect("stored");
    assert_eq!(info.size, bytes.len() as u64);
    let back = target.store.get_function(&large).await.expect("read back");
    assert!(back == bytes, "the bytes read back differ from the bytes stored");
    let listed = target.store.list_functions(&bucket).await.unwrap();
    assert_eq!(listed[0].size, bytes.len() as u64);
}

#[tokio::test]
async fn a_function_over_the_read_limit_is_refused() {
    let mut target = Target::start();
    let bucket = target.created_bucket("limited").await;
    let f = function(&bucket, "big");
    target.store.put_function(&f, component(1000, 3), DIGEST).await.expect("stored");
    let err = target.store.clone().with_read_limit(999).get_function(&f).await.expect_err("over the limit");
    assert!(matches!(err, StorageError::TooLarge { limit: 999, .. }), "{err:?}");
    assert_eq!(err.code(), ErrorCode::PayloadTooLarge);
    let read = target.store.clone().with_read_limit(1000).get_function(&f).await.expect("at the limit");
    assert_eq!(read, component(1000, 3));
}

/// Stores, reads back, lists and deletes `names` in `bucket`, then deletes
/// the emptied bucket.
async fn round_trip_functions(store: &FunctionStore, bucket: &BucketName, names: &[String]) {
    for (seed, name) in names.iter().enumerate() {
        let f = function(bucket, name);
        store.put_function(&f, component(10, seed as u8), DIGEST).await.expect("stored");
        assert_eq!(store.get_function(&f).await.unwrap(), component(10, seed as u8));
    }
    let mut listed: Vec<_> =
        store.list_functions(bucket).await.unwrap().into_iter().map(|f| f.name).collect();
    listed.sort();
    let mut expected = names.to_vec();
    expected.sort();
    assert_eq!(listed, expected);
    for name in names {
        store.delete_function(&function(bucket, name)).await.expect("deleted");
    }
    store.delete_bucket(bucket, false).await.expect("empty again");
}

#[tokio::test]
async fn names_at_their_limits_work() {
    let mut target = Target::start();

    // 1 and 128 characters, the shortest and longest function names, with
    // every kind of character a name may have.
    let names = ["f".to_owned(), format!("A-b_9{}", "z".repeat(123))];
    assert_eq!(names[1].len(), 128);
    let bucket = target.created_bucket("names").await;
    round_trip_functions(&target.store, &bucket, &names).await;

    // 63 characters, the longest bucket name.
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let longest = target.adopt(BucketName::new(format!("faas-conf-{}", "l".repeat(21)) + &suffix).unwrap());
    assert_eq!(longest.as_str().len(), 63);
    target.store.create_bucket(&longest).await.expect("a 63-character bucket is created");
    if target.is_local_s3s_fs() {
        notice(
            "names_at_their_limits_work: a 128-character function in a 63-character bucket skipped: s3s-fs \
             names a metadata file after both (base64), past the file name limit",
        );
        round_trip_functions(&target.store, &longest, &names[..1]).await;
    } else {
        round_trip_functions(&target.store, &longest, &names).await;
    }

    // 3 characters, the shortest bucket name. Such names are few, so on a
    // shared namespace (AWS) a random one may be someone else's.
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    for attempt in 0..20 {
        let id = uuid::Uuid::new_v4();
        let name: String =
            id.as_bytes()[..3].iter().map(|b| alphabet[*b as usize % alphabet.len()] as char).collect();
        let shortest = BucketName::new(name).unwrap();
        if target.store.bucket_exists(&shortest).await.unwrap_or(true) {
            continue;
        }
        match target.store.create_bucket(&shortest).await {
            Ok(()) => {
                target.adopt(shortest.clone());
                let f = function(&shortest, "f");
                target.store.put_function(&f, component(3, 3), DIGEST).await.expect("stored");
                assert_eq!(target.store.get_function(&f).await.unwrap(), component(3, 3));
                target.store.delete_bucket(&shortest, true).await.expect("deleted");
                return;
            }
            Err(StorageError::BucketExists(_)) => continue,
            Err(err) => panic!("attempt {attempt}: creating {shortest}: {err}"),
        }
    }
    notice("names_at_their_limits_work: no free 3-character bucket name in 20 tries; that case was skipped");
}

#[tokio::test]
async fn a_bucket_with_functions_is_deleted_only_with_force() {
    let mut target = Target::start();
    let bucket = target.created_bucket("full").await;
    let hello = function(&bucket, "hello");
    target.store.put_function(&hello, component(100, 1), DIGEST).await.unwrap();

    let err = target.store.delete_bucket(&bucket, false).await.expect_err("not without force");
    assert!(matches!(err, StorageError::BucketNotEmpty(_)), "{err:?}");
    assert_eq!(err.code(), ErrorCode::BucketNotEmpty);
    assert_eq!(target.store.get_function(&hello).await.unwrap(), component(100, 1), "nothing was deleted");

    target.store.delete_bucket(&bucket, true).await.expect("force deletes");
    assert!(!target.store.bucket_exists(&bucket).await.unwrap());
}

#[tokio::test]
async fn objects_the_platform_did_not_write_keep_a_bucket_until_a_forced_delete() {
    let mut target = Target::start();
    let bucket = target.created_bucket("foreign-objects").await;
    for key in ["notes/readme.txt", "a b.json", "deep/er/than/that"] {
        target
            .s3()
            .put_object()
            .bucket(bucket.as_str())
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let err = target.store.delete_bucket(&bucket, false).await.expect_err("not without force");
    assert!(matches!(err, StorageError::BucketNotEmpty(_)), "{err:?}");
    target.store.delete_bucket(&bucket, true).await.expect("force deletes every object");
    assert!(!target.store.bucket_exists(&bucket).await.unwrap());
}

#[tokio::test]
async fn blob_data_keeps_a_bucket_until_a_forced_delete() {
    let mut target = Target::start();
    let bucket = target.created_bucket("blobs").await;
    let key = format!("{}photos/cat.jpg", protocol::capabilities::BLOB_PREFIX);
    target
        .s3()
        .put_object()
        .bucket(bucket.as_str())
        .key(&key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();

    let err = target.store.delete_bucket(&bucket, false).await.expect_err("not without force");
    assert!(matches!(err, StorageError::HoldsBlobs(_)), "{err:?}");
    assert_eq!(err.code(), ErrorCode::BucketNotEmpty);
    assert!(err.to_string().contains("blob data"), "{err}");
    let kept = target.s3().head_object().bucket(bucket.as_str()).key(&key).send().await;
    assert!(kept.is_ok(), "the refused delete removed nothing");

    target.store.delete_bucket(&bucket, true).await.expect("force deletes the blobs too");
    assert!(!target.store.bucket_exists(&bucket).await.unwrap());
}

#[tokio::test]
async fn force_deletes_a_versioned_bucket_with_old_versions_and_delete_markers() {
    let mut target = Target::start();
    let bucket = target.created_bucket("versioned").await;
    if !target.enable_versioning(&bucket, "force_deletes_a_versioned_bucket").await {
        return;
    }
    let hello = function(&bucket, "hello");
    for seed in 0..3 {
        target.store.put_function(&hello, component(100, seed), DIGEST).await.unwrap();
    }
    // A delete by another S3 client leaves a delete marker over a version.
    target
        .s3()
        .put_object()
        .bucket(bucket.as_str())
        .key("other")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    target.s3().delete_object().bucket(bucket.as_str()).key("other").send().await.unwrap();
    let versions = target.versions(&bucket, "").await;
    let of = |key: &str, marker| versions.iter().filter(|v| v.0 == key && v.1 == marker).count();
    assert_eq!((of("hello", false), of("other", false), of("other", true)), (3, 1, 1), "{versions:?}");

    target.store.delete_bucket(&bucket, true).await.expect("force deletes every version");
    assert!(!target.store.bucket_exists(&bucket).await.unwrap());
}

#[tokio::test]
async fn deleting_a_function_in_a_versioned_bucket_removes_all_its_versions() {
    let mut target = Target::start();
    let bucket = target.created_bucket("versioned-function").await;
    if !target.enable_versioning(&bucket, "deleting_a_function_in_a_versioned_bucket").await {
        return;
    }
    let (hello, neighbour) = (function(&bucket, "hello"), function(&bucket, "hello2"));
    for seed in 0..3 {
        target.store.put_function(&hello, component(100, seed), DIGEST).await.unwrap();
    }
    target.store.put_function(&neighbour, component(100, 9), DIGEST).await.unwrap();
    assert_eq!(target.versions(&bucket, "hello").await.len(), 4);

    target.store.delete_function(&hello).await.expect("deleted");
    assert_eq!(
        target.versions(&bucket, "hello").await,
        [("hello2".to_owned(), false)],
        "only the neighbour is left"
    );
    let err = target.store.get_function(&hello).await.expect_err("gone");
    assert!(matches!(err, StorageError::FunctionNotFound(_)), "{err:?}");
    assert_eq!(target.store.get_function(&neighbour).await.unwrap(), component(100, 9));

    // With its last function deleted, the bucket is empty: no force needed.
    target.store.delete_function(&neighbour).await.expect("deleted");
    target.store.delete_bucket(&bucket, false).await.expect("an emptied versioned bucket goes without force");
    assert!(!target.store.bucket_exists(&bucket).await.unwrap());
}

#[tokio::test]
async fn s3_errors_map_to_the_platform_codes() {
    let mut target = Target::start();
    let missing = target.bucket("missing");
    let in_missing = function(&missing, "hello");
    let expect_bucket_not_found = |what: &str, result: Result<(), StorageError>| match result {
        Err(err @ StorageError::BucketNotFound(_)) => assert_eq!(err.code(), ErrorCode::BucketNotFound),
        other => panic!("{what} in a missing bucket: {other:?}"),
    };
    assert!(!target.store.bucket_exists(&missing).await.unwrap());
    expect_bucket_not_found("list", target.store.list_functions(&missing).await.map(drop));
    expect_bucket_not_found("get", target.store.get_function(&in_missing).await.map(drop));
    if target.is_local_s3s_fs() {
        // The dispatcher checks that the bucket exists before a put.
        notice(
            "s3_errors_map_to_the_platform_codes: put into a missing bucket skipped: s3s-fs creates the bucket",
        );
    } else {
        let put = target.store.put_function(&in_missing, component(1, 1), DIGEST).await;
        expect_bucket_not_found("put", put.map(drop));
    }
    expect_bucket_not_found("delete function", target.store.delete_function(&in_missing).await);
    expect_bucket_not_found("delete", target.store.delete_bucket(&missing, false).await);
    expect_bucket_not_found("force delete", target.store.delete_bucket(&missing, true).await);

    let bucket = target.created_bucket("errors").await;
    let absent = function(&bucket, "absent");
    for result in
        [target.store.get_function(&absent).await.map(drop), target.store.delete_function(&absent).await]
    {
        match result {
            Err(err @ StorageError::FunctionNotFound(_)) => {
                assert_eq!(err.code(), ErrorCode::FunctionNotFound)
            }
            other => panic!("a missing function: {other:?}"),
        }
    }

    // Refused credentials and an unreachable server are storage errors.
    let wrong_secret = S3Config { secret_key: "not-the-secret".into(), ..target.config.clone() };
    let err = FunctionStore::new(&wrong_secret).list_buckets().await.expect_err("refused");
    assert!(matches!(err, StorageError::Unavailable(_)), "{err:?}");
    assert_eq!(err.code(), ErrorCode::StorageError);
    let port = stack::ports::free_port();
    let nowhere = S3Config { endpoint: format!("http://127.0.0.1:{port}"), ..target.config.clone() };
    let err = FunctionStore::new(&nowhere).bucket_exists(&bucket).await.expect_err("nothing listens");
    assert!(matches!(err, StorageError::Unavailable(_)), "{err:?}");
}

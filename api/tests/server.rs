//! The front door's limits against a real listening api (and a real
//! nats-server, with no executor or dispatcher behind it), spoken to over
//! raw TCP so each test controls every byte and every pause.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Api {
    addr: SocketAddr,
    _nats: stack::nats::NatsServer,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(configure: impl FnOnce(&mut api::ApiConfig)) -> Api {
    let nats = stack::nats::NatsServer::start().expect("nats-server starts");
    let mut config = api::ApiConfig::local(nats.url());
    configure(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = nats.connect().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        api::serve(listener, config, client, shutdown).await.expect("api serves");
    });
    Api { addr, _nats: nats, _stop: stop }
}

/// Reads until the peer closes (or `within` passes); returns what came and when it ended.
async fn read_to_close(tcp: &mut TcpStream, within: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), Some(started.elapsed())),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), None),
        }
    }
}

/// Sends one request and reads its response head and body (`Connection: close`).
async fn request(addr: SocketAddr, raw: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(raw.as_bytes()).await.unwrap();
    read_to_close(&mut tcp, Duration::from_secs(5)).await.0
}

const HEALTH: &str = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off_at_the_header_timeout() {
    let api = start(|c| c.header_timeout_secs = 1).await;
    let mut tcp = TcpStream::connect(api.addr).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = tcp.split();
    // One header line every 200 ms, for ever: the server must end it.
    let trickle = async {
        for i in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = writer.write_all(format!("X-Slow-{i}: y\r\n").as_bytes()).await;
        }
    };
    let closed = async {
        let mut got = Vec::new();
        let _ = reader.read_to_end(&mut got).await;
    };
    tokio::select! {
        () = closed => {}
        () = trickle => panic!("the slow client was kept for 10 s"),
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "cut off too early: {elapsed:?}");
    assert!(elapsed < Duration::from_millis(2_000), "the slow client was kept for {elapsed:?}");
    // A prompt client is served as ever.
    assert!(request(api.addr, HEALTH).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_and_a_silent_one_too() {
    let api = start(|c| c.idle_timeout_secs = 1).await;
    let mut tcp = TcpStream::connect(api.addr).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let (_, closed) = read_to_close(&mut tcp, Duration::from_secs(4)).await;
    let closed = closed.expect("the idle connection was kept open");
    assert!(closed >= Duration::from_millis(900) && closed < Duration::from_millis(2_500), "{closed:?}");

    // A connection that never sends a byte is idle from the start.
    let mut silent = TcpStream::connect(api.addr).await.unwrap();
    let (_, closed) = read_to_close(&mut silent, Duration::from_secs(4)).await;
    assert!(closed.is_some_and(|t| t < Duration::from_millis(2_500)), "{closed:?}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_place() {
    let api = start(|c| c.max_connections = 2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut tcp = TcpStream::connect(api.addr).await.unwrap();
        // Mid-request: the connection is busy, not idle.
        tcp.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
        held.push(tcp);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(api.addr).await.unwrap();
    third.write_all(HEALTH.as_bytes()).await.unwrap();
    let (answer, _) = read_to_close(&mut third, Duration::from_millis(500)).await;
    assert_eq!(answer, "", "a third connection was served beyond the cap of 2");
    // One place frees: the waiting connection is served.
    drop(held.pop());
    let (answer, closed) = read_to_close(&mut third, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(closed.is_some());
}

#[tokio::test]
async fn a_trickled_or_stalled_body_is_a_408() {
    let api = start(|c| {
        c.body_idle_timeout_secs = 1;
        c.body_timeout_secs = 2;
    })
    .await;
    let head = "POST /exec/functions/hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";

    // Stalled: ten bytes, then nothing.
    let mut tcp = TcpStream::connect(api.addr).await.unwrap();
    tcp.write_all(format!("{head}0123456789").as_bytes()).await.unwrap();
    let started = Instant::now();
    let (answer, _) = read_to_close(&mut tcp, Duration::from_secs(4)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("request_timeout"), "{answer:?}");
    assert!(started.elapsed() < Duration::from_millis(1_800), "{:?}", started.elapsed());

    // Trickled: a byte every 300 ms never idles, but the total runs out.
    let mut tcp = TcpStream::connect(api.addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = tcp.split();
    let trickle = async {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if writer.write_all(b"x").await.is_err() {
                break;
            }
        }
    };
    let read = async {
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut got)).await;
        String::from_utf8_lossy(&got).into_owned()
    };
    let answer = tokio::select! {
        answer = read => answer,
        () = trickle => String::new(),
    };
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("was not received in full"), "{answer:?}");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1_900) && elapsed < Duration::from_millis(3_000), "{elapsed:?}");
}

fn multipart_head(length: usize) -> String {
    format!(
        "POST /file/functions/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {length}\r\n\r\n"
    )
}

const FILE_PART: &str =
    "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wasm\"\r\n\r\n\0asm\r\n";

#[tokio::test]
async fn a_part_header_that_never_ends_is_refused_without_being_kept() {
    let api = start(|_| {}).await;
    // 300 MB announced, of which only the start of one endless header line
    // is sent: the refusal comes after a few KiB, not at the end.
    let mut tcp = TcpStream::connect(api.addr).await.unwrap();
    tcp.write_all(multipart_head(300_000_000).as_bytes()).await.unwrap();
    tcp.write_all(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; x=\"").await.unwrap();
    let (mut reader, mut writer) = tcp.split();
    let feed = async {
        let chunk = vec![b'a'; 1024];
        for _ in 0..1024 {
            if writer.write_all(&chunk).await.is_err() {
                break;
            }
        }
        // Sent 1 MiB without a refusal: keep the connection open for the read to fail.
        std::future::pending::<()>().await;
    };
    let read = async {
        let mut got = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut got)).await;
        String::from_utf8_lossy(&got[..n.ok().and_then(Result::ok).unwrap_or(0)]).into_owned()
    };
    let answer = tokio::select! {
        answer = read => answer,
        () = feed => unreachable!(),
    };
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert!(answer.contains("part's headers exceed the limit of 8192 bytes"), "{answer:?}");
}

#[tokio::test]
async fn multipart_uploads_take_one_file_part_within_the_limit() {
    let api = start(|c| c.max_upload_bytes = 1000).await;
    let two_files = format!("{FILE_PART}{FILE_PART}--XyZ--\r\n");
    let answer = request(api.addr, &format!("{}{two_files}", multipart_head(two_files.len()))).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(answer.contains("only one part named"), "{answer:?}");

    // Other fields count towards the request's size: the upload limit plus room for framing.
    let padding = "p".repeat(70 << 10);
    let body = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"pad\"\r\n\r\n{padding}\r\n{FILE_PART}--XyZ--\r\n"
    );
    let answer = request(api.addr, &format!("{}{body}", multipart_head(body.len()))).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert!(answer.contains("the multipart upload exceeds the limit of 66536 bytes"), "{answer:?}");

    let big_file = format!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n{}\r\n--XyZ--\r\n",
        "f".repeat(1001)
    );
    let answer = request(api.addr, &format!("{}{big_file}", multipart_head(big_file.len()))).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert!(answer.contains("the upload exceeds the limit of 1000 bytes"), "{answer:?}");
}

#[tokio::test]
async fn dropping_the_running_api_closes_its_connections() {
    // An embedder that drops `serve`'s future without the shutdown signal
    // (here: aborts its task). The serving threads close their connections
    // as at a stop, instead of keeping them until their idle timeout.
    let nats = stack::nats::NatsServer::start().expect("nats-server starts");
    let mut config = api::ApiConfig::local(nats.url());
    config.idle_timeout_secs = 60;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = nats.connect().await;
    let serving = tokio::spawn(api::serve(listener, config, client, std::future::pending()));

    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = tcp.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    serving.abort();
    let _ = serving.await;
    let (_, closed) = read_to_close(&mut tcp, Duration::from_secs(10)).await;
    assert!(closed.is_some_and(|t| t < Duration::from_secs(3)), "kept open after the drop: {closed:?}");
    // And nothing listens any more.
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting after the drop");
}

#[tokio::test]
async fn a_serving_thread_that_cannot_connect_stops_the_api_saying_why() {
    // The caller's client is connected; each serving thread opens a
    // connection of its own from the configuration, here with a credentials
    // file that is not there. The api refuses to start instead of serving
    // with threads that can reach nothing.
    let nats = stack::nats::NatsServer::start().expect("nats-server starts");
    let mut config = api::ApiConfig::local(nats.url());
    config.nats.creds = Some("/nonexistent/faas-api-test.creds".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = nats.connect().await;
    let serving = api::serve(listener, config, client, std::future::pending());
    let outcome = tokio::time::timeout(Duration::from_secs(10), serving).await.expect("it answers at once");
    assert!(matches!(outcome, Err(api::ServeError::Connect(_))), "{outcome:?}");
    assert!(TcpStream::connect(addr).await.is_err(), "still accepting after the refusal");
}

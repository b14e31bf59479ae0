//! Free TCP ports for servers started by tests.
//!
//! Tests run in parallel, so fixed ports would collide; each gets a port
//! nobody else is using, checked by binding it.

use std::net::TcpListener;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// The port is released before returning, so another socket could take it
/// in between: for child processes that must be told a port up front. A
/// server in this process binds port 0 instead (`S3Server::start`).
///
/// The port comes from below the kernel's ephemeral range, where outgoing
/// connections never get their local port: a port the kernel handed out as
/// ephemeral was once taken by a test's outgoing connection between this
/// check and the server's bind (`AddrInUse`). Calls in one process walk
/// the range from a random start, so they never hand out the same port
/// twice until it wraps.
pub fn free_port() -> u16 {
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let (low, high) = below_ephemeral_range();
    if high > low {
        let span = u32::from(high - low);
        let next = NEXT.get_or_init(|| {
            let start = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), std::process::id());
            AtomicU32::new((start % u64::from(span)) as u32)
        });
        for _ in 0..1000 {
            let offset = next.fetch_add(1, Ordering::Relaxed) % span;
            let port = low + offset as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return port;
            }
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port on 127.0.0.1");
    listener.local_addr().expect("read the ephemeral port").port()
}

/// Ports from 10000 up to the start of the ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`; Linux's default 32768 when
/// it cannot be read). Empty when the range starts lower.
fn below_ephemeral_range() -> (u16, u16) {
    const LOW: u16 = 10_000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    (LOW, ephemeral_start.max(LOW))
}

/// Polls until something accepts TCP connections on `127.0.0.1:port`.
///
/// Servers we spawn print nothing machine-readable when ready, so a successful
/// connect is the readiness signal.
pub(crate) fn wait_for_port(port: u16, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)).is_ok() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

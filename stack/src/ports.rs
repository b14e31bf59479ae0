//! Free TCP ports for servers started by tests.
//!
//! Tests run in parallel, so fixed ports would collide; asking the kernel for
//! an ephemeral port is the simplest way to get one nobody else is using.

use std::net::TcpListener;

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// The port is released before returning, so another socket can take it in
/// between (an outgoing connection's ephemeral port did, once, in a full
/// test run): for child processes that must be told a port up front. A
/// server in this process binds port 0 instead (`S3Server::start`).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port on 127.0.0.1");
    listener.local_addr().expect("read the ephemeral port").port()
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

//! `probe`: reports what the sandbox lets a function see (environment,
//! arguments, files, network), so tests can check it sees nothing it should not.

wit_bindgen::generate!({ world: "faas-exec", path: "../../wit" });

struct Component;

impl Guest for Component {
    fn exec(_input: String) -> String {
        let env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        let args: Vec<String> = std::env::args().collect();
        let root = std::fs::read_dir("/").map(|d| d.count()).map_err(|e| e.to_string());
        let file = std::fs::read("/etc/passwd").map(|b| b.len()).map_err(|e| e.to_string());
        let net = std::net::TcpStream::connect("127.0.0.1:4222").map(|_| ()).map_err(|e| e.to_string());
        let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).is_ok();
        serde_json::json!({
            "env": env,
            "args": args,
            "read_dir_root": root.is_ok(),
            "read_file": file.is_ok(),
            "tcp_connect": net.is_ok(),
            "clock": clock,
        })
        .to_string()
    }
}

export!(Component);

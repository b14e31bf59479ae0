//! {{name}}: a wasm-faas function. The platform calls `exec` once per
//! invocation with the request body and answers with what it returns.

wit_bindgen::generate!({ world: "faas-exec", path: "wit" });

struct Component;

impl Guest for Component {
    fn exec(input: String) -> String {
        // Written to stdout: `faas invoke --logs` shows it.
        println!("{{name}} got {} bytes", input.len());
        format!("Hello from {{name}}: {input}")
    }
}

export!(Component);

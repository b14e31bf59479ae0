//! `chatty`: writes its input to stdout and stderr and echoes it back. Used to
//! test that the platform captures guest output.

wit_bindgen::generate!({ world: "faas-exec", path: "../../wit" });

struct Component;

impl Guest for Component {
    fn exec(input: String) -> String {
        println!("stdout: {input}");
        eprintln!("stderr: {input}");
        format!("chatty: {input}")
    }
}

export!(Component);

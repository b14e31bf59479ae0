//! `trap`: always panics, which surfaces as a trap in the host. Used to test
//! that a failing guest yields an error and does not harm the executor.

wit_bindgen::generate!({ world: "faas-exec", path: "../../wit" });

struct Component;

impl Guest for Component {
    fn exec(_input: String) -> String {
        panic!("trap guest: deliberate panic");
    }
}

export!(Component);

//! `hog`: allocates memory without bound. Used to test the platform's memory
//! limit.

wit_bindgen::generate!({ world: "faas-exec", path: "../../wit" });

use std::hint::black_box;

/// Size of each allocation.
const CHUNK: usize = 1 << 20;

struct Component;

impl Guest for Component {
    fn exec(_input: String) -> String {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            // Non-zero bytes so every page is really touched.
            let chunk = black_box(vec![0xA5u8; CHUNK]);
            chunks.push(chunk);
            black_box(&mut chunks);
        }
    }
}

export!(Component);

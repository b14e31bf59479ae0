//! `spin`: never returns. Used to test the platform's execution time limit.

wit_bindgen::generate!({ world: "faas-exec", path: "../../wit" });

use std::hint::black_box;

struct Component;

impl Guest for Component {
    fn exec(input: String) -> String {
        let mut counter: u64 = 0;
        loop {
            // black_box keeps the optimiser from removing the loop body.
            counter = black_box(counter.wrapping_add(black_box(input.len() as u64) | 1));
        }
    }
}

export!(Component);

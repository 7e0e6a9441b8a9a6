//! The explorer's upload path: any bytes give a model input of the right size in [0, 1] or an
//! error, never a panic or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vae_serve::upload::{Invert, prepare_png};

fuzz_target!(|data: &[u8]| {
    if let Ok(prepared) = prepare_png(data, 28, 28, Invert::Auto) {
        assert_eq!(prepared.pixels.len(), 28 * 28);
        assert!(prepared.pixels.iter().all(|v| (0.0..=1.0).contains(v)));
    }
});

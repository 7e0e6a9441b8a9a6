//! IDX reader, gzip and raw: never panics; what it accepts encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vae::data::idx::{decode_idx, encode_idx};

fuzz_target!(|data: &[u8]| {
    if let Ok(array) = decode_idx(data, 16 << 20)
        && !data.starts_with(&[0x1f, 0x8b])
    {
        assert_eq!(encode_idx(&array), data);
    }
});

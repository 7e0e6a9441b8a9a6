//! Run config loader: any text gives a config or an error, and validation never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vae::TrainConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(config) = toml::from_str::<TrainConfig>(text)
    {
        let _ = config.clone().resolved().validate();
    }
});

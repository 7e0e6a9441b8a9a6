//! Run config loader: any text gives a config or an error, and validation never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vae::PartialConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(table) = toml::from_str::<toml::Table>(text)
        && let Ok(config) = PartialConfig::from_table(table).resolve("fuzz")
    {
        let _ = config.validate();
    }
});

//! CSV of z vectors for `vae decode`: never panics; accepted values are finite and whole rows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let latent = (first % 8) as usize + 1;
    if let Ok(text) = std::str::from_utf8(rest)
        && let Ok(z) = vae::latent::csv::parse_z_csv(text, latent)
    {
        assert!(z.len() % latent == 0 && z.iter().all(|v| v.is_finite()));
    }
});

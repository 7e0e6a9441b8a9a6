//! Checkpoint files: damage is detected, and crafted records give errors, never panics.

use burn::optim::AdamConfig;
use burn::tensor::Device;
use vae::model::{Arch, ModelConfig, Vae};
use vae::train::checkpoint::{decode, encode};

/// The error of decoding `bytes` (the decoded state has no `Debug`, so no `unwrap_err`).
fn error_of(bytes: &[u8]) -> String {
    match decode(bytes, tiny(), AdamConfig::new().init()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

/// The model of the `checkpoint` fuzz target.
fn tiny() -> Vae {
    let config = ModelConfig {
        hidden: vec![3],
        latent_dim: 2,
        height: 2,
        width: 2,
        ..ModelConfig::default_for(Arch::Mlp)
    };
    Vae::new(&config, &Device::flex().autodiff())
}

#[test]
fn a_record_that_makes_burn_panic_is_an_error() {
    // Found by `cargo fuzz run checkpoint`: Burn's optimiser loader `expect`s a parameter id on
    // every tensor. The file is in the first container layout (magic, three u64 lengths, the
    // records); wrap its records in the current one so they get past the checksum.
    let old = std::fs::read(crate::crate_file(
        "tests/fixtures/checkpoint-missing-param-id.bin",
    ))
    .unwrap();
    let field =
        |i: usize| u64::from_le_bytes(old[8 + 8 * i..16 + 8 * i].try_into().unwrap()) as usize;
    let (model_len, optim_len) = (field(1), field(2));
    assert_eq!(32 + model_len + optim_len, old.len());
    let bytes = encode(1, &old[32..32 + model_len], &old[32 + model_len..]);
    let message = error_of(&bytes);
    assert!(
        message
            .starts_with("malformed record: Optimizer record tensors should carry a parameter id"),
        "{message}"
    );
}

#[test]
fn damage_anywhere_is_caught_by_the_checksum() {
    let good = std::fs::read(crate::crate_file("../../fuzz/corpus/checkpoint/small")).unwrap();
    assert!(decode(&good, tiny(), AdamConfig::new().init()).is_ok());
    for position in [60, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[position] ^= 0x10;
        let message = error_of(&bad);
        assert_eq!(
            message, "checksum mismatch, the file is damaged",
            "byte {position}"
        );
    }
    assert_eq!(
        error_of(&good[..100]),
        "length mismatch, the file is truncated"
    );
    assert_eq!(error_of(b"VAECKPT1"), "bad header");
}

//! Checkpoint loader: any bytes give a model or an error, never a panic. The input is decoded
//! as a file (header, lengths, checksum) and, split in two, wrapped in a valid container so that
//! the record parsers behind the checksum are fuzzed too.
#![no_main]

use burn::optim::AdamConfig;
use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use vae::model::{Arch, ModelConfig, Vae};
use vae::train::checkpoint::{decode, encode};

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

fuzz_target!(|data: &[u8]| {
    let _ = decode(data, tiny(), AdamConfig::new().init());
    if let Some((&split, rest)) = data.split_first() {
        let at = rest.len() * split as usize / 256;
        let wrapped = encode(1, &rest[..at], &rest[at..]);
        let _ = decode(&wrapped, tiny(), AdamConfig::new().init());
    }
});

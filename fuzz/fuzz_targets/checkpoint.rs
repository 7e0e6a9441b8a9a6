//! Checkpoint loader: any bytes give a model or an error, never a panic.
#![no_main]

use burn::optim::AdamConfig;
use burn::tensor::Device;
use libfuzzer_sys::fuzz_target;
use vae::model::{Arch, ModelConfig, Vae};

fuzz_target!(|data: &[u8]| {
    let config = ModelConfig {
        hidden: vec![3],
        latent_dim: 2,
        height: 2,
        width: 2,
        ..ModelConfig::default_for(Arch::Mlp)
    };
    let device = Device::flex().autodiff();
    let model = Vae::new(&config, &device);
    let _ = vae::train::checkpoint::decode(data, model, AdamConfig::new().init());
});

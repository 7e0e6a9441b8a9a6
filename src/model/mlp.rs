//! Dense encoder and decoder, as in pytorch/examples `vae/main.py`.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// x -> hidden (ReLU) -> z_mean, z_log_var.
#[derive(Module, Debug)]
pub struct MlpEncoder {
    pub hidden: Vec<Linear>,
    pub z_mean: Linear,
    pub z_log_var: Option<Linear>,
}

impl MlpEncoder {
    pub fn new(pixels: usize, hidden: &[usize], latent: usize, vae: bool, device: &Device) -> Self {
        let sizes: Vec<usize> = std::iter::once(pixels)
            .chain(hidden.iter().copied())
            .collect();
        let last = *sizes.last().expect("at least the input size");
        MlpEncoder {
            hidden: sizes
                .windows(2)
                .map(|w| LinearConfig::new(w[0], w[1]).init(device))
                .collect(),
            z_mean: LinearConfig::new(last, latent).init(device),
            z_log_var: vae.then(|| LinearConfig::new(last, latent).init(device)),
        }
    }

    /// Returns `(z_mean, z_log_var)`; `z_log_var` is `None` for a plain autoencoder.
    pub fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        let h = self
            .hidden
            .iter()
            .fold(x, |h, layer| relu(layer.forward(h)));
        let z_log_var = self.z_log_var.as_ref().map(|l| l.forward(h.clone()));
        (self.z_mean.forward(h), z_log_var)
    }
}

/// z -> hidden (ReLU, mirrored) -> pixel logits.
#[derive(Module, Debug)]
pub struct MlpDecoder {
    pub hidden: Vec<Linear>,
    pub output: Linear,
}

impl MlpDecoder {
    pub fn new(pixels: usize, hidden: &[usize], latent: usize, device: &Device) -> Self {
        let sizes: Vec<usize> = std::iter::once(latent)
            .chain(hidden.iter().rev().copied())
            .collect();
        let last = *sizes.last().expect("at least the latent size");
        MlpDecoder {
            hidden: sizes
                .windows(2)
                .map(|w| LinearConfig::new(w[0], w[1]).init(device))
                .collect(),
            output: LinearConfig::new(last, pixels).init(device),
        }
    }

    /// Pixel logits `[batch, pixels]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let h = self
            .hidden
            .iter()
            .fold(z, |h, layer| relu(layer.forward(h)));
        self.output.forward(h)
    }
}

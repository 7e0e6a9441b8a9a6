//! The model of the lecture: an `Encoder` maps x to a diagonal Gaussian (`z_mean`, `z_log_var`),
//! `reparameterize` draws z from it, a `Decoder` maps z back to pixel logits. A plain
//! autoencoder is the same with z = z_mean and no `z_log_var`.

pub mod config;
pub mod conv;
pub mod im2col;
pub mod loss;
pub mod mlp;

use burn::prelude::*;
pub use config::{Arch, ModelConfig};
use conv::{ConvDecoder, ConvEncoder};
use mlp::{MlpDecoder, MlpEncoder};

/// Maps images `[batch, pixels]` to `(z_mean, z_log_var)`.
#[derive(Module, Debug)]
pub enum Encoder {
    Mlp(MlpEncoder),
    Conv(ConvEncoder),
}

impl Encoder {
    pub fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        match self {
            Encoder::Mlp(e) => e.forward(x),
            Encoder::Conv(e) => e.forward(x),
        }
    }
}

/// Maps latents `[batch, latent_dim]` to pixel logits `[batch, pixels]`.
// A model holds one decoder, so the size gap between variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Decoder {
    Mlp(MlpDecoder),
    Conv(ConvDecoder),
}

impl Decoder {
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Decoder::Mlp(d) => d.forward(z),
            Decoder::Conv(d) => d.forward(z),
        }
    }
}

/// `z = z_mean + exp(0.5 * z_log_var) * eps`, `eps ~ N(0, I)`: the sample is a differentiable
/// function of `z_mean` and `z_log_var`, so gradients reach the encoder through it.
pub fn reparameterize(z_mean: Tensor<2>, z_log_var: Tensor<2>, eps: Tensor<2>) -> Tensor<2> {
    z_mean + z_log_var.mul_scalar(0.5).exp() * eps
}

/// Everything one pass through the model produces.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Decoder output before the sigmoid, `[batch, pixels]`.
    pub logits: Tensor<2>,
    pub z_mean: Tensor<2>,
    /// `None` for a plain autoencoder.
    pub z_log_var: Option<Tensor<2>>,
    /// The latent the decoder received.
    pub z: Tensor<2>,
}

/// Encoder and decoder together.
#[derive(Module, Debug)]
pub struct Vae {
    pub encoder: Encoder,
    pub decoder: Decoder,
}

impl Vae {
    /// A freshly initialised model (Burn's default initialisers; seed the device first for
    /// reproducible weights).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let vae = !config.autoencoder;
        match config.arch {
            Arch::Mlp => Vae {
                encoder: Encoder::Mlp(MlpEncoder::new(
                    config.pixels(),
                    &config.hidden,
                    config.latent_dim,
                    vae,
                    device,
                )),
                decoder: Decoder::Mlp(MlpDecoder::new(
                    config.pixels(),
                    &config.hidden,
                    config.latent_dim,
                    device,
                )),
            },
            Arch::Conv | Arch::Celeba => Vae {
                encoder: Encoder::Conv(ConvEncoder::new(config, device)),
                decoder: Decoder::Conv(ConvDecoder::new(config, device)),
            },
        }
    }

    /// Encodes images `[batch, pixels]` into `(z_mean, z_log_var)`.
    pub fn encode(&self, x: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        self.encoder.forward(x)
    }

    /// Decodes latents into pixel logits.
    pub fn decode(&self, z: Tensor<2>) -> Tensor<2> {
        self.decoder.forward(z)
    }

    /// Encode, draw z, decode. With `eps` the decoder gets the reparameterised sample (training);
    /// without it, or for a plain autoencoder, it gets `z_mean` (deterministic reconstruction).
    pub fn forward(&self, x: Tensor<2>, eps: Option<Tensor<2>>) -> Forward {
        let (z_mean, z_log_var) = self.encode(x);
        let z = match (&z_log_var, eps) {
            (Some(log_var), Some(eps)) => reparameterize(z_mean.clone(), log_var.clone(), eps),
            _ => z_mean.clone(),
        };
        Forward {
            logits: self.decode(z.clone()),
            z_mean,
            z_log_var,
            z,
        }
    }
}

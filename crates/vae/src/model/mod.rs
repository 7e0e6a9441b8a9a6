//! The model of the lecture: an `Encoder` maps x to a [`Posterior`] (a diagonal Gaussian with
//! `z_mean` and `z_log_var`, or a point for a plain autoencoder), a sample of it goes to the
//! `Decoder`, which maps z back to pixel logits; [`loss::vae_loss`] scores the two. A
//! conditional VAE also gives both its condition y (a class one-hot, or attributes multi-hot;
//! [`Conditioning`]); the unconditional models get `None`.

pub mod config;
pub mod conv;
pub mod loss;
pub mod memory;
pub mod mlp;
pub mod posterior;

pub use crate::kernels::ConvPath;
use burn::prelude::*;
pub use config::{Arch, ConditionKind, Conditioning, ModelConfig};
use conv::{ConvDecoder, ConvEncoder};
use mlp::{MlpDecoder, MlpEncoder};
pub use posterior::{Posterior, kl_divergence, kl_divergence_per_dim, reparameterize};

/// Maps images `[batch, pixels]` (and a conditional model's y) to their posterior.
#[derive(Module, Debug)]
pub enum Encoder {
    Mlp(MlpEncoder),
    Conv(ConvEncoder),
}

impl Encoder {
    pub fn forward(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> Posterior {
        match self {
            Encoder::Mlp(e) => e.forward(x, condition),
            Encoder::Conv(e) => e.forward(x, condition),
        }
    }
}

/// Maps latents `[batch, latent_dim]` (and a conditional model's y) to pixel logits
/// `[batch, pixels]`.
// A model holds one decoder, so the size gap between variants costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Decoder {
    Mlp(MlpDecoder),
    Conv(ConvDecoder),
}

impl Decoder {
    pub fn forward(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
        match self {
            Decoder::Mlp(d) => d.forward(z, condition),
            Decoder::Conv(d) => d.forward(z, condition),
        }
    }
}

/// Everything one pass through the model produces.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Decoder output before the sigmoid, `[batch, pixels]`.
    pub logits: Tensor<2>,
    pub posterior: Posterior,
    /// The latent the decoder received.
    pub z: Tensor<2>,
}

/// Encoder and decoder together.
#[derive(Module, Debug)]
pub struct Vae {
    pub encoder: Encoder,
    pub decoder: Decoder,
    /// The shape it was built from.
    #[module(skip)]
    pub config: ModelConfig,
}

impl Vae {
    /// A freshly initialised model (Burn's default initialisers, drawn from the device's
    /// generator: use [`Vae::init`] for weights that follow from a seed).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        match config.arch {
            Arch::Mlp => Vae {
                encoder: Encoder::Mlp(MlpEncoder::new(config, device)),
                decoder: Decoder::Mlp(MlpDecoder::new(config, device)),
                config: config.clone(),
            },
            Arch::Conv | Arch::Celeba => Vae {
                encoder: Encoder::Conv(ConvEncoder::new(config, device)),
                decoder: Decoder::Conv(ConvDecoder::new(config, device)),
                config: config.clone(),
            },
        }
    }

    /// A model whose initial weights follow from `seed` alone (see [`crate::device::seeded`]).
    pub fn init(config: &ModelConfig, device: &Device, seed: u64) -> Self {
        crate::device::seeded(device, seed, || Vae::new(config, device))
    }

    /// Its parameters and per-image activations ([`memory::Footprint`]).
    pub fn footprint(&self) -> memory::Footprint {
        memory::Footprint::of(&self.config)
    }

    /// Images per inference pass within [`memory::INFERENCE_BYTES`], at most `most`.
    pub fn rows_per_pass(&self, most: usize) -> usize {
        self.footprint().rows_per_pass(most)
    }

    /// Size of z.
    pub fn latent_dim(&self) -> usize {
        let z_mean = match &self.encoder {
            Encoder::Mlp(e) => &e.z_mean,
            Encoder::Conv(e) => &e.z_mean,
        };
        // Burn's dense weights are [inputs, outputs].
        z_mean.weight.dims()[1]
    }

    /// True for a VAE, false for a plain autoencoder (no `z_log_var` head).
    pub fn is_vae(&self) -> bool {
        match &self.encoder {
            Encoder::Mlp(e) => e.z_log_var.is_some(),
            Encoder::Conv(e) => e.z_log_var.is_some(),
        }
    }

    /// Forces one convolution path of the conv models (`None`: the faster one on each device);
    /// tests hold the two against each other.
    pub fn with_conv_path(mut self, path: Option<ConvPath>) -> Self {
        if let Encoder::Conv(e) = &mut self.encoder {
            e.plan.set_path(path);
        }
        if let Decoder::Conv(d) = &mut self.decoder {
            d.plan.set_path(path);
        }
        self
    }

    /// True for a conditional VAE, whose encoder and decoder also read a condition y.
    pub fn is_conditional(&self) -> bool {
        self.config.conditioning.is_some()
    }

    /// The posterior q(z|x) (q(z|x, y) for a conditional model) of images `[batch, pixels]`.
    /// `condition` is `[batch, condition_dim]` for a conditional model and `None` otherwise.
    pub fn encode(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> Posterior {
        self.encoder.forward(x, condition)
    }

    /// Decodes latents (with a conditional model's y) into pixel logits.
    pub fn decode(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
        self.decoder.forward(z, condition)
    }

    /// Encode, draw z, decode, the same y going to both halves. With `eps` the decoder gets the
    /// reparameterised sample (training); without it, or for a plain autoencoder, it gets
    /// `z_mean` (deterministic reconstruction).
    pub fn forward(
        &self,
        x: Tensor<2>,
        condition: Option<Tensor<2>>,
        eps: Option<Tensor<2>>,
    ) -> Forward {
        let posterior = self.encode(x, condition.clone());
        let z = match eps {
            Some(eps) => posterior.sample(eps),
            None => posterior.z_mean().clone(),
        };
        Forward {
            logits: self.decode(z.clone(), condition),
            posterior,
            z,
        }
    }
}

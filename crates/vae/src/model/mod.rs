//! The model of the lecture: an `Encoder` maps x to a [`Posterior`] (a diagonal Gaussian with
//! `z_mean` and `z_log_var`, or a point for a plain autoencoder), a sample of it goes to the
//! `Decoder`, which maps z back to pixel logits; [`loss::vae_loss`] scores the two. A
//! conditional VAE also gives both its condition y (a class one-hot, or attributes multi-hot;
//! [`Conditioning`]); the unconditional models get `None`.

pub mod arch;
pub mod condition;
pub mod loss;
pub mod memory;
pub mod posterior;
pub mod prior;

pub use arch::{Arch, Architecture, Decoder, Encoder, ModelConfig};
use burn::prelude::*;
pub use condition::{ConditionKind, Conditioning};
pub use posterior::{Posterior, kl_divergence, kl_divergence_per_dim, reparameterize};
pub use prior::{Components, Prior, VampPrior};
use rand_chacha::ChaCha8Rng;
pub use vae_kernels::ConvPath;

/// Everything one pass through the model produces.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Decoder output before the sigmoid, `[batch, pixels]`.
    pub logits: Tensor<2>,
    pub posterior: Posterior,
    /// The latent the decoder received.
    pub z: Tensor<2>,
    /// The KL term of each image, `[batch]` ([`Vae::kl`]).
    pub kl: Tensor<1>,
}

/// Encoder and decoder together.
#[derive(Module, Debug)]
pub struct Vae {
    pub encoder: Encoder,
    pub decoder: Decoder,
    /// The VampPrior's pseudo-inputs; `None` for the standard normal prior.
    pub prior: Option<VampPrior>,
    /// The shape it was built from.
    #[module(skip)]
    pub config: ModelConfig,
}

impl Vae {
    /// A freshly initialised model (Burn's default initialisers, drawn from the device's
    /// generator: use [`Vae::init`] for weights that follow from a seed).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let (encoder, decoder) = config.arch.architecture().build(config, device);
        let prior = match config.prior {
            Prior::Standard => None,
            Prior::Vamp => Some(VampPrior::new(
                config.pseudo_inputs,
                config.pixels(),
                device,
            )),
        };
        Vae {
            encoder,
            decoder,
            prior,
            config: config.clone(),
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
        self.config.latent_dim
    }

    /// True for a VAE, false for a plain autoencoder (no `z_log_var` head).
    pub fn is_vae(&self) -> bool {
        !self.config.autoencoder
    }

    /// Forces one convolution path of the conv models (`None`: the faster one on each device);
    /// tests hold the two against each other.
    pub fn with_conv_path(mut self, path: Option<ConvPath>) -> Self {
        self.encoder.set_conv_path(path);
        self.decoder.set_conv_path(path);
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

    /// The VampPrior's components for this pass; `None` for the standard normal prior. Passes
    /// that score many batches with unchanged weights compute them once.
    pub fn prior_components(&self) -> Option<Components> {
        self.prior
            .as_ref()
            .map(|p| p.components(|u| self.encoder.forward(u, None)))
    }

    /// `log p(z)` of each row of `z`, `[rows]`, with the VampPrior's `components` when it has
    /// one ([`Vae::prior_components`]).
    pub fn log_prior(&self, z: Tensor<2>, components: Option<&Components>) -> Tensor<1> {
        match components {
            Some(c) => c.log_prob(z),
            None => prior::standard_log_prob(z),
        }
    }

    /// The KL term of each image, `[batch]`: KL(q(z|x) || N(0, I)) in closed form under the
    /// standard normal prior; under the VampPrior (its `components`), which has none,
    /// `log q(z|x) - log p(z)` at the sample `z` the decoder received. Zero for a plain
    /// autoencoder.
    pub fn kl(
        &self,
        posterior: &Posterior,
        z: Tensor<2>,
        components: Option<&Components>,
    ) -> Tensor<1> {
        match (posterior, components) {
            (Posterior::Gaussian { z_mean, z_log_var }, Some(c)) => {
                prior::posterior_log_prob(z.clone(), z_mean.clone(), z_log_var.clone())
                    - c.log_prob(z)
            }
            (posterior, _) => posterior.kl(),
        }
    }

    /// `n` draws of z from the prior, on the host (`[n, latent]`, row-major), from `rng`:
    /// N(0, I), or a random component of the VampPrior and then its Gaussian.
    pub fn sample_prior(&self, rng: &mut ChaCha8Rng, n: usize) -> crate::error::Result<Vec<f32>> {
        match self.prior_components() {
            Some(c) => c.sample(rng, n),
            None => Ok(crate::rng::normal_noise(rng, n * self.latent_dim())),
        }
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
        self.forward_against(x, condition, eps, self.prior_components().as_ref())
    }

    /// [`Vae::forward`] with the VampPrior's `components` given (computed once for many
    /// passes, or shared by the shards of a step); `None` for the standard normal prior.
    pub fn forward_against(
        &self,
        x: Tensor<2>,
        condition: Option<Tensor<2>>,
        eps: Option<Tensor<2>>,
        components: Option<&Components>,
    ) -> Forward {
        let posterior = self.encode(x, condition.clone());
        let z = match eps {
            Some(eps) => posterior.sample(eps),
            None => posterior.z_mean().clone(),
        };
        Forward {
            logits: self.decode(z.clone(), condition),
            kl: self.kl(&posterior, z.clone(), components),
            posterior,
            z,
        }
    }
}

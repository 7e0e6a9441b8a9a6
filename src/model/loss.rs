//! The VAE objective: reconstruction (negative log-likelihood of x under the decoder, summed over
//! pixels) + beta * KL(q(z|x) || N(0, I)), averaged over the batch.

use super::Forward;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Likelihood of the pixels given the decoder's logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Reconstruction {
    /// Bernoulli: binary cross-entropy from logits.
    Bce,
    /// Continuous Bernoulli: Bernoulli plus its normaliser, a proper density on [0, 1].
    Cb,
    /// Gaussian-style squared error on sigmoid(logits); not a normalised likelihood.
    Mse,
}

impl Reconstruction {
    /// True when the loss is a normalised negative log-likelihood, so nats per image mean
    /// something and the importance-weighted bound applies.
    pub fn is_likelihood(self) -> bool {
        !matches!(self, Reconstruction::Mse)
    }
}

/// Below this |logit| the continuous-Bernoulli normaliser uses its Taylor series, where the
/// closed form is 0/0.
const CB_TAYLOR_BELOW: f32 = 0.1;

/// Binary cross-entropy from logits, per pixel: `softplus(l) - l x`, with softplus(l) written
/// as `-log_sigmoid(-l)`, which Burn computes stably (never the log of 0 or the exp of a large
/// number) in one fused pass with a fused gradient, `sigmoid(l) - x` in the end.
pub fn bce_with_logits(logits: Tensor<2>, x: Tensor<2>) -> Tensor<2> {
    burn::tensor::activation::log_sigmoid(logits.clone().neg()).neg() - logits * x
}

/// log C(l), the normaliser of the continuous Bernoulli with logit l:
/// `C = l / tanh(l / 2)`, which tends to 2 at l = 0 (series `2 (1 + l^2/12 - l^4/720)`).
pub fn continuous_bernoulli_log_norm(logits: Tensor<2>) -> Tensor<2> {
    let a = logits.abs();
    let small = a.clone().lower_elem(CB_TAYLOR_BELOW);
    // Each branch sees only inputs where it is accurate, so neither produces NaN or Inf that
    // could leak into the gradient of the other.
    let s = a.clone().clamp_max(CB_TAYLOR_BELOW);
    let s2 = s.clone() * s;
    let series = (s2.clone().div_scalar(12.0) - (s2.clone() * s2).div_scalar(720.0))
        .log1p()
        .add_scalar(std::f32::consts::LN_2);
    let b = a.clamp_min(CB_TAYLOR_BELOW);
    let closed = b.clone().log() - b.div_scalar(2.0).tanh().log();
    closed.mask_where(small, series)
}

/// Per-image reconstruction loss in nats (for `mse`, squared error), summed over pixels: `[batch]`.
pub fn reconstruction_loss(kind: Reconstruction, logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    let per_pixel = match kind {
        Reconstruction::Bce => bce_with_logits(logits, x),
        Reconstruction::Cb => {
            bce_with_logits(logits.clone(), x) - continuous_bernoulli_log_norm(logits)
        }
        Reconstruction::Mse => (burn::tensor::activation::sigmoid(logits) - x).square(),
    };
    per_pixel.sum_dim(1).squeeze_dim(1)
}

/// KL(N(z_mean, exp(z_log_var)) || N(0, 1)) per latent dimension, `[batch, latent]`:
/// `-0.5 * (1 + z_log_var - z_mean^2 - exp(z_log_var))`.
pub fn kl_divergence_per_dim(z_mean: Tensor<2>, z_log_var: Tensor<2>) -> Tensor<2> {
    (z_log_var.clone().add_scalar(1.0) - z_mean.square() - z_log_var.exp()).mul_scalar(-0.5)
}

/// KL divergence to the standard normal prior, summed over latent dimensions: `[batch]`.
pub fn kl_divergence(z_mean: Tensor<2>, z_log_var: Tensor<2>) -> Tensor<1> {
    kl_divergence_per_dim(z_mean, z_log_var)
        .sum_dim(1)
        .squeeze_dim(1)
}

/// The three numbers we always report, as batch means (each a one-element tensor).
#[derive(Debug, Clone)]
pub struct Loss {
    /// `recon + beta * kl`: what the optimiser minimises.
    pub total: Tensor<1>,
    pub recon: Tensor<1>,
    /// Zero for a plain autoencoder.
    pub kl: Tensor<1>,
}

/// The beta-VAE loss of one batch.
pub fn vae_loss(forward: &Forward, x: Tensor<2>, kind: Reconstruction, beta: f64) -> Loss {
    let recon = reconstruction_loss(kind, forward.logits.clone(), x).mean();
    match &forward.z_log_var {
        Some(z_log_var) => {
            let kl = kl_divergence(forward.z_mean.clone(), z_log_var.clone()).mean();
            Loss {
                total: recon.clone() + kl.clone().mul_scalar(beta),
                recon,
                kl,
            }
        }
        None => Loss {
            total: recon.clone(),
            kl: recon.zeros_like(),
            recon,
        },
    }
}

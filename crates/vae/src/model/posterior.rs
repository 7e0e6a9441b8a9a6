//! q(z|x), what the encoder says about an image: a diagonal Gaussian N(z_mean, exp(z_log_var))
//! for a VAE, a single point z_mean for a plain autoencoder. Sampling it (`reparameterize`) and
//! its KL divergence to the prior N(0, I) live here, and every caller goes through them.

use burn::prelude::*;

/// `z = z_mean + exp(0.5 * z_log_var) * eps`, `eps ~ N(0, I)`: the sample is a differentiable
/// function of `z_mean` and `z_log_var`, so gradients reach the encoder through it.
pub fn reparameterize(z_mean: Tensor<2>, z_log_var: Tensor<2>, eps: Tensor<2>) -> Tensor<2> {
    z_mean + z_log_var.mul_scalar(0.5).exp() * eps
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

/// The encoder's answer for a batch of images, `[batch, latent]` each.
// A posterior lives for one forward pass; boxing the larger variant would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Posterior {
    /// A VAE: each image is a zone of latent space.
    Gaussian {
        z_mean: Tensor<2>,
        z_log_var: Tensor<2>,
    },
    /// A plain autoencoder: each image is one point, with no spread and no KL term.
    Point { z_mean: Tensor<2> },
}

impl Posterior {
    /// The centre of each image's zone (the point itself for an autoencoder).
    pub fn z_mean(&self) -> &Tensor<2> {
        match self {
            Posterior::Gaussian { z_mean, .. } | Posterior::Point { z_mean } => z_mean,
        }
    }

    /// The log-variance of each zone; `None` for a point.
    pub fn z_log_var(&self) -> Option<&Tensor<2>> {
        match self {
            Posterior::Gaussian { z_log_var, .. } => Some(z_log_var),
            Posterior::Point { .. } => None,
        }
    }

    /// `[batch, latent]`.
    pub fn dims(&self) -> [usize; 2] {
        self.z_mean().dims()
    }

    /// A draw `z ~ q(z|x)` from standard-normal `eps` ([`reparameterize`]); a point is its own
    /// sample.
    pub fn sample(&self, eps: Tensor<2>) -> Tensor<2> {
        match self {
            Posterior::Gaussian { z_mean, z_log_var } => {
                reparameterize(z_mean.clone(), z_log_var.clone(), eps)
            }
            Posterior::Point { z_mean } => z_mean.clone(),
        }
    }

    /// KL(q(z|x) || N(0, I)) per image and latent dimension, `[batch, latent]`; zero for a
    /// point, which has no KL term.
    pub fn kl_per_dim(&self) -> Tensor<2> {
        match self {
            Posterior::Gaussian { z_mean, z_log_var } => {
                kl_divergence_per_dim(z_mean.clone(), z_log_var.clone())
            }
            Posterior::Point { z_mean } => z_mean.zeros_like(),
        }
    }

    /// KL(q(z|x) || N(0, I)) per image, `[batch]`.
    pub fn kl(&self) -> Tensor<1> {
        match self {
            Posterior::Gaussian { z_mean, z_log_var } => {
                kl_divergence(z_mean.clone(), z_log_var.clone())
            }
            Posterior::Point { z_mean } => z_mean.zeros_like().sum_dim(1).squeeze_dim(1),
        }
    }
}

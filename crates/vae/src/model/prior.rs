//! p(z), the prior the KL term and the likelihood bounds are taken against: the standard normal
//! N(0, I) of the lecture, or the VampPrior (Tomczak & Welling 2018), the mixture of the
//! posteriors of N learned pseudo-inputs, `p(z) = (1/N) sum_n q(z|u_n)`, which the encoder
//! itself shapes to where the data's codes are.
//!
//! Under the standard normal the KL term has its closed form ([`Posterior::kl`]); under a
//! mixture it has none, so it is the one-sample Monte Carlo estimate `log q(z|x) - log p(z)`
//! at the z the decoder received (unbiased, as the reconstruction term already is).

use super::Posterior;
use crate::device::to_host;
use crate::error::Result;
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// `ln(2 pi)`, the constant of every Gaussian log-density.
pub(crate) const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Mean and spread of the pseudo-inputs' initial pixel values (Tomczak & Welling's code:
/// N(0.05, 0.01), clipped to [0, 1] as every pseudo-input is).
const PSEUDO_INPUT_INIT: (f64, f64) = (0.05, 0.01);

/// Which prior a model is trained against (`--prior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Prior {
    /// N(0, I).
    #[default]
    Standard,
    /// The VampPrior: a mixture of the posteriors of `pseudo_inputs` learned images.
    Vamp,
}

impl Prior {
    /// Its name in reports, as samples are said to be drawn from it.
    pub fn name(self) -> &'static str {
        match self {
            Prior::Standard => "N(0, I)",
            Prior::Vamp => "the VampPrior",
        }
    }
}

/// The learned pseudo-inputs u_n of a VampPrior, `[N, pixels]`. They are kept as free weights
/// and clipped to the pixels' range [0, 1] where they are used (the hard-tanh of Tomczak &
/// Welling's code), so the encoder sees them as images.
#[derive(Module, Debug)]
pub struct VampPrior {
    pub pseudo_inputs: Param<Tensor<2>>,
}

impl VampPrior {
    /// `count` pseudo-inputs of `pixels` values, drawn from the device's generator (seeded
    /// with the model's weights, [`super::Vae::init`]).
    pub fn new(count: usize, pixels: usize, device: &Device) -> Self {
        let (mean, std) = PSEUDO_INPUT_INIT;
        let u = Tensor::random([count, pixels], Distribution::Normal(mean, std), device);
        VampPrior {
            pseudo_inputs: Param::from_tensor(u),
        }
    }

    /// The mixture's components: the posterior `encode` gives each pseudo-input (the model's
    /// encoder, passed in so that the prior does not depend on the architectures).
    pub fn components(&self, encode: impl FnOnce(Tensor<2>) -> Posterior) -> Components {
        let (z_mean, z_log_var) = self.posteriors(0..self.count(), encode);
        Components::new(z_mean, z_log_var)
    }

    /// How many pseudo-inputs the mixture has.
    pub fn count(&self) -> usize {
        self.pseudo_inputs.dims()[0]
    }

    /// `z_mean` and `z_log_var` of the pseudo-inputs `rows`, as `encode` gives them.
    pub fn posteriors(
        &self,
        rows: Range<usize>,
        encode: impl FnOnce(Tensor<2>) -> Posterior,
    ) -> (Tensor<2>, Tensor<2>) {
        let u = self
            .pseudo_inputs
            .val()
            .narrow(0, rows.start, rows.len())
            .clamp(0.0, 1.0);
        match encode(u) {
            Posterior::Gaussian { z_mean, z_log_var } => (z_mean, z_log_var),
            Posterior::Point { .. } => {
                unreachable!(
                    "a VampPrior is refused for a plain autoencoder (ModelConfig::validate)"
                )
            }
        }
    }
}

/// The N Gaussians of a VampPrior, in the form its log-density needs: with `p = exp(-log_var)`,
/// `log N(z; m, s^2) = -(z^2 . p - 2 z . (m p) + m^2 . p + sum log_var + D ln 2pi) / 2`, so the
/// log-density of every z against every component is two matrix products (`[rows, N]`),
/// never a `[rows, N, D]` tensor.
#[derive(Debug, Clone)]
pub struct Components {
    pub z_mean: Tensor<2>,
    pub z_log_var: Tensor<2>,
    /// `exp(-z_log_var)`, transposed: `[D, N]`.
    precision_t: Tensor<2>,
    /// `(z_mean * exp(-z_log_var))`, transposed: `[D, N]`.
    scaled_mean_t: Tensor<2>,
    /// The part of each component's log-density that does not depend on z, minus `ln N`:
    /// `[1, N]`.
    offset: Tensor<2>,
}

impl Components {
    pub(crate) fn new(z_mean: Tensor<2>, z_log_var: Tensor<2>) -> Self {
        let [count, latent] = z_mean.dims();
        let precision = z_log_var.clone().neg().exp();
        let scaled_mean = z_mean.clone() * precision.clone();
        let offset = (scaled_mean.clone() * z_mean.clone() + z_log_var.clone())
            .sum_dim(1)
            .add_scalar(latent as f64 * LN_2PI)
            .mul_scalar(-0.5)
            .sub_scalar((count as f64).ln())
            .transpose();
        Components {
            precision_t: precision.transpose(),
            scaled_mean_t: scaled_mean.transpose(),
            offset,
            z_mean,
            z_log_var,
        }
    }

    /// `log p(z)` of each row of `z` (`[rows, D]`): `[rows]`. The log-sum-exp over the
    /// components is taken against its detached maximum, which leaves the gradient as it is.
    pub fn log_prob(&self, z: Tensor<2>) -> Tensor<1> {
        let rows = z.dims()[0];
        let quadratic = z.clone().square().matmul(self.precision_t.clone())
            - z.matmul(self.scaled_mean_t.clone()).mul_scalar(2.0);
        let log_each = quadratic.mul_scalar(-0.5) + self.offset.clone();
        let max = log_each.clone().max_dim(1).detach();
        ((log_each - max.clone()).exp().sum_dim(1).log() + max).reshape([rows])
    }

    /// `n` draws from the mixture, on the host (`[n, D]`, row-major): a component chosen
    /// uniformly for each, then its Gaussian, from `rng`.
    pub fn sample(&self, rng: &mut ChaCha8Rng, n: usize) -> Result<Vec<f32>> {
        let [count, latent] = self.z_mean.dims();
        let z_mean = to_host(self.z_mean.clone())?;
        let z_log_var = to_host(self.z_log_var.clone())?;
        let mut z = Vec::with_capacity(n * latent);
        for _ in 0..n {
            let c = rng.random_range(0..count);
            let eps = crate::rng::normal_noise(rng, latent);
            let component = c * latent..(c + 1) * latent;
            z.extend(
                (z_mean[component.clone()].iter())
                    .zip(&z_log_var[component])
                    .zip(eps)
                    .map(|((m, lv), e)| m + (0.5 * lv).exp() * e),
            );
        }
        Ok(z)
    }
}

/// `log N(z; 0, I)` of each row of `z`: `[rows]`.
pub fn standard_log_prob(z: Tensor<2>) -> Tensor<1> {
    let [rows, latent] = z.dims();
    z.square()
        .sum_dim(1)
        .add_scalar(latent as f64 * LN_2PI)
        .mul_scalar(-0.5)
        .reshape([rows])
}

/// `log q(z|x)` of each row of `z` under the diagonal Gaussians of `z_mean` and `z_log_var`:
/// `[rows]`.
pub fn posterior_log_prob(z: Tensor<2>, z_mean: Tensor<2>, z_log_var: Tensor<2>) -> Tensor<1> {
    let [rows, latent] = z.dims();
    ((z - z_mean).square() * z_log_var.clone().neg().exp() + z_log_var)
        .sum_dim(1)
        .add_scalar(latent as f64 * LN_2PI)
        .mul_scalar(-0.5)
        .reshape([rows])
}

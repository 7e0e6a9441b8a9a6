//! The VAE objective: reconstruction (negative log-likelihood of x under the decoder, summed over
//! pixels) + beta * KL(q(z|x) || N(0, I)), averaged over the batch. [`vae_loss`] is the one
//! place that combines the two; training, evaluation and benchmarks all call it. Training may
//! minimise the importance-weighted bound instead ([`Objective::Iwae`], [`iwae_loss`]).

use super::{Components, Forward, Vae};
use crate::device::to_host;
use crate::error::Result;
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::{Add, Mul};
use vae_kernels::{bce_with_logits_rows, bce_with_logits_sum, fused_applies};

/// Likelihood of the pixels given the decoder's logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// True when the loss has the form of a negative log-likelihood, so the ELBO's and the
    /// IWAE estimator's formulas apply. Whether they bound a density also depends on the pixels
    /// (a Bernoulli on grey levels bounds none): see `TrainConfig::is_density`.
    pub fn has_likelihood_form(self) -> bool {
        !matches!(self, Reconstruction::Mse)
    }
}

/// What training minimises (`--objective`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// recon + beta * KL with one sample of z per image: the ELBO at beta = 1.
    #[default]
    Elbo,
    /// The importance-weighted bound of K samples of z per image (Burda et al. 2016): tighter
    /// than the ELBO for K > 1, and the same gradient estimator as the ELBO's for K = 1.
    Iwae,
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
/// On burn-flex the Bernoulli part runs as one fused kernel ([`vae_kernels`]).
pub fn reconstruction_loss(kind: Reconstruction, logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    let rows = |per_pixel: Tensor<2>| per_pixel.sum_dim(1).squeeze_dim(1);
    let bce = |logits: Tensor<2>, x| {
        if fused_applies(&logits) {
            bce_with_logits_rows(logits, x)
        } else {
            rows(bce_with_logits(logits, x))
        }
    };
    match kind {
        Reconstruction::Bce => bce(logits, x),
        Reconstruction::Cb => bce(logits.clone(), x) - rows(continuous_bernoulli_log_norm(logits)),
        Reconstruction::Mse => rows((burn::tensor::activation::sigmoid(logits) - x).square()),
    }
}

/// [`reconstruction_loss`] on the host, for inference passes that hold their images on the host
/// already: the loss of each row of `logits` (`pixels` wide) against `image_of(row)`. The IWAE
/// bound decodes K samples of every image; this spares it K copies of each image on the device.
/// The Bernoulli part is the fused kernel's ([`vae_kernels`]). Tested against
/// [`reconstruction_loss`] for every kind.
pub fn reconstruction_loss_on_host<'a>(
    kind: Reconstruction,
    logits: &[f32],
    pixels: usize,
    image_of: impl Fn(usize) -> &'a [f32],
) -> Vec<f32> {
    logits
        .chunks_exact(pixels.max(1))
        .enumerate()
        .map(|(row, l)| {
            let x = image_of(row);
            match kind {
                Reconstruction::Bce => bce_with_logits_sum(l, x),
                Reconstruction::Cb => {
                    bce_with_logits_sum(l, x)
                        - l.iter()
                            .map(|&l| continuous_bernoulli_log_norm_of(l))
                            .sum::<f32>()
                }
                Reconstruction::Mse => l
                    .iter()
                    .zip(x)
                    .map(|(&l, &x)| (1.0 / (1.0 + (-l).exp()) - x).powi(2))
                    .sum(),
            }
        })
        .collect()
}

/// [`continuous_bernoulli_log_norm`] of one logit.
fn continuous_bernoulli_log_norm_of(l: f32) -> f32 {
    let a = l.abs();
    if a < CB_TAYLOR_BELOW {
        let s2 = a * a;
        (s2 / 12.0 - s2 * s2 / 720.0).ln_1p() + std::f32::consts::LN_2
    } else {
        a.ln() - (a / 2.0).tanh().ln()
    }
}

/// The image a likelihood's logits stand for: the mean pixel value. For Bernoulli and squared
/// error that is sigmoid(l); for the continuous Bernoulli it is `sigmoid(l) / tanh(l/2) - 1/l`
/// (0.5 + l/12 near 0), which differs from sigmoid(l) (Loaiza-Ganem & Cunningham 2019).
pub fn mean_pixels(kind: Reconstruction, logits: Tensor<2>) -> Result<Vec<f32>> {
    Ok(to_host(logits)?
        .into_iter()
        .map(|l| {
            let lambda = 1.0 / (1.0 + (-l).exp());
            match kind {
                Reconstruction::Cb if l.abs() < 1e-3 => 0.5 + l / 12.0,
                Reconstruction::Cb => lambda / (l / 2.0).tanh() - 1.0 / l,
                Reconstruction::Bce | Reconstruction::Mse => lambda,
            }
        })
        .collect())
}

/// The objective's parts, always together: reconstruction, KL and `total = recon + beta * kl`,
/// the number the optimiser minimises. Batch means as one-element tensors while training
/// (`Loss<Tensor<1>>`), numbers per image in reports (`Loss<f64>`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Loss<T = f64> {
    pub recon: T,
    /// Zero for a plain autoencoder.
    pub kl: T,
    pub total: T,
}

impl<T: Clone + Add<Output = T> + Mul<f64, Output = T>> Loss<T> {
    /// The beta-VAE combination of the two parts.
    pub fn new(recon: T, kl: T, beta: f64) -> Self {
        Loss {
            total: recon.clone() + kl.clone() * beta,
            recon,
            kl,
        }
    }
}

impl<T> Loss<T> {
    /// Applies `f` to each of the three values.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Loss<U> {
        Loss {
            recon: f(self.recon),
            kl: f(self.kl),
            total: f(self.total),
        }
    }
}

impl Loss<Tensor<1>> {
    /// `[recon, kl, total]` as one tensor, so that a single device read fetches all three.
    pub fn values(self) -> Tensor<1> {
        Tensor::cat(vec![self.recon, self.kl, self.total], 0)
    }

    /// The three numbers, in one device read.
    pub fn to_host(self) -> Result<Loss<f64>> {
        Ok(Loss::from_values(&to_host(self.values())?))
    }
}

impl Loss<f64> {
    /// The inverse of [`Loss::values`]: `[recon, kl, total]`.
    pub fn from_values(values: &[f32]) -> Self {
        Loss {
            recon: values[0] as f64,
            kl: values[1] as f64,
            total: values[2] as f64,
        }
    }
}

impl Add for Loss<f64> {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Loss {
            recon: self.recon + other.recon,
            kl: self.kl + other.kl,
            total: self.total + other.total,
        }
    }
}

/// The loss a training step minimises for `x`'s rows, summed over them and divided by `batch`
/// (as [`vae_loss`]): the beta-VAE loss, or the IWAE bound of as many samples per image as
/// `eps` holds (`[rows, samples * latent]`, one row of noise per image so that the rows split
/// between shards and ranks as the images do). `components` are the VampPrior's
/// ([`Vae::prior_components`]; `None` for the standard normal prior).
pub fn training_loss(
    model: &Vae,
    components: Option<&Components>,
    x: Tensor<2>,
    condition: Option<Tensor<2>>,
    eps: Option<Tensor<2>>,
    (kind, objective, beta): (Reconstruction, Objective, f64),
    batch: usize,
) -> Loss<Tensor<1>> {
    match (objective, eps) {
        (Objective::Iwae, Some(eps)) => {
            iwae_loss(model, components, x, condition, eps, kind, batch)
        }
        // A plain autoencoder draws no noise; its runs refuse the IWAE objective.
        (Objective::Elbo, eps) | (Objective::Iwae, eps @ None) => {
            let forward = model.forward_against(x.clone(), condition, eps, components);
            vae_loss(&forward, x, kind, beta, batch)
        }
    }
}

/// The negative IWAE bound of `x`'s rows, summed over them and divided by `batch`:
/// `-log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)`, `z_k = z_mean + exp(z_log_var / 2) eps_k`,
/// K = `eps`'s width / the latent size. The log-sum-exp is taken against its detached maximum,
/// which leaves its gradient as it is: each sample's gradient weighted by its normalised weight.
/// In [`Loss`]: `total` is the bound, `recon` and `kl` the means over the K samples of
/// `-log p(x|z_k)` and `log q(z_k|x) - log p(z_k)` (their sum is the K-sample ELBO, >= total).
/// `components` are the VampPrior's, as in [`training_loss`].
pub fn iwae_loss(
    model: &Vae,
    components: Option<&Components>,
    x: Tensor<2>,
    condition: Option<Tensor<2>>,
    eps: Tensor<2>,
    kind: Reconstruction,
    batch: usize,
) -> Loss<Tensor<1>> {
    let posterior = model.encode(x.clone(), condition.clone());
    let [rows, latent] = posterior.dims();
    let samples = eps.dims()[1] / latent.max(1);
    // Each row K times, one after the other: row i's samples are rows i*K..(i+1)*K.
    let repeat = |t: Tensor<2>| {
        let cols = t.dims()[1];
        t.unsqueeze_dim::<3>(1)
            .repeat_dim(1, samples)
            .reshape([rows * samples, cols])
    };
    let z_mean = repeat(posterior.z_mean().clone());
    let z_log_var = repeat(
        posterior
            .z_log_var()
            .expect("the IWAE objective is refused for a plain autoencoder")
            .clone(),
    );
    let eps = eps.reshape([rows * samples, latent]);
    let z = super::reparameterize(z_mean, z_log_var.clone(), eps.clone());
    let logits = model.decode(z.clone(), condition.map(repeat));
    let recon = reconstruction_loss(kind, logits, repeat(x));
    // log q(z|x) - log p(z) per sample, log q written with eps: (z - m)^2 / s^2 = eps^2.
    let log_q = (eps.square() + z_log_var)
        .sum_dim(1)
        .squeeze_dim::<1>(1)
        .add_scalar(latent as f64 * super::prior::LN_2PI)
        .mul_scalar(-0.5);
    let kl = log_q - model.log_prior(z, components);
    let log_w = (recon.clone() + kl.clone()).neg().reshape([rows, samples]);
    let max = log_w.clone().max_dim(1).detach();
    let log_mean_w = (log_w - max.clone()).exp().sum_dim(1).log() + max - (samples as f64).ln();
    let per_batch = |t: Tensor<1>, n: usize| t.sum().div_scalar((batch.max(1) * n) as f64);
    Loss {
        recon: per_batch(recon, samples),
        kl: per_batch(kl, samples),
        total: per_batch(log_mean_w.neg().reshape([rows]), 1),
    }
}

/// The beta-VAE loss of `x`'s rows, summed over them and divided by `batch`: the decoder's
/// reconstruction of `x` and the KL of the posterior it was drawn from. With `batch` the
/// number of rows it is the batch mean; with the size of a whole batch of which these rows are
/// a part (a shard, an MPI rank), the parts add up to the batch mean, and a part without rows
/// adds exactly 0 (its mean would be 0/0).
pub fn vae_loss(
    forward: &Forward,
    x: Tensor<2>,
    kind: Reconstruction,
    beta: f64,
    batch: usize,
) -> Loss<Tensor<1>> {
    let per_batch = |per_image: Tensor<1>| per_image.sum().div_scalar(batch.max(1) as f64);
    let recon = per_batch(reconstruction_loss(kind, forward.logits.clone(), x));
    Loss::new(recon, per_batch(forward.kl.clone()), beta)
}

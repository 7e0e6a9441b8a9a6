//! Latent space: every image's posterior on the host ([`Latents`], made by the one batched
//! [`encode`] that evaluation, pictures, sweeps and the explorer share), paths between latents
//! ([`interpolate`]) and latents as CSV ([`csv`]).

pub mod csv;
pub mod interpolate;

use crate::data::{Dataset, Inputs};
use crate::device::{conditions_to_device, narrow_rows, to_device, to_host};
use crate::error::Result;
use crate::model::{Posterior, Vae};
use burn::prelude::*;

/// The most images per forward pass when encoding many; fewer where a pass of 500 would take
/// more than [`crate::model::memory::INFERENCE_BYTES`] ([`Vae::rows_per_pass`]).
pub const ENCODE_BATCH: usize = 500;

/// A latent dimension is active when the variance of its `z_mean` over the data exceeds this
/// (Burda et al. 2016).
pub const ACTIVE_UNIT_THRESHOLD: f64 = 0.01;

/// The posterior of each of a set of images, on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Latents {
    pub latent_dim: usize,
    /// `[images, latent_dim]`, row-major.
    pub z_mean: Vec<f32>,
    /// `[images, latent_dim]`; `None` for a plain autoencoder.
    pub z_log_var: Option<Vec<f32>>,
    /// KL(q(z|x) || N(0, I)) per dimension summed over the images, from
    /// [`Posterior::kl_per_dim`]; `None` for a plain autoencoder and under a VampPrior.
    kl_sums: Option<Vec<f64>>,
}

impl Latents {
    /// No images yet.
    pub fn empty(latent_dim: usize) -> Self {
        Latents {
            latent_dim,
            z_mean: Vec::new(),
            z_log_var: None,
            kl_sums: None,
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.z_mean.len() / self.latent_dim.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.z_mean.is_empty()
    }

    /// `z_mean` of image `i`.
    pub fn z_mean_of(&self, i: usize) -> &[f32] {
        &self.z_mean[i * self.latent_dim..(i + 1) * self.latent_dim]
    }

    /// Adds one batch's posterior, and its KL per dimension when the prior is N(0, I)
    /// (`per_dim_kl`): a VampPrior's KL has no per-dimension form.
    fn push(&mut self, posterior: &Posterior, per_dim_kl: bool) -> Result<()> {
        self.z_mean.extend(to_host(posterior.z_mean().clone())?);
        if let Some(z_log_var) = posterior.z_log_var() {
            if per_dim_kl {
                let kl = to_host(posterior.kl_per_dim().sum_dim(0))?;
                let sums = self.kl_sums.get_or_insert_with(|| vec![0.0; kl.len()]);
                for (s, v) in sums.iter_mut().zip(kl) {
                    *s += v as f64;
                }
            }
            self.z_log_var
                .get_or_insert_with(Vec::new)
                .extend(to_host(z_log_var.clone())?);
        }
        Ok(())
    }

    /// Mean KL of each latent dimension over the images, in nats (`None` for a plain
    /// autoencoder, which has no KL term, and under a VampPrior, whose KL does not split into
    /// dimensions).
    pub fn kl_per_dim(&self) -> Option<Vec<f64>> {
        let n = self.len().max(1) as f64;
        self.kl_sums
            .as_ref()
            .map(|sums| sums.iter().map(|s| s / n).collect())
    }

    /// Variance of each dimension's `z_mean` over the images.
    pub fn variances(&self) -> Vec<f64> {
        column_variances(&self.z_mean, self.latent_dim)
    }

    /// Dimensions whose `z_mean` varies by more than [`ACTIVE_UNIT_THRESHOLD`]: the ones the
    /// decoder can use.
    pub fn active_units(&self) -> usize {
        self.active_dims().len()
    }

    /// The active dimensions themselves (see [`Latents::active_units`]).
    pub fn active_dims(&self) -> Vec<usize> {
        self.variances()
            .into_iter()
            .enumerate()
            .filter(|&(_, v)| v > ACTIVE_UNIT_THRESHOLD)
            .map(|(d, _)| d)
            .collect()
    }

    /// Latent dimensions, most informative first, with their score: mean KL for a VAE, variance
    /// of `z_mean` where there is no KL per dimension ([`Latents::kl_per_dim`]). Ties keep
    /// dimension order.
    pub fn dims_by_information(&self) -> Vec<(usize, f64)> {
        let score = self.kl_per_dim().unwrap_or_else(|| self.variances());
        let mut dims: Vec<(usize, f64)> = score.into_iter().enumerate().collect();
        dims.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        dims
    }
}

/// Variance of each column of a row-major `[rows, cols]` matrix (over the rows).
pub fn column_variances(values: &[f32], cols: usize) -> Vec<f64> {
    let n = (values.len() / cols.max(1)).max(1) as f64;
    (0..cols)
        .map(|d| {
            let column = values.iter().skip(d).step_by(cols).map(|&v| v as f64);
            let mean = column.clone().sum::<f64>() / n;
            column.map(|v| (v - mean).powi(2)).sum::<f64>() / n
        })
        .collect()
}

/// Encodes `count` images, a bounded pass at a time ([`Vae::rows_per_pass`], at most
/// [`ENCODE_BATCH`]) split over the CPU's shards, whose pixels (and conditions, for a
/// conditional model) `inputs` gives for a range of indices (`pixels` values per image): the
/// one encode loop of the project. Its memory is one pass plus the codes, whatever `count` is.
pub fn encode_batches(
    model: &Vae,
    count: usize,
    pixels: usize,
    device: &Device,
    mut inputs: impl FnMut(&[usize]) -> Result<Inputs>,
) -> Result<Latents> {
    let indices: Vec<usize> = (0..count).collect();
    let mut latents = Latents::empty(model.latent_dim());
    for chunk in indices.chunks(model.rows_per_pass(ENCODE_BATCH)) {
        crate::interrupt::check()?;
        let Inputs {
            pixels: x,
            conditions,
        } = inputs(chunk)?;
        let x = to_device(x, chunk.len(), pixels, device);
        let y = conditions_to_device(conditions, chunk.len(), device);
        let posteriors = crate::parallel::over_rows(device, chunk.len(), |rows| {
            model.encode(
                x.clone().narrow(0, rows.start, rows.len()),
                narrow_rows(&y, &rows),
            )
        })?;
        for posterior in &posteriors {
            latents.push(posterior, model.prior.is_none())?;
        }
    }
    Ok(latents)
}

/// The posterior of every image of `data` (with its condition, for a conditional model).
pub fn encode(model: &Vae, data: &Dataset, device: &Device) -> Result<Latents> {
    encode_batches(model, data.len(), data.pixels(), device, |chunk| {
        data.inputs(chunk)
    })
}

/// The posterior of `inputs`, `pixels` values per image, concatenated (and a condition row
/// per image for a conditional model).
pub fn encode_inputs(
    model: &Vae,
    inputs: &Inputs,
    pixels: usize,
    device: &Device,
) -> Result<Latents> {
    let count = inputs.pixels.len() / pixels.max(1);
    let width = |values: &[f32]| values.len() / count.max(1);
    encode_batches(model, count, pixels, device, |chunk| {
        let rows = |values: &[f32]| {
            let w = width(values);
            values[chunk[0] * w..(chunk[chunk.len() - 1] + 1) * w].to_vec()
        };
        Ok(Inputs {
            pixels: rows(&inputs.pixels),
            conditions: inputs.conditions.as_deref().map(rows),
        })
    })
}

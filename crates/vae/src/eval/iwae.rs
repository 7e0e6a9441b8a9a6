//! The importance-weighted bound on `-log p(x)` (Burda et al. 2016): K samples of q(z|x) per
//! image, each weighted by `p(x|z) p(z) / q(z|x)`.

use crate::data::Dataset;
use crate::device::{is_cpu_device, narrow_rows, to_device, to_host};
use crate::error::{Error, Result};
use crate::latent;
use crate::model::Vae;
use crate::model::loss::{Reconstruction, reconstruction_loss, reconstruction_loss_on_host};
use crate::model::prior::LN_2PI;
use crate::rng::{normal_noise, rng, stream};
use burn::prelude::*;
use burn::tensor::{Int, TensorData};
use std::ops::Range;

/// The most decoder rows per pass (images x samples); fewer where the model's pass would take
/// more than [`crate::model::memory::INFERENCE_BYTES`] ([`Vae::rows_per_pass`]).
const ROWS_PER_PASS: usize = 5000;

/// The logits a shard decodes at once before it takes their loss on the host: they are still
/// in the core's L2 cache (1-2 MB on the machines we measure) when the loss reads them.
/// Decoding a shard's whole part of a pass at once (2,500 rows of 784 logits for the MLP,
/// 7.8 MB) sent them to memory and back: blocks of 128-1,250 rows were 6-9% faster for the
/// IWAE of the MLP (2 cores, AVX2 and AVX-512, alternated runs); the conv models' parts are
/// smaller than a block and stay whole.
const LOSS_BLOCK_BYTES: usize = 1024 * 1024;

/// Rows of `pixels` logits in [`LOSS_BLOCK_BYTES`] (at least 1).
fn loss_block_rows(pixels: usize) -> usize {
    (LOSS_BLOCK_BYTES / (4 * pixels.max(1))).max(1)
}

/// `rows` cut into consecutive blocks of `size` rows (the last may be shorter).
fn blocks(rows: Range<usize>, size: usize) -> impl Iterator<Item = Range<usize>> {
    rows.clone()
        .step_by(size)
        .map(move |start| start..rows.end.min(start + size))
}

/// Where each decoded row's reconstruction loss is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossSide {
    /// On the host, where the images are: they are never copied K times (the CPU).
    Host,
    /// On the device, which then sends back one number per row instead of the row's logits
    /// (a GPU).
    Device,
}

impl LossSide {
    pub fn for_device(device: &Device) -> Self {
        if is_cpu_device(device) {
            LossSide::Host
        } else {
            LossSide::Device
        }
    }
}

/// Refuses `samples` importance samples per image that cannot fit in memory: an image's samples
/// are drawn at once (their noise, z and log-weight), however many passes decode them. Checked
/// before anything is allocated or loaded.
pub fn check_samples(model: &Vae, samples: usize) -> Result<()> {
    let latent = model.latent_dim() as f64;
    crate::model::memory::check_size(
        &format!("the importance-weighted bound with {samples} samples per image"),
        samples as f64 * (8.0 * latent + 8.0),
        "use fewer --iw-samples (1000 is the default)",
    )
}

/// `-log p(x)` estimated as `-log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)`, `z_k ~ q(z|x)`,
/// averaged over images. Log-sum-exp in f64 on the host.
pub fn nll(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    samples: usize,
    device: &Device,
    seed: u64,
) -> Result<f64> {
    let side = LossSide::for_device(device);
    nll_with(model, data, kind, samples, device, seed, side)
}

/// [`nll`] with the reconstruction loss taken on `side` (the same bound either way).
pub fn nll_with(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    samples: usize,
    device: &Device,
    seed: u64,
    side: LossSide,
) -> Result<f64> {
    check_samples(model, samples)?;
    let mut noise_rng = rng(seed, stream::IWAE_NOISE);
    // The weights do not change during the pass: the VampPrior's components are computed once.
    let components = model.prior_components();
    let pixels = data.pixels();
    let decode_rows = model.rows_per_pass(ROWS_PER_PASS);
    let per_pass = (decode_rows / samples).max(1);
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut total = 0f64;
    for chunk in indices.chunks(per_pass) {
        let latents = latent::encode_batches(model, chunk.len(), pixels, device, |part| {
            data.inputs(&part.iter().map(|&i| chunk[i]).collect::<Vec<_>>())
        })?;
        let log_vars = latents
            .z_log_var
            .as_ref()
            .ok_or_else(|| Error::Config("a plain autoencoder has no likelihood bound".into()))?;
        let latent = latents.latent_dim;
        let rows = chunk.len() * samples;
        let mut z = Vec::with_capacity(rows * latent);
        // log p(z) - log q(z|x) per row. Under N(0, I) the Gaussian constants cancel:
        // -z^2/2 - (-(z - m)^2 / (2 s^2) - log s) = -z^2/2 + eps^2/2 + log_var/2; a VampPrior's
        // log p(z) + D ln(2 pi) / 2 is added on the device below.
        let mut log_w = Vec::with_capacity(rows);
        // The main thread draws the noise in order while the shards wait (5% of the bound of
        // the MLP): one draw of all of an image's samples, and its `exp(log_var / 2)` once.
        for i in 0..chunk.len() {
            let m = latents.z_mean_of(i);
            let lv = &log_vars[i * latent..(i + 1) * latent];
            let std: Vec<f32> = lv.iter().map(|&lv| (0.5 * lv).exp()).collect();
            let noise = normal_noise(&mut noise_rng, samples * latent);
            for eps in noise.chunks_exact(latent) {
                let mut w = 0f64;
                for d in 0..latent {
                    let zd = m[d] + std[d] * eps[d];
                    z.push(zd);
                    let log_p = match components {
                        Some(_) => 0.0,
                        None => -(zd as f64).powi(2),
                    };
                    w += 0.5 * (log_p + (eps[d] as f64).powi(2) + lv[d] as f64);
                }
                log_w.push(w);
            }
        }
        let images: Vec<_> = chunk
            .iter()
            .map(|&i| data.image(i))
            .collect::<Result<_>>()?;
        let images_on_device = (side == LossSide::Device)
            .then(|| to_device(images.concat(), chunk.len(), pixels, device));
        // A conditional model decodes each image's samples with the image's condition.
        let conditions = data.condition_rows(chunk);
        let dim = data.condition_dim();
        // One image's K samples may need several passes when K exceeds a pass.
        for start in (0..rows).step_by(decode_rows) {
            crate::interrupt::check()?;
            let n = decode_rows.min(rows - start);
            let z = to_device(
                z[start * latent..(start + n) * latent].to_vec(),
                n,
                latent,
                device,
            );
            if let Some(c) = &components {
                let constant = 0.5 * latent as f64 * LN_2PI;
                let log_p = to_host(c.log_prob(z.clone()))?;
                for (w, p) in log_w[start..start + n].iter_mut().zip(log_p) {
                    *w += p as f64 + constant;
                }
            }
            let y_rep = conditions.as_ref().map(|y| {
                let rows = (start..start + n).flat_map(|row| {
                    let image = row / samples;
                    y[image * dim..(image + 1) * dim].iter().copied()
                });
                to_device(rows.collect(), n, dim, device)
            });
            let losses = match &images_on_device {
                Some(x) => {
                    let which = (start..start + n)
                        .map(|row| (row / samples) as i64)
                        .collect();
                    let which = Tensor::<1, Int>::from_data(TensorData::new(which, [n]), device);
                    let logits = model.decode(z, y_rep);
                    to_host(reconstruction_loss(
                        kind,
                        logits,
                        x.clone().select(0, which),
                    ))?
                }
                None => {
                    let parts = crate::parallel::over_rows(device, n, |range| {
                        let mut losses = Vec::with_capacity(range.len());
                        for block in blocks(range, loss_block_rows(pixels)) {
                            let logits = to_host(model.decode(
                                z.clone().narrow(0, block.start, block.len()),
                                narrow_rows(&y_rep, &block),
                            ))?;
                            let first = start + block.start;
                            losses.extend(reconstruction_loss_on_host(
                                kind,
                                &logits,
                                pixels,
                                |r| &images[(first + r) / samples],
                            ));
                        }
                        Ok(losses)
                    })?;
                    parts.into_iter().collect::<Result<Vec<_>>>()?.concat()
                }
            };
            for (w, r) in log_w[start..start + n].iter_mut().zip(losses) {
                *w -= r as f64;
            }
        }
        for image_w in log_w.chunks(samples) {
            let max = image_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + image_w.iter().map(|w| (w - max).exp()).sum::<f64>().ln();
            total -= lse - (samples as f64).ln();
        }
    }
    Ok(total / data.len() as f64)
}

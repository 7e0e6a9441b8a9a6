//! `vae eval`: test ELBO, the importance-weighted NLL bound (IWAE), active units and KL per
//! latent dimension; on data sets with known factors, the disentanglement metrics.

pub mod disentanglement;

use crate::data::Dataset;
use crate::data::factors::{FactorSource, render_grid};
use crate::device::{to_device, to_host};
use crate::error::{Error, Result};
use crate::model::Vae;
use crate::model::loss::{
    Reconstruction, kl_divergence, kl_divergence_per_dim, reconstruction_loss,
};
use crate::train::{normal_noise, rng, stream};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Images per forward pass during evaluation.
const EVAL_BATCH: usize = 500;
/// Decoder rows per pass of the importance-weighted bound (images x samples).
const IW_ROWS: usize = 5000;
/// A latent dimension is active when the variance of its z_mean over the data exceeds this
/// (Burda et al. 2016).
pub const ACTIVE_UNIT_THRESHOLD: f64 = 0.01;

/// Per-image test loss, as reported after each epoch.
#[derive(Debug, Clone, Copy)]
pub struct TestLoss {
    pub recon: f64,
    pub kl: f64,
    /// `recon + beta * kl`.
    pub total: f64,
}

/// Test loss with one reparameterised sample per image, drawn from a fixed stream so that the
/// numbers of different epochs compare like with like.
pub fn test_loss(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    beta: f64,
    device: &Device,
    seed: u64,
) -> Result<TestLoss> {
    test_loss_with(model, data, kind, beta, device, Some(seed))
}

/// Test loss with z = z_mean (no sampling): deterministic, the number to compare with another
/// implementation of the same model (for a plain autoencoder it equals [`test_loss`]).
pub fn test_loss_at_mean(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    beta: f64,
    device: &Device,
) -> Result<TestLoss> {
    test_loss_with(model, data, kind, beta, device, None)
}

/// Test loss with z drawn from the stream of `seed`, or z = z_mean without one.
fn test_loss_with(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    beta: f64,
    device: &Device,
    seed: Option<u64>,
) -> Result<TestLoss> {
    let mut noise_rng = seed.map(|s| rng(s, stream::TEST_NOISE));
    let (mut recon, mut kl) = (0f64, 0f64);
    let pixels = data.pixels();
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(EVAL_BATCH) {
        let n = chunk.len();
        let x = to_device(data.gather(chunk)?, n, pixels, device);
        let (z_mean, z_log_var) = model.encode(x.clone());
        let z = match (&z_log_var, &mut noise_rng) {
            (Some(lv), Some(noise_rng)) => {
                let latent = z_mean.dims()[1];
                let eps = to_device(normal_noise(noise_rng, n * latent), n, latent, device);
                crate::model::reparameterize(z_mean.clone(), lv.clone(), eps)
            }
            _ => z_mean.clone(),
        };
        let r = reconstruction_loss(kind, model.decode(z), x);
        recon += to_host(r.sum())?[0] as f64;
        if let Some(lv) = z_log_var {
            kl += to_host(kl_divergence(z_mean, lv).sum())?[0] as f64;
        }
    }
    let n = data.len().max(1) as f64;
    let (recon, kl) = (recon / n, kl / n);
    Ok(TestLoss {
        recon,
        kl,
        total: recon + beta * kl,
    })
}

/// The full evaluation of a model on a data set; all losses in nats per image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    /// Evidence lower bound E_q[log p(x|z)] - KL, per image (higher is better). `None` for a
    /// plain autoencoder or a non-likelihood loss.
    pub elbo: Option<f64>,
    /// Reconstruction term, -E_q[log p(x|z)] (or squared error for `mse`).
    pub recon: f64,
    /// KL(q(z|x) || p(z)) (0 for a plain autoencoder).
    pub kl: f64,
    /// Importance-weighted estimate of -log p(x) (lower is better), `None` where undefined.
    pub nll_iw: Option<f64>,
    pub iw_samples: usize,
    /// Dimensions whose z_mean varies over the data by more than 0.01.
    pub active_units: usize,
    /// Mean KL of each latent dimension (empty for a plain autoencoder).
    pub kl_per_dim: Vec<f64>,
    /// Number of images evaluated.
    pub images: usize,
    pub loss: Reconstruction,
    /// `recon + beta * KL` with z = z_mean instead of a sample: deterministic, what another
    /// implementation of the same weights must reproduce (see `vae import --pytorch`).
    #[serde(default)]
    pub loss_at_mean: Option<f64>,
    /// MIG, beta-VAE and FactorVAE metrics, for data sets with known factors.
    #[serde(default)]
    pub disentanglement: Option<disentanglement::Disentanglement>,
}

/// The disentanglement metrics of `model`'s z_mean on a factor grid: every observation the
/// metrics ask for is drawn from the grid and encoded.
pub fn disentanglement(
    model: &Vae,
    source: &dyn FactorSource,
    device: &Device,
    options: disentanglement::MetricOptions,
) -> Result<disentanglement::Disentanglement> {
    let pixels = source.height() * source.width();
    let mut represent = |rows: &[Vec<usize>]| -> Result<Vec<Vec<f64>>> {
        let indices: Vec<usize> = rows.iter().map(|r| source.index_of(r)).collect();
        let mut codes = Vec::with_capacity(rows.len());
        for chunk in indices.chunks(EVAL_BATCH) {
            let x = to_device(render_grid(source, chunk), chunk.len(), pixels, device);
            let z_mean = to_host(model.encode(x).0)?;
            let latent = z_mean.len() / chunk.len();
            codes.extend(
                z_mean
                    .chunks(latent)
                    .map(|z| z.iter().map(|&v| v as f64).collect()),
            );
        }
        Ok(codes)
    };
    disentanglement::evaluate(
        source.factor_names(),
        source.factor_sizes(),
        &mut represent,
        options,
    )
}

/// Evaluates `model` on `data`: ELBO with one sample, the IWAE bound with `iw_samples`
/// samples per image (skipped when 0), active units and KL per dimension.
pub fn evaluate(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    iw_samples: usize,
    device: &Device,
    seed: u64,
) -> Result<EvalReport> {
    if data.is_empty() {
        return Err(Error::Data("no images to evaluate".into()));
    }
    let test = test_loss(model, data, kind, 1.0, device, seed)?;
    let pixels = data.pixels();
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut z_means: Vec<f32> = Vec::new();
    let mut kl_sums: Vec<f64> = Vec::new();
    let mut latent = 0;
    let mut vae = false;
    for chunk in indices.chunks(EVAL_BATCH) {
        let n = chunk.len();
        let x = to_device(data.gather(chunk)?, n, pixels, device);
        let (z_mean, z_log_var) = model.encode(x);
        latent = z_mean.dims()[1];
        if let Some(lv) = z_log_var {
            vae = true;
            let per_dim = to_host(kl_divergence_per_dim(z_mean.clone(), lv).sum_dim(0))?;
            kl_sums.resize(latent, 0.0);
            for (s, v) in kl_sums.iter_mut().zip(per_dim) {
                *s += v as f64;
            }
        }
        z_means.extend(to_host(z_mean)?);
    }
    let n = data.len() as f64;
    let active_units = column_variances(&z_means, latent)
        .into_iter()
        .filter(|&var| var > ACTIVE_UNIT_THRESHOLD)
        .count();
    let likelihood = vae && kind.is_likelihood();
    let nll_iw = if likelihood && iw_samples > 0 {
        Some(iwae_nll(model, data, kind, iw_samples, device, seed)?)
    } else {
        None
    };
    Ok(EvalReport {
        elbo: likelihood.then_some(-(test.recon + test.kl)),
        recon: test.recon,
        kl: test.kl,
        nll_iw,
        iw_samples: if nll_iw.is_some() { iw_samples } else { 0 },
        active_units,
        kl_per_dim: kl_sums.into_iter().map(|s| s / n).collect(),
        images: data.len(),
        loss: kind,
        loss_at_mean: None,
        disentanglement: None,
    })
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

/// What `vae eval` measures.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    /// Importance samples per image for the NLL bound (0 skips it).
    pub iw_samples: usize,
    /// Evaluate the first N test images only.
    pub limit: Option<usize>,
    /// Points of the disentanglement metrics (factor data sets only).
    pub metrics: disentanglement::MetricOptions,
}

/// Evaluates a trained run on its test split, adds the disentanglement metrics when its data
/// set has known factors, and saves the report as the run's `eval.json`.
pub fn evaluate_run(run: &crate::run::Run, options: EvalOptions) -> Result<EvalReport> {
    if options.limit == Some(0) {
        return Err(Error::Config("--limit must be at least 1 image".into()));
    }
    let mut test = run.test_data()?;
    if let Some(n) = options.limit {
        test.truncate(n);
    }
    let mut report = evaluate(
        &run.model,
        &test,
        run.config.loss(),
        options.iw_samples,
        &run.device,
        run.config.seed,
    )?;
    report.loss_at_mean = Some(
        test_loss_at_mean(
            &run.model,
            &test,
            run.config.loss(),
            run.config.beta,
            &run.device,
        )?
        .total,
    );
    if let Some(factors) = &test.factors {
        report.disentanglement = Some(disentanglement(
            &run.model,
            factors.source.as_ref(),
            &run.device,
            options.metrics,
        )?);
    }
    let text = serde_json::to_string(&report).expect("report serialises");
    crate::fsutil::write_atomic(&run.path(crate::run::EVAL_FILE), text.as_bytes())?;
    Ok(report)
}

/// `-log p(x)` estimated as `-log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)`, `z_k ~ q(z|x)`
/// (Burda et al. 2016), averaged over images. Log-sum-exp in f64 on the host.
pub fn iwae_nll(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    samples: usize,
    device: &Device,
    seed: u64,
) -> Result<f64> {
    let mut noise_rng = rng(seed, stream::IWAE_NOISE);
    let pixels = data.pixels();
    let per_pass = (IW_ROWS / samples).max(1);
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut total = 0f64;
    for chunk in indices.chunks(per_pass) {
        let x = to_device(data.gather(chunk)?, chunk.len(), pixels, device);
        let (z_mean, z_log_var) = model.encode(x);
        let z_log_var = z_log_var
            .ok_or_else(|| Error::Config("a plain autoencoder has no likelihood bound".into()))?;
        let latent = z_mean.dims()[1];
        let means = to_host(z_mean)?;
        let log_vars = to_host(z_log_var)?;
        let rows = chunk.len() * samples;
        let mut z = Vec::with_capacity(rows * latent);
        let mut x_rep = Vec::with_capacity(rows * pixels);
        // log p(z) - log q(z|x) per row; the Gaussian constants cancel:
        // -z^2/2 - (-(z - m)^2 / (2 s^2) - log s) = -z^2/2 + eps^2/2 + log_var/2.
        let mut log_w = Vec::with_capacity(rows);
        for (i, &image) in chunk.iter().enumerate() {
            let m = &means[i * latent..(i + 1) * latent];
            let lv = &log_vars[i * latent..(i + 1) * latent];
            for _ in 0..samples {
                let eps = normal_noise(&mut noise_rng, latent);
                let mut w = 0f64;
                for d in 0..latent {
                    let zd = m[d] + (0.5 * lv[d]).exp() * eps[d];
                    z.push(zd);
                    w += 0.5 * (-(zd as f64).powi(2) + (eps[d] as f64).powi(2) + lv[d] as f64);
                }
                log_w.push(w);
                x_rep.extend_from_slice(&data.image(image)?);
            }
        }
        let logits = model.decode(to_device(z, rows, latent, device));
        let nll = to_host(reconstruction_loss(
            kind,
            logits,
            to_device(x_rep, rows, pixels, device),
        ))?;
        for (w, r) in log_w.iter_mut().zip(nll) {
            *w -= r as f64;
        }
        for image_w in log_w.chunks(samples) {
            let max = image_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + image_w.iter().map(|w| (w - max).exp()).sum::<f64>().ln();
            total -= lse - (samples as f64).ln();
        }
    }
    Ok(total / data.len() as f64)
}

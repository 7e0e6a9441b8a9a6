//! Seeing the model: samples from N(0, I), reconstructions, interpolations, the latent map,
//! the 2-d manifold and loss curves, written as PNG into the run folder, plus `report.html`.

pub mod grid;
pub mod plot;
pub mod projection;
pub mod report;
pub mod sweep;

use crate::data::Dataset;
use crate::device::{to_device, to_host};
use crate::error::Result;
use crate::model::Vae;
use crate::model::loss::Reconstruction;
use crate::run::Run;
use crate::train::{normal_noise, rng, stream};
use burn::prelude::*;
use grid::{GridLayout, save_grid};
use projection::LatentProjection;
use std::path::PathBuf;

/// Picture file names in a run folder.
pub const SAMPLES_PNG: &str = "samples.png";
pub const RECONSTRUCTIONS_PNG: &str = "reconstructions.png";
pub const INTERPOLATE_LINEAR_PNG: &str = "interpolate_linear.png";
pub const INTERPOLATE_SLERP_PNG: &str = "interpolate_slerp.png";
pub const LATENT_SCATTER_PNG: &str = "latent_scatter.png";
pub const MANIFOLD_PNG: &str = "manifold.png";
pub const LOSS_CURVES_PNG: &str = "loss_curves.png";
pub const TRAVERSALS_PNG: &str = "traversals.png";

/// Latent traversals sweep each dimension over [-TRAVERSAL_RANGE, TRAVERSAL_RANGE] ...
pub const TRAVERSAL_RANGE: f32 = 3.0;
/// ... in this many steps.
pub const TRAVERSAL_STEPS: usize = 11;
/// Test images whose KL ranks the latent dimensions for the traversals.
const TRAVERSAL_RANK_IMAGES: usize = 2_000;

/// The image a likelihood's logits stand for: the mean pixel value. For Bernoulli and squared
/// error that is sigmoid(l); for the continuous Bernoulli it is `sigmoid(l) / tanh(l/2) - 1/l`
/// (0.5 + l/12 near 0), which differs from sigmoid(l) (Loaiza-Ganem & Cunningham 2019).
pub fn mean_pixels(logits: Tensor<2>, kind: Reconstruction) -> Result<Vec<f32>> {
    Ok(to_host(logits)?
        .into_iter()
        .map(|l| {
            let lambda = 1.0 / (1.0 + (-l).exp());
            match kind {
                Reconstruction::Cb if l.abs() < 1e-3 => 0.5 + l / 12.0,
                Reconstruction::Cb => lambda / (l / 2.0).tanh() - 1.0 / l,
                _ => lambda,
            }
        })
        .collect())
}

/// Decodes latents (`n` rows of `latent` values) to mean images.
pub fn decode_to_images(run: &Run, z: Vec<f32>, n: usize) -> Result<Vec<f32>> {
    let latent = run.model_config.latent_dim;
    let z = to_device(z, n, latent, &run.device);
    mean_pixels(run.model.decode(z), run.config.loss())
}

/// z_mean (and z_log_var when the model has one) of `images`, `[n, latent]` row-major.
pub fn encode_images(
    model: &Vae,
    images: Vec<f32>,
    n: usize,
    pixels: usize,
    device: &Device,
) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
    let (m, lv) = model.encode(to_device(images, n, pixels, device));
    Ok((to_host(m)?, lv.map(to_host).transpose()?))
}

/// z_mean of a whole data set, in chunks.
pub fn encode_dataset(run: &Run, data: &Dataset) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
    let (mut means, mut log_vars) = (Vec::new(), Vec::new());
    let mut has_var = false;
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(1000) {
        let (m, lv) = encode_images(
            &run.model,
            data.gather(chunk)?,
            chunk.len(),
            data.pixels(),
            &run.device,
        )?;
        means.extend(m);
        if let Some(lv) = lv {
            has_var = true;
            log_vars.extend(lv);
        }
    }
    Ok((means, has_var.then_some(log_vars)))
}

/// The grid layout of the run's images: colour as it is, grey inverted for the data sets of
/// light objects on black.
pub fn layout(run: &Run, cols: usize) -> GridLayout {
    let m = &run.model_config;
    GridLayout {
        channels: m.image_channels,
        invert: run.config.dataset.drawn_inverted(),
        ..GridLayout::new(m.height, m.width, cols)
    }
}

/// `n` images decoded from z ~ N(0, I): what the model generates.
pub fn samples(run: &Run, n: usize, seed: u64) -> Result<PathBuf> {
    let latent = run.model_config.latent_dim;
    let z = normal_noise(&mut rng(seed, stream::PICTURES), n * latent);
    let images = decode_to_images(run, z, n)?;
    let path = run.path(SAMPLES_PNG);
    save_grid(
        &path,
        &images,
        layout(run, (n as f64).sqrt().ceil() as usize),
    )?;
    Ok(path)
}

/// The first `n` test images in the upper row(s) and their reconstructions from z_mean below.
pub fn reconstructions(run: &Run, test: &Dataset, n: usize) -> Result<PathBuf> {
    let n = n.min(test.len());
    let idx: Vec<usize> = (0..n).collect();
    let inputs = test.gather(&idx)?;
    let (z_mean, _) = encode_images(&run.model, inputs.clone(), n, test.pixels(), &run.device)?;
    let outputs = decode_to_images(run, z_mean, n)?;
    let cols = n.min(10);
    let mut rows = Vec::with_capacity(2 * inputs.len());
    for (i, o) in inputs
        .chunks(cols * test.pixels())
        .zip(outputs.chunks(cols * test.pixels()))
    {
        rows.extend_from_slice(i);
        rows.extend_from_slice(o);
    }
    let path = run.path(RECONSTRUCTIONS_PNG);
    save_grid(&path, &rows, layout(run, cols))?;
    Ok(path)
}

/// Straight line from `a` to `b` at fraction `t` (exactly `a` at 0 and `b` at 1).
pub fn lerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter()
        .zip(b)
        .map(|(x, y)| (1.0 - t) * x + t * y)
        .collect()
}

/// Spherical interpolation: follows the great circle, keeping the norm that typical N(0, I)
/// samples have, where a straight line passes through the low-norm middle of the space.
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return lerp(a, b, t);
    }
    let omega = (dot / (na * nb)).clamp(-1.0, 1.0).acos();
    if omega.abs() < 1e-4 {
        return lerp(a, b, t);
    }
    let (sa, sb) = (
        ((1.0 - t) * omega).sin() / omega.sin(),
        (t * omega).sin() / omega.sin(),
    );
    a.iter().zip(b).map(|(x, y)| sa * x + sb * y).collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Pairs of test images of different classes, deterministic: the first image of class 2k and
/// the first of class 2k+1.
pub fn interpolation_pairs(test: &Dataset, pairs: usize) -> Vec<(usize, usize)> {
    let first = |class: usize| test.labels.iter().position(|&l| l as usize == class);
    let classes = test.class_names.len().max(1);
    (0..pairs)
        .filter_map(|k| Some((first((2 * k) % classes)?, first((2 * k + 1) % classes)?)))
        .collect()
}

/// One strip per pair: `steps` decoded points between the two z_means, with the two inputs at
/// the ends; written for linear and spherical paths.
pub fn interpolations(
    run: &Run,
    test: &Dataset,
    pairs: usize,
    steps: usize,
) -> Result<Vec<PathBuf>> {
    let pairs = interpolation_pairs(test, pairs);
    let latent = run.model_config.latent_dim;
    let mut written = Vec::new();
    for (name, path_fn) in [
        (
            INTERPOLATE_LINEAR_PNG,
            lerp as fn(&[f32], &[f32], f32) -> Vec<f32>,
        ),
        (INTERPOLATE_SLERP_PNG, slerp),
    ] {
        let mut strip = Vec::new();
        for &(i, j) in &pairs {
            let mut ends = test.image(i)?.to_vec();
            ends.extend_from_slice(&test.image(j)?);
            let (z, _) = encode_images(&run.model, ends, 2, test.pixels(), &run.device)?;
            let (za, zb) = z.split_at(latent);
            let mut zs = Vec::with_capacity(steps * latent);
            for s in 0..steps {
                zs.extend(path_fn(za, zb, s as f32 / (steps.max(2) - 1) as f32));
            }
            let decoded = decode_to_images(run, zs, steps)?;
            strip.extend_from_slice(&test.image(i)?);
            strip.extend(decoded);
            strip.extend_from_slice(&test.image(j)?);
        }
        let path = run.path(name);
        save_grid(&path, &strip, layout(run, steps + 2))?;
        written.push(path);
    }
    Ok(written)
}

/// The test set's z_mean coloured by class: directly for 2-d latents, else a PCA projection.
pub fn latent_scatter(run: &Run, test: &Dataset) -> Result<PathBuf> {
    let (z_mean, _) = encode_dataset(run, test)?;
    let latent = run.model_config.latent_dim;
    let points = LatentProjection::fit(&z_mean, latent).project_all(&z_mean);
    let (title, axes) = if latent <= 2 {
        ("Test set in latent space (z_mean)", ("z[0]", "z[1]"))
    } else {
        ("Test set in latent space (PCA of z_mean)", ("PC 1", "PC 2"))
    };
    let path = run.path(LATENT_SCATTER_PNG);
    plot::scatter(&path, title, axes, &points, &test.labels, &test.class_names)?;
    Ok(path)
}

/// For 2-d latents: decode an `n` x `n` grid of standard-normal quantiles (Kingma & Welling's
/// manifold figure). Returns `None` for other latent sizes.
pub fn manifold(run: &Run, n: usize) -> Result<Option<PathBuf>> {
    use statrs::distribution::{ContinuousCDF, Normal};
    if run.model_config.latent_dim != 2 {
        return Ok(None);
    }
    let normal = Normal::standard();
    let q: Vec<f32> = (0..n)
        .map(|i| normal.inverse_cdf((i as f64 + 0.5) / n as f64) as f32)
        .collect();
    let mut z = Vec::with_capacity(n * n * 2);
    for row in 0..n {
        for &x in &q {
            z.extend([x, q[n - 1 - row]]);
        }
    }
    let images = decode_to_images(run, z, n * n)?;
    let path = run.path(MANIFOLD_PNG);
    let mut lay = layout(run, n);
    lay.scale = 1;
    lay.gap = 0;
    save_grid(&path, &images, lay)?;
    Ok(Some(path))
}

/// Latent dimensions ordered by their mean KL over the first test images, largest first, with
/// that KL (for a plain autoencoder, by the variance of z_mean, which it then holds).
pub fn dims_by_kl(run: &Run, test: &Dataset) -> Result<Vec<(usize, f64)>> {
    let n = test.len().min(TRAVERSAL_RANK_IMAGES);
    let idx: Vec<usize> = (0..n).collect();
    let x = to_device(test.gather(&idx)?, n, test.pixels(), &run.device);
    let score: Vec<f64> = match run.model.encode(x) {
        (z_mean, Some(z_log_var)) => {
            to_host(crate::model::loss::kl_divergence_per_dim(z_mean, z_log_var).mean_dim(0))?
                .into_iter()
                .map(f64::from)
                .collect()
        }
        (z_mean, None) => {
            crate::eval::column_variances(&to_host(z_mean)?, run.model_config.latent_dim)
        }
    };
    let mut dims: Vec<(usize, f64)> = score.into_iter().enumerate().collect();
    dims.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(dims)
}

/// The beta-VAE paper's figure: one row per latent dimension (largest KL first), decoding the
/// z_mean of the first test image with that dimension swept over [-3, 3].
pub fn traversals(run: &Run, test: &Dataset) -> Result<PathBuf> {
    let latent = run.model_config.latent_dim;
    let dims = dims_by_kl(run, test)?;
    let (base, _) = encode_images(
        &run.model,
        test.gather(&[0])?,
        1,
        test.pixels(),
        &run.device,
    )?;
    let mut z = Vec::with_capacity(latent * TRAVERSAL_STEPS * latent);
    for &(d, _) in &dims {
        for s in 0..TRAVERSAL_STEPS {
            let mut row = base.clone();
            row[d] =
                -TRAVERSAL_RANGE + 2.0 * TRAVERSAL_RANGE * s as f32 / (TRAVERSAL_STEPS - 1) as f32;
            z.extend(row);
        }
    }
    let images = decode_to_images(run, z, latent * TRAVERSAL_STEPS)?;
    let path = run.path(TRAVERSALS_PNG);
    save_grid(&path, &images, layout(run, TRAVERSAL_STEPS))?;
    Ok(path)
}

/// Loss curves from the run's metrics.
pub fn loss_curves(run: &Run) -> Result<Option<PathBuf>> {
    let metrics = crate::train::metrics::read(&run.path(crate::run::METRICS_FILE))?;
    if metrics.is_empty() {
        return Ok(None);
    }
    let path = run.path(LOSS_CURVES_PNG);
    plot::loss_curves(&path, &metrics)?;
    Ok(Some(path))
}

/// Every picture of a run, then the HTML report.
pub fn write_all(run: &Run) -> Result<Vec<PathBuf>> {
    let test = run.test_data()?;
    let mut written = vec![
        samples(run, 64, run.config.seed)?,
        reconstructions(run, &test, 20)?,
    ];
    written.extend(interpolations(run, &test, 5, 10)?);
    written.push(latent_scatter(run, &test)?);
    written.extend(manifold(run, 20)?);
    written.push(traversals(run, &test)?);
    written.extend(loss_curves(run)?);
    written.push(report::write(run)?);
    Ok(written)
}

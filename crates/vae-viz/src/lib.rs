//! Seeing a model: samples from N(0, I), reconstructions, interpolations, the latent map, the
//! 2-d manifold, traversals and loss curves, written as PNG into the run folder, plus
//! `report.html`; the pictures of latent arithmetic; the sweep report. Everything is computed
//! by the `vae` library; this crate draws it ([`grid`] for images, [`plot`] for charts).

pub mod grid;
pub mod plot;
pub mod projection;
pub mod report;
pub mod sweep;

use grid::{GridLayout, save_grid};
use projection::LatentProjection;
use std::path::{Path, PathBuf};
use vae::Result;
use vae::arithmetic::{self, Arithmetic, ArithmeticOptions, MorphEnd};
use vae::data::Dataset;
use vae::latent::interpolate::{Interpolation, path};
use vae::rng::{normal_noise, rng, stream};
use vae::run::{METRICS_FILE, Run};

/// Picture file names in a run folder.
pub const SAMPLES_PNG: &str = "samples.png";
pub const RECONSTRUCTIONS_PNG: &str = "reconstructions.png";
pub const INTERPOLATE_LINEAR_PNG: &str = "interpolate_linear.png";
pub const INTERPOLATE_SLERP_PNG: &str = "interpolate_slerp.png";
pub const LATENT_SCATTER_PNG: &str = "latent_scatter.png";
pub const MANIFOLD_PNG: &str = "manifold.png";
pub const LOSS_CURVES_PNG: &str = "loss_curves.png";
pub const TRAVERSALS_PNG: &str = "traversals.png";
pub const TWO_STAGE_SAMPLES_PNG: &str = "samples_two_stage.png";

/// Latent traversals sweep each dimension over [-TRAVERSAL_RANGE, TRAVERSAL_RANGE] ...
pub const TRAVERSAL_RANGE: f32 = 3.0;
/// ... in this many steps.
pub const TRAVERSAL_STEPS: usize = 11;
/// Test images whose KL ranks the latent dimensions for the traversals.
const TRAVERSAL_RANK_IMAGES: usize = 2_000;

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
    square_grid(run, &run.decode(z)?, n, SAMPLES_PNG)
}

/// `n` images as a near-square grid in the run folder's `file`.
fn square_grid(run: &Run, images: &[f32], n: usize, file: &str) -> Result<PathBuf> {
    let path = run.path(file);
    save_grid(
        &path,
        images,
        layout(run, (n as f64).sqrt().ceil() as usize),
    )?;
    Ok(path)
}

/// `n` images drawn through the run's second stage ([`vae::two_stage`]): u ~ N(0, I), z from
/// the second stage's decoder, then the run's decoder. `None` when the run has no second stage.
pub fn two_stage_samples(run: &Run, n: usize, seed: u64) -> Result<Option<PathBuf>> {
    let Some(stage) = vae::two_stage::load(run)? else {
        return Ok(None);
    };
    let images = vae::two_stage::sample_images(run, &stage, n, &mut rng(seed, stream::PICTURES))?;
    square_grid(run, &images, n, TWO_STAGE_SAMPLES_PNG).map(Some)
}

/// The first `n` test images in the upper row(s) and their reconstructions from z_mean below.
pub fn reconstructions(run: &Run, test: &Dataset, n: usize) -> Result<PathBuf> {
    let n = n.min(test.len());
    let idx: Vec<usize> = (0..n).collect();
    let inputs = test.gather(&idx)?;
    let outputs = run.decode(run.encode_images(&inputs)?.z_mean)?;
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
    // Each pair's two images, and their latents, once for both paths.
    let mut ends = Vec::new();
    for (i, j) in interpolation_pairs(test, pairs) {
        let (a, b) = (test.image(i)?.into_owned(), test.image(j)?.into_owned());
        let z = run.encode_images(&[a.as_slice(), b.as_slice()].concat())?;
        ends.push((a, b, z));
    }
    let mut written = Vec::new();
    for (name, method) in [
        (INTERPOLATE_LINEAR_PNG, Interpolation::Linear),
        (INTERPOLATE_SLERP_PNG, Interpolation::Slerp),
    ] {
        let mut strip = Vec::new();
        for (a, b, z) in &ends {
            strip.extend_from_slice(a);
            strip.extend(run.decode(path(z.z_mean_of(0), z.z_mean_of(1), steps, method))?);
            strip.extend_from_slice(b);
        }
        let path = run.path(name);
        save_grid(&path, &strip, layout(run, steps + 2))?;
        written.push(path);
    }
    Ok(written)
}

/// The test set's z_mean coloured by class: directly for 2-d latents, else a PCA projection.
pub fn latent_scatter(run: &Run, test: &Dataset) -> Result<PathBuf> {
    let z_mean = run.encode(test)?.z_mean;
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
    let images = run.decode(z)?;
    let path = run.path(MANIFOLD_PNG);
    let mut lay = layout(run, n);
    lay.scale = 1;
    lay.gap = 0;
    save_grid(&path, &images, lay)?;
    Ok(Some(path))
}

/// The beta-VAE paper's figure: one row per latent dimension (largest KL over the first
/// test images first), decoding the z_mean of the first test image with that dimension swept
/// over [-3, 3].
pub fn traversals(run: &Run, test: &Dataset) -> Result<PathBuf> {
    let latent = run.model_config.latent_dim;
    let ranked = test.len().min(TRAVERSAL_RANK_IMAGES);
    let dims = vae::latent::encode_batches(&run.model, ranked, test.pixels(), &run.device, |c| {
        test.gather(c)
    })?
    .dims_by_information();
    let base = run.encode_images(&test.image(0)?)?.z_mean;
    let mut z = Vec::with_capacity(latent * TRAVERSAL_STEPS * latent);
    for &(d, _) in &dims {
        for s in 0..TRAVERSAL_STEPS {
            let mut row = base.clone();
            row[d] =
                -TRAVERSAL_RANGE + 2.0 * TRAVERSAL_RANGE * s as f32 / (TRAVERSAL_STEPS - 1) as f32;
            z.extend(row);
        }
    }
    let images = run.decode(z)?;
    let path = run.path(TRAVERSALS_PNG);
    save_grid(&path, &images, layout(run, TRAVERSAL_STEPS))?;
    Ok(path)
}

/// Loss curves from the run's metrics.
pub fn loss_curves(run: &Run) -> Result<Option<PathBuf>> {
    let metrics = vae::train::metrics::read(&run.path(METRICS_FILE))?;
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
    let mut written = vec![samples(run, 64, run.config.seed)?];
    written.extend(two_stage_samples(run, 64, run.config.seed)?);
    written.push(reconstructions(run, &test, 20)?);
    written.extend(interpolations(run, &test, 5, 10)?);
    written.push(latent_scatter(run, &test)?);
    written.extend(manifold(run, 20)?);
    written.push(traversals(run, &test)?);
    written.extend(loss_curves(run)?);
    written.push(report::write(run)?);
    Ok(written)
}

/// Latent arithmetic as a picture: one row per test image, the image then its decodings at each
/// strength; written to `out` or `RUN/arithmetic-ATTR.png`.
pub fn arithmetic(
    run: &Run,
    options: &ArithmeticOptions,
    out: Option<&Path>,
) -> Result<(Arithmetic, PathBuf)> {
    let result = arithmetic::arithmetic(run, options)?;
    let path = out.map_or_else(
        || run.path(&arithmetic::file_name(&options.attr)),
        Path::to_path_buf,
    );
    save_grid(&path, &result.grid, layout(run, result.columns))?;
    Ok((result, path))
}

/// A morph as a strip: the two inputs with `steps` decodings between them; written to `out` or
/// `RUN/morph.png`.
pub fn morph(
    run: &Run,
    from: &MorphEnd,
    to: &MorphEnd,
    steps: usize,
    out: Option<&Path>,
) -> Result<PathBuf> {
    let strip = arithmetic::morph(run, from, to, steps)?;
    let path = out.map_or_else(|| run.path("morph.png"), Path::to_path_buf);
    save_grid(&path, &strip, layout(run, steps + 2))?;
    Ok(path)
}

/// Latents `z` (rows of `latent_dim` values) decoded to a grid of up to 10 columns at `out`.
pub fn decoded(run: &Run, z: Vec<f32>, out: &Path) -> Result<()> {
    let n = z.len() / run.model_config.latent_dim;
    let images = run.decode(z)?;
    save_grid(out, &images, layout(run, n.min(10)))
}

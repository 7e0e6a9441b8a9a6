//! Seeing a model: samples from N(0, I), reconstructions, interpolations, the latent map, the
//! 2-d manifold, traversals and loss curves, written as PNG into the run folder, plus
//! `report.html`; the pictures of latent arithmetic; the sweep report. Everything is computed
//! by the `vae` library; this crate draws it ([`grid`] for images, [`plot`] for charts).

#![forbid(unsafe_code)]

pub mod grid;
pub mod plot;
pub mod projection;
pub mod report;
pub mod sweep;
pub mod tensorboard;

use grid::{GridLayout, save_grid};
use projection::LatentProjection;
use std::path::{Path, PathBuf};
use vae::Result;
use vae::arithmetic::{self, Arithmetic, ArithmeticOptions, MorphPoint};
use vae::data::Dataset;
use vae::latent::interpolate::{Interpolation, path};
use vae::rng::{rng, stream};
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
pub const INTERPOLATE_CLASS_PNG: &str = "interpolate_class.png";
pub const SAME_Z_EVERY_CLASS_PNG: &str = "same_z_every_class.png";

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

/// The picture file of `stem` for one class of a conditional run (`samples_Ankle-boot.png`),
/// or `stem.png` for all classes or an unconditional run.
pub fn class_file(stem: &str, class: Option<&str>) -> String {
    match class {
        None | Some("all") => format!("{stem}.png"),
        Some(c) => {
            let safe: String = c
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            format!("{stem}_{safe}.png")
        }
    }
}

/// Where the latents of samples come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    /// z ~ N(0, I): the prior.
    Prior,
    /// u ~ N(0, I) through the run's second stage ([`vae::two_stage`]): a better sampler.
    TwoStage,
}

/// Sampled images: the pixel values (mean pixels, each image `channels * height * width`
/// values, concatenated) and how many go in a row of their grid.
pub struct Samples {
    pub images: Vec<f32>,
    pub cols: usize,
}

/// `n` images decoded from latents of `sampler`, drawn from the stream of `seed` (the same
/// images for the same seed, whoever asks: `vae sample`, the report, TensorBoard, Python). A
/// conditional run draws them for `class`: one class or set of attributes, or `all`, one row
/// per class with the same z down each column (style held, class changed). `None` when the
/// sampler is the second stage and the run has none. A count whose images cannot fit in memory
/// is refused before anything is drawn ([`Run::check_images`]).
pub fn sample(
    run: &Run,
    n: usize,
    seed: u64,
    class: Option<&str>,
    sampler: Sampler,
) -> Result<Option<Samples>> {
    run.check_images(n, &format!("sampling {n} images"), "draw fewer with --n")?;
    let stage = match sampler {
        Sampler::Prior => None,
        Sampler::TwoStage => match vae::two_stage::load(run)? {
            Some(stage) => Some(stage),
            None => return Ok(None),
        },
    };
    let codes = |n| {
        let mut noise = rng(seed, stream::PICTURES);
        match &stage {
            None => run.model.sample_prior(&mut noise, n),
            Some(stage) => vae::two_stage::sample_codes(run, stage, n, &mut noise),
        }
    };
    if let (Some(c), Some("all")) = (run.conditioning(), class) {
        let choices = c.every_choice();
        let per_row = n.div_ceil(choices.len());
        let zs = codes(per_row)?.repeat(choices.len());
        let ys: Vec<f32> = choices
            .iter()
            .flat_map(|(_, y)| y.repeat(per_row))
            .collect();
        return Ok(Some(Samples {
            images: run.decode(zs, Some(&ys))?,
            cols: per_row,
        }));
    }
    let y = run.condition_of(class)?;
    Ok(Some(Samples {
        images: run.decode(codes(n)?, y.as_deref())?,
        cols: (n as f64).sqrt().ceil() as usize,
    }))
}

/// `n` images decoded from z ~ N(0, I): what the model generates (for `class`, on a
/// conditional run: see [`sample`]).
pub fn samples(run: &Run, n: usize, seed: u64, class: Option<&str>) -> Result<PathBuf> {
    let drawn = sample(run, n, seed, class, Sampler::Prior)?.expect("the prior is always there");
    save_samples(run, drawn, &class_file("samples", class))
}

fn save_samples(run: &Run, samples: Samples, file: &str) -> Result<PathBuf> {
    let path = run.path(file);
    save_grid(&path, &samples.images, layout(run, samples.cols))?;
    Ok(path)
}

/// `n` images drawn through the run's second stage ([`vae::two_stage`]): u ~ N(0, I), z from
/// the second stage's decoder, then the run's decoder (with `class`, as [`samples`]). `None`
/// when the run has no second stage.
pub fn two_stage_samples(
    run: &Run,
    n: usize,
    seed: u64,
    class: Option<&str>,
) -> Result<Option<PathBuf>> {
    let file = class_file(TWO_STAGE_SAMPLES_PNG.trim_end_matches(".png"), class);
    sample(run, n, seed, class, Sampler::TwoStage)?
        .map(|drawn| save_samples(run, drawn, &file))
        .transpose()
}

/// The first `n` test images in the upper row(s) and their reconstructions from z_mean below,
/// `cols` to a row: the picture of [`reconstructions`].
pub fn reconstruction_rows(run: &Run, test: &Dataset, n: usize) -> Result<Samples> {
    let n = n.min(test.len());
    let idx: Vec<usize> = (0..n).collect();
    let inputs = test.gather(&idx)?;
    let y = test.condition_rows(&idx);
    let outputs = run.decode(
        run.encode_images(&inputs, y.as_deref())?.z_mean,
        y.as_deref(),
    )?;
    let cols = n.min(10);
    let mut rows = Vec::with_capacity(2 * inputs.len());
    for (i, o) in inputs
        .chunks(cols * test.pixels())
        .zip(outputs.chunks(cols * test.pixels()))
    {
        rows.extend_from_slice(i);
        rows.extend_from_slice(o);
    }
    Ok(Samples { images: rows, cols })
}

/// The first `n` test images in the upper row(s) and their reconstructions from z_mean below.
pub fn reconstructions(run: &Run, test: &Dataset, n: usize) -> Result<PathBuf> {
    save_samples(run, reconstruction_rows(run, test, n)?, RECONSTRUCTIONS_PNG)
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
/// the ends; written for linear and spherical paths. A conditional run's condition moves from
/// one image's to the other's along the path, and a third picture holds the first image's z
/// while only the condition moves: the same style as another class.
pub fn interpolations(
    run: &Run,
    test: &Dataset,
    pairs: usize,
    steps: usize,
) -> Result<Vec<PathBuf>> {
    // Each pair's two images, their conditions and their latents, once for every path.
    let mut ends = Vec::new();
    for (i, j) in interpolation_pairs(test, pairs) {
        let (a, b) = (test.image(i)?.into_owned(), test.image(j)?.into_owned());
        let y = test.condition_rows(&[i, j]);
        let z = run.encode_images(&[a.as_slice(), b.as_slice()].concat(), y.as_deref())?;
        ends.push((a, b, y, z));
    }
    // The conditions along a path: from the first image's to the second's.
    let y_path = |y: &Option<Vec<f32>>| {
        y.as_ref().map(|y| {
            let dim = y.len() / 2;
            path(&y[..dim], &y[dim..], steps, Interpolation::Linear)
        })
    };
    let mut written = Vec::new();
    for (name, method) in [
        (INTERPOLATE_LINEAR_PNG, Interpolation::Linear),
        (INTERPOLATE_SLERP_PNG, Interpolation::Slerp),
    ] {
        let mut strip = Vec::new();
        for (a, b, y, z) in &ends {
            strip.extend_from_slice(a);
            let zs = path(z.z_mean_of(0), z.z_mean_of(1), steps, method);
            strip.extend(run.decode(zs, y_path(y).as_deref())?);
            strip.extend_from_slice(b);
        }
        let path = run.path(name);
        save_grid(&path, &strip, layout(run, steps + 2))?;
        written.push(path);
    }
    if run.conditioning().is_some() {
        let mut strip = Vec::new();
        for (a, b, y, z) in &ends {
            strip.extend_from_slice(a);
            strip.extend(run.decode(z.z_mean_of(0).repeat(steps), y_path(y).as_deref())?);
            strip.extend_from_slice(b);
        }
        let path = run.path(INTERPOLATE_CLASS_PNG);
        save_grid(&path, &strip, layout(run, steps + 2))?;
        written.push(path);
    }
    Ok(written)
}

/// A conditional run's "same z, every class": one row per test image (the first of `rows`
/// classes), the image, then its z_mean decoded with each class (or attribute) in turn.
pub fn every_class(run: &Run, test: &Dataset, rows: usize) -> Result<PathBuf> {
    let choices = run.require_conditioning()?.every_choice().len();
    let images: Vec<usize> = (0..test.class_names.len())
        .filter_map(|c| test.labels.iter().position(|&l| l as usize == c))
        .take(rows.max(1))
        .collect();
    let y = test.condition_rows(&images);
    let inputs = test.gather(&images)?;
    let latents = run.encode_images(&inputs, y.as_deref())?;
    let decoded = run.decode_every_class(&latents.z_mean)?;
    let per_row = choices * test.pixels();
    let mut grid = Vec::with_capacity(inputs.len() + decoded.len());
    for (input, row) in inputs.chunks(test.pixels()).zip(decoded.chunks(per_row)) {
        grid.extend_from_slice(input);
        grid.extend_from_slice(row);
    }
    let path = run.path(SAME_Z_EVERY_CLASS_PNG);
    save_grid(&path, &grid, layout(run, choices + 1))?;
    Ok(path)
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
/// manifold figure), for `class` on a conditional run (`manifold_CLASS.png`). Returns `None`
/// for other latent sizes.
pub fn manifold(run: &Run, n: usize, class: Option<&str>) -> Result<Option<PathBuf>> {
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
    let images = run.decode(z, run.condition_of(class)?.as_deref())?;
    let path = run.path(&class_file(MANIFOLD_PNG.trim_end_matches(".png"), class));
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
        test.inputs(c)
    })?
    .dims_by_information();
    let y = test.condition_rows(&[0]);
    let base = run.encode_images(&test.image(0)?, y.as_deref())?.z_mean;
    let mut z = Vec::with_capacity(latent * TRAVERSAL_STEPS * latent);
    for &(d, _) in &dims {
        for s in 0..TRAVERSAL_STEPS {
            let mut row = base.clone();
            row[d] =
                -TRAVERSAL_RANGE + 2.0 * TRAVERSAL_RANGE * s as f32 / (TRAVERSAL_STEPS - 1) as f32;
            z.extend(row);
        }
    }
    let images = run.decode(z, y.as_deref())?;
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

/// Every picture of a run, then the HTML report. A conditional run gets its samples (and its
/// manifold) for every class, the report's class picker shows one at a time, and the "same z,
/// every class" strip.
pub fn write_all(run: &Run) -> Result<Vec<PathBuf>> {
    let test = run.test_data()?;
    let seed = run.config.seed;
    let all = run.conditioning().map(|_| "all");
    let mut written = vec![samples(run, 64, seed, all)?];
    if vae::two_stage::is_stale(run)? {
        // Drawn through a second stage fitted on earlier weights: the report says to fit it
        // again instead of showing them.
        let stale = run.path(&class_file(
            TWO_STAGE_SAMPLES_PNG.trim_end_matches(".png"),
            all,
        ));
        if stale.is_file() {
            std::fs::remove_file(&stale)
                .map_err(|e| vae::Error::io(format!("cannot remove {}", stale.display()), e))?;
        }
    } else {
        written.extend(two_stage_samples(run, 64, seed, all)?);
    }
    written.push(reconstructions(run, &test, 20)?);
    written.extend(interpolations(run, &test, 5, 10)?);
    written.push(latent_scatter(run, &test)?);
    match run.conditioning() {
        Some(c) => {
            for (name, _) in c.every_choice() {
                written.push(samples(run, 64, seed, Some(&name))?);
                written.extend(manifold(run, 20, Some(&name))?);
            }
            written.push(every_class(run, &test, 10)?);
        }
        None => written.extend(manifold(run, 20, None)?),
    }
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
    from: &MorphPoint,
    to: &MorphPoint,
    steps: usize,
    out: Option<&Path>,
) -> Result<PathBuf> {
    let strip = arithmetic::morph(run, from, to, steps)?;
    let path = out.map_or_else(|| run.path("morph.png"), Path::to_path_buf);
    save_grid(&path, &strip, layout(run, steps + 2))?;
    Ok(path)
}

/// Latents `z` (rows of `latent_dim` values) decoded (for `class`, on a conditional run) to a
/// grid of up to 10 columns at `out`.
pub fn decoded(run: &Run, z: Vec<f32>, class: Option<&str>, out: &Path) -> Result<()> {
    let n = z.len() / run.model_config.latent_dim;
    let images = run.decode(z, run.condition_of(class)?.as_deref())?;
    save_grid(out, &images, layout(run, n.min(10)))
}

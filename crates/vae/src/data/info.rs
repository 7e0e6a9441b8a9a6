//! `vae data info` and `vae data bench`: what a data set holds, and how fast its loader reads it.

use super::{DataSpec, Dataset, DatasetKind, describe_source, load_splits};
use crate::error::Result;
use serde::Serialize;

/// What [`loader_throughput`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoaderReport {
    pub images: usize,
    pub seconds: f64,
    pub images_per_second: f64,
}

/// Reads `batches` shuffled batches of `batch_size` training images through the same
/// [`Dataset::gather`] the training loop uses, with nothing else running: how fast the loader
/// alone is (for a folder, decoding and the cache; the first pass is cold).
pub fn loader_throughput(
    data: &Dataset,
    batch_size: usize,
    batches: usize,
    seed: u64,
) -> Result<LoaderReport> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let started = std::time::Instant::now();
    let mut images = 0;
    for chunk in order.chunks(batch_size.max(1)).take(batches) {
        images += data.gather(chunk)?.len() / data.pixels();
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(LoaderReport {
        images,
        seconds,
        images_per_second: images as f64 / seconds.max(1e-9),
    })
}

/// What `vae data info` shows of one split.
#[derive(Debug, Clone, Serialize)]
pub struct SplitInfo {
    pub name: &'static str,
    pub images: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub class_names: Vec<String>,
    /// Images per class, by label.
    pub class_counts: Vec<usize>,
    pub pixel_mean: f64,
    pub pixel_std: f64,
}

/// What `vae data info` shows: where a data set was found, and its splits.
#[derive(Debug, Clone, Serialize)]
pub struct DataInfo {
    pub kind: DatasetKind,
    pub source: String,
    pub splits: Vec<SplitInfo>,
}

/// Loads the data set of `spec` and describes it.
pub fn info(spec: &DataSpec) -> Result<DataInfo> {
    let splits = load_splits(spec)?;
    let mut infos = Vec::new();
    for (name, set) in [("train", &splits.train), ("test", &splits.test)] {
        let (pixel_mean, pixel_std) = pixel_stats(set)?;
        let mut class_counts = vec![0usize; set.class_names.len()];
        for &l in &set.labels {
            class_counts[l as usize] += 1;
        }
        infos.push(SplitInfo {
            name,
            images: set.len(),
            height: set.height,
            width: set.width,
            channels: set.channels,
            class_names: set.class_names.clone(),
            class_counts,
            pixel_mean,
            pixel_std,
        });
    }
    Ok(DataInfo {
        kind: spec.kind,
        source: describe_source(spec)?,
        splits: infos,
    })
}

impl std::fmt::Display for DataInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} from {}", self.kind.name(), self.source)?;
        for s in &self.splits {
            writeln!(
                f,
                "{:5}  {} images of {}x{}x{}, {} classes, pixel mean {:.4}, std {:.4}",
                s.name,
                s.images,
                s.height,
                s.width,
                s.channels,
                s.class_names.len(),
                s.pixel_mean,
                s.pixel_std
            )?;
            let per_class: Vec<String> = s
                .class_names
                .iter()
                .zip(&s.class_counts)
                .map(|(n, c)| format!("{n}: {c}"))
                .collect();
            writeln!(f, "       {}", per_class.join(", "))?;
        }
        Ok(())
    }
}

/// What [`loader_throughput`] measured, as `vae data bench` prints it.
impl std::fmt::Display for LoaderReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} images in {:.2} s: {:.0} images/s",
            self.images, self.seconds, self.images_per_second
        )
    }
}

/// Images looked at by [`pixel_stats`] in a data set drawn on demand.
const STATS_SAMPLE: usize = 10_000;

/// Mean and standard deviation of all pixels (of the first 10,000 images of a data set drawn
/// on demand), for `vae data info`.
pub fn pixel_stats(data: &Dataset) -> Result<(f64, f64)> {
    let sample;
    let images = if data.is_generated() {
        let idx: Vec<usize> = (0..data.len().min(STATS_SAMPLE)).collect();
        sample = data.gather(&idx)?;
        &sample
    } else {
        &data.images
    };
    let n = images.len().max(1) as f64;
    let mean = images.iter().map(|&p| p as f64).sum::<f64>() / n;
    let var = images
        .iter()
        .map(|&p| (p as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    Ok((mean, var.sqrt()))
}

//! Data: IDX files on disk, the built-in `shapes` and the dSprites file become [`Dataset`]s of
//! grey-level images in [0, 1] with labels.

pub mod dsprites;
pub mod factors;
pub mod fetch;
pub mod idx;
pub mod locate;
pub mod shapes;

use crate::error::{Error, Result};
use factors::FactorImages;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which IDX data set a folder holds; it decides the class names and the fetch URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// Zalando's Fashion-MNIST, the lecture's wardrobe.
    FashionMnist,
    /// LeCun's handwritten digits.
    Mnist,
    /// Any other IDX data set (KMNIST, EMNIST, ...): classes are named by their label number.
    Idx,
    /// Built-in dSprites-like 64x64 shapes with known factors, drawn on the fly (no download).
    Shapes,
    /// The original dSprites .npz file (`--data` names it).
    Dsprites,
}

impl DatasetKind {
    /// The name used on the command line and in folder names.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Idx => "idx",
            DatasetKind::Shapes => "shapes",
            DatasetKind::Dsprites => "dsprites",
        }
    }

    /// True for the data sets with known generative factors (disentanglement metrics apply).
    pub fn has_factors(self) -> bool {
        matches!(self, DatasetKind::Shapes | DatasetKind::Dsprites)
    }

    /// Human names of the classes, indexed by label.
    pub fn class_names(self, num_classes: usize) -> Vec<String> {
        match self {
            DatasetKind::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            DatasetKind::Mnist => (0..10).map(|c| c.to_string()).collect(),
            DatasetKind::Shapes | DatasetKind::Dsprites => {
                shapes::SHAPE_NAMES.iter().map(|s| s.to_string()).collect()
            }
            DatasetKind::Idx => (0..num_classes).map(|c| c.to_string()).collect(),
        }
    }
}

/// Grey-level images with labels, held as `f32` in [0, 1], row-major, one image after another,
/// or made on demand from a factor grid.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The pixels; empty when the images are made on demand from `factors`.
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    pub height: usize,
    pub width: usize,
    pub class_names: Vec<String>,
    /// For factor data sets: each image's place in the factor grid.
    pub factors: Option<FactorImages>,
}

impl Dataset {
    /// Held pixels, no factors.
    pub fn stored(
        images: Vec<f32>,
        labels: Vec<u8>,
        height: usize,
        width: usize,
        class_names: Vec<String>,
    ) -> Self {
        Dataset {
            images,
            labels,
            height,
            width,
            class_names,
            factors: None,
        }
    }

    /// True when images are drawn on demand rather than held.
    pub fn is_generated(&self) -> bool {
        self.images.is_empty() && self.factors.is_some() && !self.labels.is_empty()
    }

    /// Draws and holds every image (for test sets, which are read many times).
    pub fn materialize(&mut self) {
        if self.is_generated()
            && let Some(f) = &self.factors
        {
            self.images = f.render(f.indices.iter().map(|&i| i as usize));
        }
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.height * self.width
    }

    /// Image `i`: `pixels()` values.
    pub fn image(&self, i: usize) -> Cow<'_, [f32]> {
        if self.is_generated() {
            return Cow::Owned(self.gather(&[i]));
        }
        let p = self.pixels();
        Cow::Borrowed(&self.images[i * p..(i + 1) * p])
    }

    /// Keeps only the first `n` images.
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.images.truncate(n * self.pixels());
        self.labels.truncate(n);
        if let Some(f) = &mut self.factors {
            f.indices.truncate(n);
        }
    }

    /// Factor classes of image `i` (factor data sets only).
    pub fn factor_classes(&self, i: usize) -> Option<Vec<usize>> {
        let f = self.factors.as_ref()?;
        Some(f.source.classes(f.indices[i] as usize))
    }

    /// The images at `indices`, concatenated (a batch in row-major order).
    pub fn gather(&self, indices: &[usize]) -> Vec<f32> {
        if self.is_generated()
            && let Some(f) = &self.factors
        {
            return f.render(indices.iter().map(|&i| f.indices[i] as usize));
        }
        let mut out = Vec::with_capacity(indices.len() * self.pixels());
        for &i in indices {
            out.extend_from_slice(&self.image(i));
        }
        out
    }

    /// Builds a data set from an IDX image array and label array, checking they agree.
    pub fn from_idx(
        images: idx::IdxArray,
        labels: idx::IdxArray,
        kind: DatasetKind,
        images_path: &Path,
        labels_path: &Path,
    ) -> Result<Self> {
        let (n, height, width) = (images.dims[0], images.dims[1], images.dims[2]);
        if labels.dims[0] != n {
            return Err(Error::Data(format!(
                "{} holds {n} images but {} holds {} labels; the two files must come from the same split",
                images_path.display(),
                labels_path.display(),
                labels.dims[0]
            )));
        }
        let num_classes = labels
            .data
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1);
        let class_names = kind.class_names(num_classes);
        if num_classes > class_names.len() {
            return Err(Error::file(
                labels_path,
                format!(
                    "label {} is out of range for {} ({} classes)",
                    num_classes - 1,
                    kind.name(),
                    class_names.len()
                ),
            ));
        }
        Ok(Dataset::stored(
            images.data.iter().map(|&b| b as f32 / 255.0).collect(),
            labels.data,
            height,
            width,
            class_names,
        ))
    }
}

/// How grey-level pixels become what the likelihood models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Binarize {
    /// Resample binary pixels (Bernoulli with the grey level as probability) every epoch.
    Dynamic,
    /// Binarize once with a fixed seed, as likelihood papers do.
    Fixed,
    /// Keep grey levels in [0, 1].
    None,
}

/// Replaces each pixel with a Bernoulli draw whose probability is the grey level.
pub fn binarize_in_place(pixels: &mut [f32], rng: &mut impl Rng) {
    for p in pixels {
        *p = if rng.random::<f32>() < *p { 1.0 } else { 0.0 };
    }
}

/// Training and test splits of one data set.
#[derive(Debug, Clone)]
pub struct DataSplits {
    pub train: Dataset,
    pub test: Dataset,
}

/// The four standard file names of an IDX split, with or without `.gz`.
const SPLIT_FILES: [(&str, &str); 2] = [
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
];

/// Finds `name` or `name.gz` in `dir`.
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [format!("{name}.gz"), name.to_string()]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// True when `dir` holds all four IDX files of a data set.
pub fn has_idx_files(dir: &Path) -> bool {
    SPLIT_FILES
        .iter()
        .all(|(img, lbl)| find_file(dir, img).is_some() && find_file(dir, lbl).is_some())
}

/// One split of an IDX data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// Loads one split from a folder of IDX files.
pub fn load_idx_split(dir: &Path, kind: DatasetKind, split: Split) -> Result<Dataset> {
    let (img, lbl) = SPLIT_FILES[split as usize];
    let missing = |name: &str| {
        Error::Data(format!(
            "{} has no {name} or {name}.gz; a data folder needs the four standard IDX files",
            dir.display()
        ))
    };
    let img_path = find_file(dir, img).ok_or_else(|| missing(img))?;
    let lbl_path = find_file(dir, lbl).ok_or_else(|| missing(lbl))?;
    let images = idx::read_images(&img_path)?;
    let labels = idx::read_labels(&lbl_path)?;
    Dataset::from_idx(images, labels, kind, &img_path, &lbl_path)
}

/// Loads train and test splits from a folder of IDX files.
pub fn load_idx_dir(dir: &Path, kind: DatasetKind) -> Result<DataSplits> {
    let mut train = load_idx_split(dir, kind, Split::Train)?;
    let mut test = load_idx_split(dir, kind, Split::Test)?;
    // A generic IDX set names classes by the labels it holds; both splits share one list.
    if test.class_names.len() > train.class_names.len() {
        train.class_names = test.class_names.clone();
    } else {
        test.class_names = train.class_names.clone();
    }
    if (train.height, train.width) != (test.height, test.width) {
        return Err(Error::Data(format!(
            "{}: training images are {}x{} but test images are {}x{}",
            dir.display(),
            train.height,
            train.width,
            test.height,
            test.width
        )));
    }
    Ok(DataSplits { train, test })
}

/// The factor grid of a factor data set.
pub fn factor_source(
    kind: DatasetKind,
    data: Option<&Path>,
) -> Result<Arc<dyn factors::FactorSource>> {
    match kind {
        DatasetKind::Shapes => Ok(Arc::new(shapes::Shapes)),
        DatasetKind::Dsprites => Ok(Arc::new(dsprites::Dsprites::open(
            &dsprites::Dsprites::locate(data)?,
        )?)),
        _ => Err(Error::Data(format!(
            "{} has no known generative factors; use --dataset shapes or dsprites",
            kind.name()
        ))),
    }
}

/// Loads both splits of any data set: IDX files from the located folder, or a factor grid.
pub fn load_splits(kind: DatasetKind, data: Option<&Path>) -> Result<DataSplits> {
    if kind.has_factors() {
        let (train, test) = factors::split(factor_source(kind, data)?);
        return Ok(DataSplits { train, test });
    }
    load_idx_dir(&locate::locate(data, kind)?, kind)
}

/// Loads the test split only (the training split of an IDX set is not read).
pub fn load_test(kind: DatasetKind, data: Option<&Path>) -> Result<Dataset> {
    if kind.has_factors() {
        return Ok(load_splits(kind, data)?.test);
    }
    load_idx_split(&locate::locate(data, kind)?, kind, Split::Test)
}

/// Where a data set was found, for messages.
pub fn describe_source(kind: DatasetKind, data: Option<&Path>) -> Result<String> {
    Ok(match kind {
        DatasetKind::Shapes => "the built-in generator".to_string(),
        DatasetKind::Dsprites => dsprites::Dsprites::locate(data)?.display().to_string(),
        _ => locate::locate(data, kind)?.display().to_string(),
    })
}

/// Images looked at by [`pixel_stats`] in a data set drawn on demand.
const STATS_SAMPLE: usize = 10_000;

/// Mean and standard deviation of all pixels (of the first 10,000 images of a data set drawn
/// on demand), for `vae data info`.
pub fn pixel_stats(data: &Dataset) -> (f64, f64) {
    let sample;
    let images = if data.is_generated() {
        let idx: Vec<usize> = (0..data.len().min(STATS_SAMPLE)).collect();
        sample = data.gather(&idx);
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
    (mean, var.sqrt())
}

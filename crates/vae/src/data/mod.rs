//! Data: IDX files, CIFAR-10 batches, folders of PNG/JPEG files, the built-in `shapes` and the
//! dSprites file become [`Dataset`]s of images in [0, 1] with labels.

pub mod attributes;
pub mod cifar;
pub mod dsprites;
pub mod factors;
pub mod fetch;
pub mod folder;
pub mod idx;
pub mod locate;
pub mod shapes;

use crate::error::{Error, Result};
use crate::rng::DATA_SEED;
use factors::FactorImages;
use folder::FolderImages;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which IDX data set a folder holds; it decides the class names and the fetch URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// A folder of PNG/JPEG files (`--data DIR`), labelled by sub-folder, streamed from disk.
    Folder,
    /// CIFAR-10, binary version (`--data` names the `cifar-10-batches-bin` folder).
    Cifar10,
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
            DatasetKind::Folder => "folder",
            DatasetKind::Cifar10 => "cifar10",
        }
    }

    /// True for data sets of light objects on black, which pictures draw inverted (dark on
    /// white, as the lecture's figures do); photographs are drawn as they are.
    pub fn drawn_inverted(self) -> bool {
        !matches!(self, DatasetKind::Folder | DatasetKind::Cifar10)
    }

    /// True for the data sets whose pixels are 0 or 1 already (white shapes on black), on which
    /// a Bernoulli is a normalised likelihood without binarizing.
    pub fn is_binary(self) -> bool {
        matches!(self, DatasetKind::Shapes | DatasetKind::Dsprites)
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
            DatasetKind::Cifar10 => cifar::CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
            DatasetKind::Idx | DatasetKind::Folder => {
                (0..num_classes).map(|c| c.to_string()).collect()
            }
        }
    }
}

/// Colour of the images a model sees (folders and CIFAR-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Color {
    /// Three channels, red, green, blue.
    #[default]
    Rgb,
    /// One grey channel (ITU-R 601 luma).
    Grey,
}

impl Color {
    /// Values per pixel.
    pub fn channels(self) -> usize {
        match self {
            Color::Rgb => 3,
            Color::Grey => 1,
        }
    }
}

/// Side and colour of the square images a folder is resized to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSize {
    pub side: usize,
    pub color: Color,
}

impl ImageSize {
    /// Values per image.
    pub fn values(self) -> usize {
        self.side * self.side * self.color.channels()
    }
}

/// Which data a run reads, and how: everything `load_splits` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSpec {
    pub kind: DatasetKind,
    /// `--data`: a folder or file; `None` searches the usual places (IDX sets only).
    pub data: Option<PathBuf>,
    /// Folders: the side images are resized to.
    pub image_size: usize,
    /// Folders and CIFAR-10: colour or grey.
    pub color: Color,
    /// Folders: the seed of the random test split.
    pub split_seed: u64,
    /// Folders: memory for decoded training images, in MiB.
    pub cache_mb: usize,
}

impl DataSpec {
    /// The defaults for `kind` at `data`: 64x64 RGB, split seed 0, 1 GiB of cache.
    pub fn new(kind: DatasetKind, data: Option<&Path>) -> Self {
        DataSpec {
            kind,
            data: data.map(Path::to_path_buf),
            image_size: 64,
            color: Color::Rgb,
            split_seed: 0,
            cache_mb: 1024,
        }
    }

    fn data(&self) -> Option<&Path> {
        self.data.as_deref()
    }
}

/// Images with labels, held as `f32` in [0, 1], one image after another, each channel-planar
/// (row-major grey, or all red rows, then green, then blue), or made on demand from a factor
/// grid or read on demand from a folder.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The pixels; empty when the images are made or read on demand.
    pub images: Vec<f32>,
    pub labels: Vec<u8>,
    pub height: usize,
    pub width: usize,
    /// Colour channels: 1 (grey) or 3 (RGB).
    pub channels: usize,
    pub class_names: Vec<String>,
    /// For factor data sets: each image's place in the factor grid.
    pub factors: Option<FactorImages>,
    /// For folder data sets: each image's file.
    pub files: Option<FolderImages>,
    /// For images made or read on demand: the stream of the fixed binarization that
    /// [`Dataset::gather`] applies to them (see [`Dataset::binarize_fixed`]).
    pub binarized: Option<u64>,
    /// What a conditional model is told about each image; `None` for the other models.
    pub conditions: Option<Conditions>,
}

/// The condition y of each image of a data set, as a conditional VAE reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Conditions {
    /// The label, one-hot over this many classes.
    Classes(usize),
    /// Attributes, multi-hot over `count` of them: bit j of `bits[i]` says whether image i has
    /// attribute j (a word per image, so that streamed folders stay light).
    Attributes { count: usize, bits: Vec<u64> },
}

/// Images and, for a conditional model, their conditions y: everything an encoder reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Inputs {
    /// The images, one after another.
    pub pixels: Vec<f32>,
    /// One condition row per image; `None` for the unconditional models.
    pub conditions: Option<Vec<f32>>,
}

impl Inputs {
    /// Images without conditions.
    pub fn images(pixels: Vec<f32>) -> Self {
        Inputs {
            pixels,
            conditions: None,
        }
    }
}

/// Most attributes a condition can hold (one bit each of a word per image); CelebA has 40.
pub const MAX_CONDITION_ATTRIBUTES: usize = 64;

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
            channels: 1,
            class_names,
            factors: None,
            files: None,
            binarized: None,
            conditions: None,
        }
    }

    /// True when images are drawn or read on demand rather than held.
    pub fn is_generated(&self) -> bool {
        self.images.is_empty()
            && (self.factors.is_some() || self.files.is_some())
            && !self.labels.is_empty()
    }

    /// Draws and holds every image (for test sets, which are read many times).
    pub fn materialize(&mut self) {
        if self.is_generated()
            && let Some(f) = &self.factors
        {
            self.images = f.render(f.indices.iter().map(|&i| i as usize));
            if let Some(stream) = self.binarized.take() {
                self.binarize_fixed(stream);
            }
        }
    }

    /// Binarizes every image once and for all, image `i` from its own place in `stream` of
    /// [`DATA_SEED`]: the same pixels in every run, whatever its seed, `--limit` or batch
    /// order. Held images change now; images made or read on demand change as they are
    /// gathered, so that streamed training sets are binarized too.
    pub fn binarize_fixed(&mut self, stream: u64) {
        if self.is_generated() {
            self.binarized = Some(stream);
        } else {
            let indices: Vec<usize> = (0..self.len()).collect();
            binarize_images(&mut self.images, &indices, stream);
        }
    }

    /// Splits off the last `n` images (at most all but one) as a data set of their own, the way
    /// the literature holds out MNIST's last 10,000 training images for validation.
    pub fn split_off_last(&mut self, n: usize) -> Dataset {
        let keep = self.len() - n.min(self.len().saturating_sub(1));
        let mut rest = self.clone();
        rest.images = self
            .images
            .split_off((keep * self.pixels()).min(self.images.len()));
        rest.labels = self.labels.split_off(keep);
        if let (Some(f), Some(r)) = (&mut self.factors, &mut rest.factors) {
            r.indices = f.indices.split_off(keep);
        }
        if let (Some(f), Some(r)) = (&mut self.files, &mut rest.files) {
            r.files = f.files.split_off(keep);
        }
        if let (
            Some(Conditions::Attributes { bits, .. }),
            Some(Conditions::Attributes { bits: r, .. }),
        ) = (&mut self.conditions, &mut rest.conditions)
        {
            *r = bits.split_off(keep);
        }
        rest
    }

    /// Values of each image's condition y (0 without conditions).
    pub fn condition_dim(&self) -> usize {
        match &self.conditions {
            Some(Conditions::Classes(n)) | Some(Conditions::Attributes { count: n, .. }) => *n,
            None => 0,
        }
    }

    /// The conditions y of the images at `indices`, one row of [`Dataset::condition_dim`]
    /// values each; `None` for a data set read by an unconditional model.
    pub fn condition_rows(&self, indices: &[usize]) -> Option<Vec<f32>> {
        let dim = self.condition_dim();
        let conditions = self.conditions.as_ref()?;
        let mut rows = vec![0.0; indices.len() * dim];
        for (row, &i) in rows.chunks_mut(dim).zip(indices) {
            match conditions {
                Conditions::Classes(_) => row[self.labels[i] as usize] = 1.0,
                Conditions::Attributes { bits, .. } => {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = (bits[i] >> j & 1) as f32;
                    }
                }
            }
        }
        Some(rows)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image: pixels times colour channels.
    pub fn pixels(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Image `i`: `pixels()` values.
    pub fn image(&self, i: usize) -> Result<Cow<'_, [f32]>> {
        if self.is_generated() {
            return Ok(Cow::Owned(self.gather(&[i])?));
        }
        let p = self.pixels();
        Ok(Cow::Borrowed(&self.images[i * p..(i + 1) * p]))
    }

    /// Keeps only the first `n` images.
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.images.truncate(n * self.pixels());
        self.labels.truncate(n);
        if let Some(f) = &mut self.factors {
            f.indices.truncate(n);
        }
        if let Some(f) = &mut self.files {
            f.files.truncate(n);
        }
        if let Some(Conditions::Attributes { bits, .. }) = &mut self.conditions {
            bits.truncate(n);
        }
    }

    /// The file of image `i`, relative to the folder (folder data sets only).
    pub fn file_name(&self, i: usize) -> Option<&Path> {
        let f = self.files.as_ref()?;
        Some(&f.index.files[f.files[i] as usize])
    }

    /// Factor classes of image `i` (factor data sets only).
    pub fn factor_classes(&self, i: usize) -> Option<Vec<usize>> {
        let f = self.factors.as_ref()?;
        Some(f.source.classes(f.indices[i] as usize))
    }

    /// The images at `indices` with their conditions ([`Dataset::gather`],
    /// [`Dataset::condition_rows`]): what an encoder reads of them.
    pub fn inputs(&self, indices: &[usize]) -> Result<Inputs> {
        Ok(Inputs {
            pixels: self.gather(indices)?,
            conditions: self.condition_rows(indices),
        })
    }

    /// The images at `indices`, concatenated (a batch). Fails only when a file read on demand
    /// turns out to be unreadable.
    pub fn gather(&self, indices: &[usize]) -> Result<Vec<f32>> {
        if self.is_generated() {
            let mut pixels = if let Some(f) = &self.factors {
                f.render(indices.iter().map(|&i| f.indices[i] as usize))
            } else if let Some(f) = &self.files {
                let files: Vec<u32> = indices.iter().map(|&i| f.files[i]).collect();
                f.load(&files)?
            } else {
                unreachable!("is_generated needs factors or files")
            };
            if let Some(stream) = self.binarized {
                binarize_images(&mut pixels, indices, stream);
            }
            return Ok(pixels);
        }
        let p = self.pixels();
        let mut out = Vec::with_capacity(indices.len() * p);
        for &i in indices {
            out.extend_from_slice(&self.images[i * p..(i + 1) * p]);
        }
        Ok(out)
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// Binarizes images that lie one after another in `pixels`, the one of data-set index
/// `indices[j]` with the draws at position `indices[j] * pixels_per_image` of `stream` of
/// [`DATA_SEED`]: a fixed binarization that each image gets the same wherever it is read.
pub fn binarize_images(pixels: &mut [f32], indices: &[usize], stream: u64) {
    if indices.is_empty() {
        return;
    }
    let per_image = pixels.len() / indices.len();
    let mut draws = crate::rng::rng(DATA_SEED, stream);
    for (image, &i) in pixels.chunks_mut(per_image).zip(indices) {
        draws.set_word_pos(i as u128 * per_image as u128);
        binarize_in_place(image, &mut draws);
    }
}

/// Training and test splits of one data set.
#[derive(Debug, Clone)]
pub struct DataSplits {
    pub train: Dataset,
    pub test: Dataset,
    /// Held out from the training split (`--validation`), when asked for.
    pub validation: Option<Dataset>,
}

impl DataSplits {
    /// The two splits of a data set, no validation set.
    pub fn new(train: Dataset, test: Dataset) -> Self {
        DataSplits {
            train,
            test,
            validation: None,
        }
    }
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
    Ok(DataSplits::new(train, test))
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

/// Checks the settings that only some data sets use.
pub fn validate_spec(spec: &DataSpec) -> Result<()> {
    if spec.kind == DatasetKind::Folder {
        if !(4..=1024).contains(&spec.image_size) {
            return Err(Error::Config(format!(
                "--image-size must be 4 to 1024 pixels (got {}; try 64)",
                spec.image_size
            )));
        }
        if spec.cache_mb == 0 {
            return Err(Error::Config(
                "--cache-mb must be at least 1 (try 1024)".into(),
            ));
        }
        if spec.data.is_none() {
            return Err(Error::Data(
                "--dataset folder needs --data DIR, a folder of PNG or JPEG files".into(),
            ));
        }
    }
    Ok(())
}

/// Loads both splits of any data set: IDX files from the located folder, CIFAR-10 batches, a
/// folder of images (training split streamed) or a factor grid.
pub fn load_splits(spec: &DataSpec) -> Result<DataSplits> {
    validate_spec(spec)?;
    let kind = spec.kind;
    match kind {
        DatasetKind::Shapes | DatasetKind::Dsprites => {
            let (train, test) = factors::split(factor_source(kind, spec.data())?);
            Ok(DataSplits::new(train, test))
        }
        DatasetKind::Cifar10 => {
            let dir = cifar::locate(spec.data())?;
            Ok(DataSplits::new(
                cifar::read(&cifar::train_files(&dir), spec.color)?,
                cifar::read(&[dir.join(cifar::TEST_FILE)], spec.color)?,
            ))
        }
        DatasetKind::Folder => {
            let (train, test) = folder::split(
                spec.data().expect("checked by validate_spec"),
                ImageSize {
                    side: spec.image_size,
                    color: spec.color,
                },
                spec.split_seed,
                spec.cache_mb << 20,
            )?;
            Ok(DataSplits::new(train, test))
        }
        _ => load_idx_dir(&locate::locate(spec.data(), kind)?, kind),
    }
}

/// Loads the test split only (the training split of an IDX or CIFAR-10 set is not read).
pub fn load_test(spec: &DataSpec) -> Result<Dataset> {
    match spec.kind {
        DatasetKind::Cifar10 => {
            let dir = cifar::locate(spec.data())?;
            cifar::read(&[dir.join(cifar::TEST_FILE)], spec.color)
        }
        kind if kind.has_factors() || kind == DatasetKind::Folder => Ok(load_splits(spec)?.test),
        kind => load_idx_split(&locate::locate(spec.data(), kind)?, kind, Split::Test),
    }
}

/// Where a data set was found, for messages.
pub fn describe_source(spec: &DataSpec) -> Result<String> {
    let data = spec.data();
    Ok(match spec.kind {
        DatasetKind::Shapes => "the built-in generator".to_string(),
        DatasetKind::Dsprites => dsprites::Dsprites::locate(data)?.display().to_string(),
        DatasetKind::Cifar10 => cifar::locate(data)?.display().to_string(),
        DatasetKind::Folder => data.map(|d| d.display().to_string()).unwrap_or_default(),
        kind => locate::locate(data, kind)?.display().to_string(),
    })
}

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

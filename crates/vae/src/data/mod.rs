//! Data: IDX files, CIFAR-10 batches, folders of PNG/JPEG files, the built-in `shapes` and the
//! dSprites file become [`Dataset`]s of images in [0, 1] with labels.
//!
//! Each data set is a file behind the [`DataSet`] trait ([`catalogue`]), registered by one line
//! below; the
//! container is [`dataset`], the binarizations [`binarize`], a run's preparation of its splits
//! (validation set, limit, binarization, conditions) [`prepare`], and `vae data info` and
//! `vae data bench` [`info`]. The file formats and helpers: [`idx`], [`locate`], [`fetch`],
//! [`factors`], [`attributes`].

pub mod attributes;
pub mod binarize;
pub mod catalogue;
pub mod cifar;
pub mod dataset;
pub mod dsprites;
pub mod factors;
pub mod fashion_mnist;
pub mod fetch;
pub mod folder;
pub mod idx;
pub mod info;
pub mod locate;
pub mod mnist;
pub mod prepare;
pub mod shapes;

pub use binarize::{Binarize, binarize_images, binarize_in_place};
pub use catalogue::DataSet;
pub use dataset::{Conditions, DataSplits, Dataset, Inputs, MAX_CONDITION_ATTRIBUTES};
pub use idx::{Split, find_file, has_idx_files, load_idx_dir, load_idx_split};
pub use info::{DataInfo, LoaderReport, SplitInfo, info, loader_throughput, pixel_stats};

// The registry ([`catalogue`]): every data set, one line each, `Name => file::Type`.
catalogue::data_sets! {
    FashionMnist => fashion_mnist::FashionMnist,
    Mnist => mnist::Mnist,
    Idx => idx::Idx,
    Shapes => shapes::Shapes,
    Dsprites => dsprites::DspritesFile,
    Folder => folder::Folder,
    Cifar10 => cifar::Cifar10,
}

use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
}

/// Checks the settings that only some data sets use ([`DataSet::validate`]).
pub fn validate_spec(spec: &DataSpec) -> Result<()> {
    spec.kind.data_set().validate(spec)
}

/// Loads both splits of the data set of `spec`.
pub fn load_splits(spec: &DataSpec) -> Result<DataSplits> {
    validate_spec(spec)?;
    spec.kind.data_set().load_splits(spec)
}

/// Loads the test split only (the training split of an IDX or CIFAR-10 set is not read).
pub fn load_test(spec: &DataSpec) -> Result<Dataset> {
    validate_spec(spec)?;
    spec.kind.data_set().load_test(spec)
}

/// Where a data set was found, for messages.
pub fn describe_source(spec: &DataSpec) -> Result<String> {
    spec.kind.data_set().describe_source(spec)
}

/// The factor grid of a data set with known factors.
pub fn factor_source(
    kind: DatasetKind,
    data: Option<&Path>,
) -> Result<Arc<dyn factors::FactorSource>> {
    kind.data_set().factor_source(data)
}

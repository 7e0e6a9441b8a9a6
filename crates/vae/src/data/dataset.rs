//! The container every data set loads into: [`Dataset`] (images held, or drawn or read on
//! demand, with labels and a conditional model's conditions), [`Inputs`] and [`DataSplits`].

use super::binarize::binarize_images;
use super::factors::FactorImages;
use super::folder::FolderImages;
use crate::error::Result;
use std::borrow::Cow;
use std::path::Path;

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

//! `--dataset dsprites --data dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`: the original
//! dSprites file (Matthey et al. 2017) for users who have it. Its `imgs` (N x 64 x 64, 0/1
//! bytes), `latents_classes` (N x 6) and `latents_values` (N x 6) arrays are read with
//! `ndarray-npy`. The file must hold a full factor grid in dSprites' index order (checked); the
//! grid's sizes are read from the classes, so a cut-down grid in the same format loads too.

use super::factors::{self, FactorSource};
use super::fetch::RemoteFile;
use super::shapes::{FACTOR_NAMES, SHAPE_NAMES};
use super::{DataSet, DataSpec, DataSplits};
use crate::error::{Error, IoContext, Result};
use ndarray::{Array2, Array3};
use ndarray_npy::NpzReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file name the dSprites repository publishes.
pub const FILE_NAME: &str = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz";

/// The original images, one byte per pixel, with dSprites' factor grid.
pub struct Dsprites {
    images: Vec<u8>,
    sizes: Vec<usize>,
    /// Value of each class of each factor.
    values: Vec<Vec<f64>>,
    height: usize,
    width: usize,
}

/// By hand: the derived form would print all 3 GB of pixels.
impl std::fmt::Debug for Dsprites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dsprites({} images)", self.images.len() / self.pixels())
    }
}

impl Dsprites {
    fn pixels(&self) -> usize {
        self.height * self.width
    }

    /// Finds the file: `path` itself, or [`FILE_NAME`] inside the folder `path`.
    pub fn locate(path: Option<&Path>) -> Result<PathBuf> {
        let path = path.ok_or_else(|| {
            Error::Data(format!(
                "--dataset dsprites needs --data pointing at {FILE_NAME} (from github.com/google-deepmind/dsprites-dataset); --dataset shapes is built in and needs no file"
            ))
        })?;
        let file = if path.is_dir() {
            path.join(FILE_NAME)
        } else {
            path.to_path_buf()
        };
        if !file.is_file() {
            return Err(Error::Data(format!(
                "{} does not exist; --data must name the dSprites .npz file or the folder holding {FILE_NAME}",
                file.display()
            )));
        }
        Ok(file)
    }

    /// Reads and checks the file.
    pub fn open(path: &Path) -> Result<Self> {
        let bad = |m: String| Error::file(path, m);
        let file = std::fs::File::open(path).ctx(|| format!("cannot open {}", path.display()))?;
        let mut npz =
            NpzReader::new(file).map_err(|e| bad(format!("not a readable .npz file ({e})")))?;
        let images: Array3<u8> = npz.by_name("imgs").map_err(|e| {
            bad(format!(
                "cannot read the `imgs` array as N x H x W bytes ({e}); is this the dSprites file?"
            ))
        })?;
        let classes: Array2<i64> = npz.by_name("latents_classes").map_err(|e| {
            bad(format!(
                "cannot read the `latents_classes` array as N x 6 integers ({e})"
            ))
        })?;
        let latent_values: Array2<f64> = npz.by_name("latents_values").map_err(|e| {
            bad(format!(
                "cannot read the `latents_values` array as N x 6 floats ({e})"
            ))
        })?;
        let (n, height, width) = images.dim();
        let factors = FACTOR_NAMES.len();
        if classes.dim() != (n, factors) || latent_values.dim() != (n, factors) {
            return Err(bad(format!(
                "holds {n} images but latents_classes is {:?} and latents_values {:?}; both must be {n} x {factors}",
                classes.dim(),
                latent_values.dim()
            )));
        }
        if n == 0 || classes.iter().any(|&c| !(0..=u16::MAX as i64).contains(&c)) {
            return Err(bad(
                "holds no images or negative factor classes; is this the dSprites file?".into(),
            ));
        }
        let sizes: Vec<usize> = (0..factors)
            .map(|f| {
                classes
                    .column(f)
                    .iter()
                    .max()
                    .map_or(0, |&m| m as usize + 1)
            })
            .collect();
        if sizes.iter().product::<usize>() != n {
            return Err(bad(format!(
                "holds {n} images but its factor classes span a grid of {sizes:?}; the file must hold the full grid"
            )));
        }
        let mut values: Vec<Vec<f64>> = sizes.iter().map(|&s| vec![0.0; s]).collect();
        let mut dsprites = Dsprites {
            images: Vec::new(),
            sizes,
            values: Vec::new(),
            height,
            width,
        };
        for (index, row) in classes.outer_iter().enumerate() {
            let expected = dsprites.classes(index);
            for (f, &c) in expected.iter().enumerate() {
                values[f][c] = latent_values[[index, f]];
            }
            if row.iter().zip(&expected).any(|(&c, &e)| c != e as i64) {
                return Err(bad(format!(
                    "image {index} has factor classes {row} where dSprites' index order puts {expected:?}; the file is not in the original order"
                )));
            }
        }
        if images.iter().any(|&p| p > 1) {
            return Err(bad(
                "`imgs` holds values other than 0 and 1; dSprites images are binary".into(),
            ));
        }
        dsprites.images = images.into_raw_vec_and_offset().0;
        dsprites.values = values;
        Ok(dsprites)
    }
}

impl FactorSource for Dsprites {
    fn factor_names(&self) -> &[&'static str] {
        &FACTOR_NAMES
    }

    fn factor_sizes(&self) -> &[usize] {
        &self.sizes
    }

    fn factor_value(&self, factor: usize, class: usize) -> f64 {
        self.values[factor][class]
    }

    fn height(&self) -> usize {
        self.height
    }

    fn width(&self) -> usize {
        self.width
    }

    fn render(&self, index: usize, out: &mut [f32]) {
        let p = self.pixels();
        for (o, &b) in out.iter_mut().zip(&self.images[index * p..(index + 1) * p]) {
            *o = b as f32;
        }
    }

    fn label_factor(&self) -> usize {
        1
    }

    fn class_names(&self) -> Vec<String> {
        (0..self.sizes[1])
            .map(|c| SHAPE_NAMES.get(c).map_or(c.to_string(), |s| s.to_string()))
            .collect()
    }
}

/// `dsprites`: the data set of the dSprites file (`--data`).
pub struct DspritesFile;

impl DataSet for DspritesFile {
    fn name(&self) -> &'static str {
        "dsprites"
    }

    fn about(&self) -> &'static str {
        "the original dSprites .npz file, with its factors."
    }

    fn load_splits(&self, spec: &DataSpec) -> Result<DataSplits> {
        let (train, test) = factors::split(self.factor_source(spec.data.as_deref())?);
        Ok(DataSplits::new(train, test))
    }

    fn describe_source(&self, spec: &DataSpec) -> Result<String> {
        Ok(Dsprites::locate(spec.data.as_deref())?
            .display()
            .to_string())
    }

    fn class_names(&self, _num_classes: usize) -> Vec<String> {
        SHAPE_NAMES.iter().map(|s| s.to_string()).collect()
    }

    fn is_binary(&self) -> bool {
        true
    }

    fn has_factors(&self) -> bool {
        true
    }

    fn factor_source(&self, data: Option<&Path>) -> Result<Arc<dyn FactorSource>> {
        Ok(Arc::new(Dsprites::open(&Dsprites::locate(data)?)?))
    }

    fn download(&self) -> Result<(&'static str, Vec<RemoteFile>)> {
        Err(Error::Config(
            "`vae data fetch` does not download dSprites; get dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz from github.com/google-deepmind/dsprites-dataset and pass --data FILE, or use the built-in --dataset shapes".into(),
        ))
    }
}

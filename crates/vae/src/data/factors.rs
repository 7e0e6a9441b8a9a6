//! Data sets with known generative factors (the built-in `shapes`, the original dSprites file):
//! every image is one point of a full factor grid, so any image can be made or looked up from
//! its factor classes. The disentanglement metrics need exactly that.

use super::Dataset;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::sync::Arc;

/// Test images held out of a factor data set (the rest is for training).
pub const TEST_IMAGES: usize = 10_000;
/// Seed of the fixed train/test split: the same for every run, so test numbers compare.
const SPLIT_SEED: u64 = 0x5eed_d5b1;

/// A grid of images indexed in mixed radix over the factor classes, first factor slowest (the
/// order of dSprites' `imgs` array).
pub trait FactorSource: Send + Sync + std::fmt::Debug {
    /// Factor names, e.g. `shape`, `scale`, `orientation`, `pos_x`, `pos_y`.
    fn factor_names(&self) -> &[&'static str];
    /// Number of values of each factor.
    fn factor_sizes(&self) -> &[usize];
    /// The value of class `class` of factor `factor` (e.g. an angle in radians).
    fn factor_value(&self, factor: usize, class: usize) -> f64;
    /// Image side lengths.
    fn height(&self) -> usize;
    fn width(&self) -> usize;
    /// Writes image `index` as values in [0, 1] into `out` (`height * width` values).
    fn render(&self, index: usize, out: &mut [f32]);
    /// Which factor gives the class label (the one the latent map is coloured by).
    fn label_factor(&self) -> usize;
    /// Names of the label factor's classes.
    fn class_names(&self) -> Vec<String>;

    /// Number of images: the product of the factor sizes.
    fn len(&self) -> usize {
        self.factor_sizes().iter().product()
    }

    /// True for an empty grid.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Factor classes of image `index`.
    fn classes(&self, index: usize) -> Vec<usize> {
        let sizes = self.factor_sizes();
        let mut classes = vec![0; sizes.len()];
        let mut rest = index;
        for (c, &size) in classes.iter_mut().zip(sizes).rev() {
            *c = rest % size;
            rest /= size;
        }
        classes
    }

    /// Index of the image with these factor classes.
    fn index_of(&self, classes: &[usize]) -> usize {
        classes
            .iter()
            .zip(self.factor_sizes())
            .fold(0, |index, (&c, &size)| index * size + c)
    }

    /// Factor values of image `index`.
    fn values(&self, index: usize) -> Vec<f64> {
        self.classes(index)
            .iter()
            .enumerate()
            .map(|(f, &c)| self.factor_value(f, c))
            .collect()
    }
}

/// Where the images of a [`Dataset`] come from in a factor data set, and how to make them.
#[derive(Debug, Clone)]
pub struct FactorImages {
    pub source: Arc<dyn FactorSource>,
    /// Grid index of each image of the data set.
    pub indices: Vec<u32>,
}

impl FactorImages {
    /// Renders the grid images `indices` (in parallel), concatenated.
    pub fn render(&self, indices: impl IntoIterator<Item = usize>) -> Vec<f32> {
        render_grid(
            self.source.as_ref(),
            &indices.into_iter().collect::<Vec<_>>(),
        )
    }
}

/// Renders grid images by index, concatenated.
pub fn render_grid(source: &dyn FactorSource, indices: &[usize]) -> Vec<f32> {
    let pixels = source.height() * source.width();
    let mut out = vec![0f32; indices.len() * pixels];
    out.par_chunks_mut(pixels)
        .zip(indices.par_iter())
        .for_each(|(image, &index)| source.render(index, image));
    out
}

/// Splits a factor grid into a training set made on demand (never held in memory) and a test
/// set of [`TEST_IMAGES`] images held in memory. Both are random subsets in a fixed shuffled
/// order, so the first N of either are a fair sample (what `--limit` takes).
pub fn split(source: Arc<dyn FactorSource>) -> (Dataset, Dataset) {
    let total = source.len();
    let mut order: Vec<u32> = (0..total as u32).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(SPLIT_SEED));
    let test_len = TEST_IMAGES.min(total / 5).max(1).min(total);
    let train_indices = order.split_off(test_len);
    let make = |indices: Vec<u32>| {
        let label = source.label_factor();
        let labels = indices
            .iter()
            .map(|&i| source.classes(i as usize)[label] as u8)
            .collect();
        Dataset {
            images: Vec::new(),
            labels,
            height: source.height(),
            width: source.width(),
            channels: 1,
            class_names: source.class_names(),
            factors: Some(FactorImages {
                source: source.clone(),
                indices,
            }),
            files: None,
            binarized: None,
            conditions: None,
        }
    };
    let train = make(train_indices);
    let mut test = make(order);
    test.materialize();
    (train, test)
}

//! Binarization: grey levels in [0, 1] made Bernoulli draws, every epoch anew (dynamic) or once
//! and for all (fixed), the same for an image wherever it is read.

use crate::rng::DATA_SEED;
use rand::Rng;
use serde::{Deserialize, Serialize};

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

//! Random streams. Every use of randomness in a run (shuffling, binarization, the noise of the
//! reparameterisation, pictures, metrics) draws from its own ChaCha stream of the run's seed,
//! so each is reproducible on its own; that is what makes resume exact.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};

/// The seed of the random draws that belong to the data rather than to a run: the fixed
/// binarizations of the training, validation and test sets are the same in every run, so two
/// runs with different seeds are scored on the same binary test images.
pub const DATA_SEED: u64 = 0;

/// The named streams of a seed.
pub mod stream {
    /// `--binarize fixed` of the training set (with [`super::DATA_SEED`]).
    pub const TRAIN_BINARIZE: u64 = 1;
    /// The binary test set of a binarized run (with [`super::DATA_SEED`]).
    pub const TEST_BINARIZE: u64 = 2;
    /// The binary validation set of a binarized run (with [`super::DATA_SEED`]).
    pub const VALID_BINARIZE: u64 = 7;
    /// The z ~ N(0, I) of `vae eval --sample-quality`.
    pub const SAMPLE_QUALITY: u64 = 8;
    /// The training images that give sample quality's floor.
    pub const QUALITY_FLOOR: u64 = 9;
    /// The z ~ N(0, I) of a conditional run's class fidelity.
    pub const CLASS_FIDELITY: u64 = 10;
    /// Epoch `e` of the feature classifier shuffles with stream `CLASSIFIER + e`.
    pub const CLASSIFIER: u64 = 3 << 32;
    /// Epoch `e` of a second stage (`two_stage`) shuffles with `SECOND_STAGE + e` and draws
    /// its codes' noise from `SECOND_STAGE_NOISE + e`.
    pub const SECOND_STAGE: u64 = 4 << 32;
    pub const SECOND_STAGE_NOISE: u64 = 5 << 32;
    pub const TEST_NOISE: u64 = 3;
    pub const PICTURES: u64 = 4;
    pub const IWAE_NOISE: u64 = 5;
    pub const METRICS: u64 = 6;
    /// Epoch `e` shuffles with stream `EPOCH_BASE + e`.
    pub const EPOCH_BASE: u64 = 1000;
    /// The reparameterisation noise of epoch `e`'s steps: stream `NOISE_BASE + e`.
    pub const NOISE_BASE: u64 = 1 << 32;
    /// The dynamic binarization of epoch `e`'s steps: stream `BINARIZE_BASE + e`.
    pub const BINARIZE_BASE: u64 = 2 << 32;
}

/// Words of a stream reserved for each training step (2^48: far more than any batch draws).
const STEP_WORDS: u128 = 1 << 48;

/// The draws of training step `step` from `stream`, starting `offset` words into the step's
/// share (one word per binarized pixel): any MPI rank can draw its own rows of a batch without
/// drawing the rows before them, and the draws are the ones a single process makes.
pub fn step_rng(seed: u64, stream: u64, step: usize, offset: u128) -> ChaCha8Rng {
    let mut r = rng(seed, stream);
    r.set_word_pos(step as u128 * STEP_WORDS + offset);
    r
}

/// A ChaCha generator for one named stream of `seed`.
pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// `n` standard-normal draws: the `eps` of the reparameterisation, or z ~ N(0, I).
pub fn normal_noise(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

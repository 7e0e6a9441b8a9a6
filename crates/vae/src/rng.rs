//! Random streams. Every use of randomness in a run (shuffling, binarization, the noise of the
//! reparameterisation, pictures, metrics) draws from its own ChaCha stream of the run's seed,
//! so each is reproducible on its own; that is what makes resume exact.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};

/// The named streams of a seed.
pub mod stream {
    pub const TRAIN_BINARIZE: u64 = 1;
    pub const TEST_BINARIZE: u64 = 2;
    pub const TEST_NOISE: u64 = 3;
    pub const PICTURES: u64 = 4;
    pub const IWAE_NOISE: u64 = 5;
    pub const METRICS: u64 = 6;
    /// Epoch `e` uses stream `EPOCH_BASE + e`.
    pub const EPOCH_BASE: u64 = 1000;
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

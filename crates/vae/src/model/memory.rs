//! What a model needs in memory, worked out from its [`ModelConfig`] before any weight is made:
//! it refuses a model or a batch that cannot fit (instead of hanging while the system pages),
//! and it sizes the passes of evaluation so that their memory is bounded by a budget, not by
//! the number of images.
//!
//! The activation count follows the layers as the CPU path runs them (im2col gathers, products,
//! scatter targets and index tables of the conv stacks); `docs/guarantees.md` holds it against
//! the peak resident memory measured for each architecture.

use super::config::{Arch, ModelConfig};
use crate::error::{Error, Result};

/// Working memory an inference pass (encode, decode, test loss, importance samples) may use:
/// with the model and the data, `vae eval` of a 64x64 conv model stays well under 1 GB.
pub const INFERENCE_BYTES: usize = 256 << 20;

const FLOAT: f64 = 4.0;
/// An index-table entry (i64) in floats.
const INDEX: f64 = 2.0;
/// Taps of a 3x3 kernel.
const TAPS: f64 = 9.0;

/// Parameters and per-image activations of a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Footprint {
    /// Weights of the model (as Burn's `num_params` counts them).
    pub parameters: f64,
    /// Floats of every tensor one image's pass through the model and the loss makes. Training
    /// keeps them all for the backward pass; inference frees most as it goes, so for it this is
    /// an upper bound.
    pub activations: f64,
}

impl Footprint {
    /// The footprint of `config`'s model.
    pub fn of(config: &ModelConfig) -> Self {
        match config.arch {
            Arch::Mlp => mlp(config),
            Arch::Conv | Arch::Celeba => conv(config),
        }
    }

    /// Bytes of training on batches of `batch` images: weights, gradients and Adam's two
    /// moments, plus the activations the backward pass keeps (their gradients come and go as
    /// it runs). Measured peaks are within this (`docs/guarantees.md`).
    pub fn training_bytes(&self, batch: usize) -> f64 {
        FLOAT * (4.0 * self.parameters + batch as f64 * self.activations)
    }

    /// Bytes of an inference pass over `rows` images, weights included.
    pub fn inference_bytes(&self, rows: usize) -> f64 {
        FLOAT * (self.parameters + rows as f64 * self.activations)
    }

    /// Images per inference pass that fit [`INFERENCE_BYTES`] of activations: at least 1, at
    /// most `most` (where larger passes stop paying).
    pub fn rows_per_pass(&self, most: usize) -> usize {
        let rows = INFERENCE_BYTES as f64 / (FLOAT * self.activations.max(1.0));
        (rows as usize).clamp(1, most.max(1))
    }

    /// Refuses training when it needs more than the memory available now, naming both and
    /// what to shrink; the check runs before any file is written. `rows` are the images of a
    /// batch that one process computes (under MPI its rank's share: `ceil(batch / ranks)`), and
    /// `ranks_here` the processes of the run on this machine, which share its memory.
    pub fn check_training(&self, rows: usize, ranks_here: usize) -> Result<()> {
        self.check_training_within(rows, ranks_here, crate::device::available_memory())
    }

    /// [`Footprint::check_training`] against `available` bytes (`None`: unknown, so nothing
    /// is refused).
    pub fn check_training_within(
        &self,
        rows: usize,
        ranks_here: usize,
        available: Option<u64>,
    ) -> Result<()> {
        let per_rank = self.training_bytes(rows);
        let parts = format!(
            "weights, gradients and Adam state {}, activations of {} {})",
            human(FLOAT * 4.0 * self.parameters),
            if ranks_here > 1 {
                format!("its share of a batch, {rows} images,")
            } else {
                format!("a batch of {rows}")
            },
            human(FLOAT * rows as f64 * self.activations),
        );
        let (needed, what, fix) = if ranks_here > 1 {
            (
                per_rank * ranks_here as f64,
                format!(
                    "training this model needs about {} on each rank ({parts}, {} for the {ranks_here} ranks on this machine",
                    human(per_rank),
                    human(per_rank * ranks_here as f64),
                ),
                "start fewer ranks per machine, or use fewer or smaller --hidden / --channels, a smaller --batch-size or --image-size",
            )
        } else {
            (
                per_rank,
                format!(
                    "training this model needs about {} ({parts}",
                    human(per_rank)
                ),
                "use fewer or smaller --hidden / --channels, a smaller --batch-size or --image-size",
            )
        };
        check(needed, available, &what, fix)
    }

    /// Refuses to load a model whose weights and one image's pass cannot fit.
    pub fn check_inference(&self) -> Result<()> {
        let needed = self.inference_bytes(1);
        check(
            needed,
            crate::device::available_memory(),
            &format!("this model needs about {} to run", human(needed)),
            "its model.toml asks for more than this machine has",
        )
    }
}

/// Errs when `needed` bytes exceed `available` (when the system tells it).
fn check(needed: f64, available: Option<u64>, what: &str, fix: &str) -> Result<()> {
    match available {
        Some(available) if needed > available as f64 => Err(Error::Config(format!(
            "{what}, but only {} of memory is available; {fix}",
            human(available as f64)
        ))),
        _ => Ok(()),
    }
}

/// Bytes for people: "1.2 GB", "350 MB", "2.5 TB".
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 || value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The per-image tensors the loss and the posterior add to any model: the sample (eps, its
/// scale, z) and the reconstruction loss' temporaries over the pixels.
fn latent_and_loss(config: &ModelConfig) -> f64 {
    let latent = config.latent_dim as f64;
    let heads = if config.autoencoder { 1.0 } else { 2.0 };
    (heads + 3.0) * latent + 4.0 * config.pixels() as f64
}

/// A dense layer's weights and bias.
fn dense(inputs: usize, outputs: usize) -> f64 {
    (inputs as f64 + 1.0) * outputs as f64
}

fn mlp(config: &ModelConfig) -> Footprint {
    let pixels = config.pixels();
    let heads = if config.autoencoder { 1 } else { 2 };
    let condition = config.condition_dim();
    let mut sizes = vec![pixels + condition];
    sizes.extend(&config.hidden);
    let last = *sizes.last().expect("at least the input size");
    let encoder: f64 = sizes.windows(2).map(|w| dense(w[0], w[1])).sum::<f64>()
        + heads as f64 * dense(last, config.latent_dim);
    let mut back = vec![config.latent_dim + condition];
    back.extend(config.hidden.iter().rev());
    let decoder: f64 =
        back.windows(2).map(|w| dense(w[0], w[1])).sum::<f64>() + dense(config.hidden[0], pixels);
    // Each hidden layer makes its product and its ReLU, on both sides; x and the logits.
    let hidden: f64 = config.hidden.iter().map(|&h| 2.0 * h as f64).sum();
    Footprint {
        parameters: encoder + decoder,
        // The condition and its copies in [x, y] and [z, y].
        activations: 2.0 * pixels as f64
            + 2.0 * hidden
            + latent_and_loss(config)
            + 3.0 * condition as f64,
    }
}

/// One 3x3 layer between grids of `in_px` and `out_px` pixels as the im2col path runs it: a
/// window gather (`9 * c_in` values per output pixel) when `gather`, else a product per input
/// pixel (`9 * c_out`) added into a zeroed target; then the result, its bias and its
/// activation (and batch norm's two tensors for the CelebA family); the index table holds 9
/// indices per pixel of the grid it is made on.
fn layer(in_px: f64, out_px: f64, c_in: f64, c_out: f64, gather: bool, norm: bool) -> f64 {
    let (spread, table) = if gather {
        (out_px * TAPS * c_in, out_px * TAPS * INDEX)
    } else {
        (
            in_px * TAPS * c_out + 2.0 * out_px * c_out,
            in_px * TAPS * INDEX,
        )
    };
    let outputs = if norm { 5.0 } else { 3.0 };
    spread + table + outputs * out_px * c_out
}

fn conv(config: &ModelConfig) -> Footprint {
    let (padded_h, padded_w) = config.padded_size();
    let norm = config.arch == Arch::Celeba;
    let image_c = config.image_channels;
    let image_px = (config.height * config.width) as f64;
    let mut channels = vec![image_c];
    channels.extend(&config.channels);
    let layers = config.channels.len();
    let px = |level: usize| ((padded_h >> level) * (padded_w >> level)) as f64;
    let conv_weights = |c_in: usize, c_out: usize| (c_in * 9 + 1) as f64 * c_out as f64;
    // Scale, shift and the running mean and variance.
    let norm_weights = |c: usize| if norm { 4.0 * c as f64 } else { 0.0 };

    let mut parameters = 0.0;
    // The image as given and as channels-last rows.
    let mut activations = 2.0 * config.pixels() as f64;
    for (level, pair) in channels.windows(2).enumerate() {
        let (c_in, c_out) = (pair[0], pair[1]);
        let in_px = if level == 0 { image_px } else { px(level) };
        let gather = c_out >= c_in;
        activations += layer(
            in_px,
            px(level + 1),
            c_in as f64,
            c_out as f64,
            gather,
            norm,
        );
        parameters += conv_weights(c_in, c_out) + norm_weights(c_out);
    }
    let top = *config
        .channels
        .last()
        .expect("validated: at least one layer");
    let flat = top * (padded_h >> layers) * (padded_w >> layers);
    let heads = if config.autoencoder { 1.0 } else { 2.0 };
    let condition = config.condition_dim();
    parameters += heads * dense(flat + condition, config.latent_dim)
        + dense(config.latent_dim + condition, flat);
    // The dense layer's output, reshaped to rows.
    activations += 2.0 * flat as f64;
    if condition > 0 {
        // The condition, the features with y appended and [z, y].
        activations += (flat + 3 * condition) as f64;
    }
    let reversed: Vec<usize> = config.channels.iter().rev().copied().collect();
    let ins = std::iter::once(reversed[0]).chain(reversed.iter().copied());
    for (i, (c_in, c_out)) in ins.zip(reversed.iter().copied()).enumerate() {
        let level = layers - i;
        activations += layer(
            px(level),
            px(level - 1),
            c_in as f64,
            c_out as f64,
            false,
            norm,
        );
        parameters += conv_weights(c_in, c_out) + norm_weights(c_out);
    }
    let first = config.channels[0];
    activations += layer(
        px(0),
        image_px,
        first as f64,
        image_c as f64,
        image_c >= first,
        false,
    );
    parameters += conv_weights(first, image_c);
    Footprint {
        parameters,
        activations: activations + latent_and_loss(config),
    }
}

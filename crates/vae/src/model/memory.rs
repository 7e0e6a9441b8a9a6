//! What a model needs in memory, worked out from its [`ModelConfig`] before any weight is made:
//! it refuses a model or a batch that cannot fit (instead of hanging while the system pages),
//! and it sizes the passes of evaluation so that their memory is bounded by a budget, not by
//! the number of images. [`check_size`] refuses any other count a caller asks for (samples,
//! importance samples, images) whose result cannot fit, before it is allocated: a failed
//! allocation aborts the process, Python's included.
//!
//! The counts are the sums over the layers each architecture lists
//! ([`super::Architecture::layers`]), as the CPU path runs them (the window gathers and
//! products of the conv stacks); `docs/guarantees.md` holds them against the peak resident
//! memory measured for each architecture.

use super::ModelConfig;
use super::arch::Half;
use super::prior::Prior;
use crate::error::{Error, Result};

/// Working memory an inference pass (encode, decode, test loss, importance samples) may use:
/// with the model and the data, `vae eval` of a 64x64 conv model stays well under 1 GB.
pub const INFERENCE_BYTES: usize = 256 << 20;

const FLOAT: f64 = 4.0;

/// Parameters and per-image activations of a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Footprint {
    /// Weights of the model (as Burn's `num_params` counts them).
    pub parameters: f64,
    /// Floats of every tensor one image's pass through the model and the loss makes. Training
    /// keeps them all for the backward pass; inference frees most as it goes, so for it this is
    /// an upper bound.
    pub activations: f64,
    /// Floats every pass makes whatever its number of images: a VampPrior's encoding of its
    /// pseudo-inputs (0 for the standard normal prior).
    pub per_pass: f64,
}

impl Footprint {
    /// The footprint of `config`'s model: its layers', and the posterior's and the loss's. A
    /// VampPrior adds its pseudo-inputs to the weights, its encoder pass over them to every
    /// pass, and the `[images, N]` log-densities to each image.
    pub fn of(config: &ModelConfig) -> Self {
        let layers = config.arch.architecture().layers(config);
        let (prior_weights, per_pass, prior_per_image) = match config.prior {
            Prior::Standard => (0.0, 0.0, 0.0),
            Prior::Vamp => {
                let n = config.pseudo_inputs as f64;
                let encoder: f64 = layers
                    .iter()
                    .filter(|l| l.half == Half::Encoder)
                    .map(|l| l.activations)
                    .sum();
                (n * config.pixels() as f64, n * encoder, 4.0 * n)
            }
        };
        Footprint {
            parameters: layers.iter().map(|l| l.parameters).sum::<f64>() + prior_weights,
            activations: layers.iter().map(|l| l.activations).sum::<f64>()
                + latent_and_loss(config)
                + prior_per_image,
            per_pass,
        }
    }

    /// Bytes of training on batches of `batch` images: weights, gradients and Adam's two
    /// moments, plus the activations the backward pass keeps (their gradients come and go as
    /// it runs). Measured peaks are within this (`docs/guarantees.md`).
    pub fn training_bytes(&self, batch: usize) -> f64 {
        self.training_bytes_of(batch as f64)
    }

    /// [`Footprint::training_bytes`] of `rows` counted in floating point, which no count
    /// overflows.
    fn training_bytes_of(&self, rows: f64) -> f64 {
        FLOAT * (4.0 * self.parameters + self.per_pass + rows * self.activations)
    }

    /// Bytes of an inference pass over `rows` images, weights included.
    pub fn inference_bytes(&self, rows: usize) -> f64 {
        FLOAT * (self.parameters + self.per_pass + rows as f64 * self.activations)
    }

    /// Images per inference pass that fit [`INFERENCE_BYTES`] of activations: at least 1, at
    /// most `most` (where larger passes stop paying).
    pub fn rows_per_pass(&self, most: usize) -> usize {
        let rows = (INFERENCE_BYTES as f64 - FLOAT * self.per_pass).max(0.0)
            / (FLOAT * self.activations.max(1.0));
        (rows as usize).clamp(1, most.max(1))
    }

    /// Refuses training when it needs more than the memory available now, naming both and
    /// what to shrink; the check runs before any file is written. `rows` are the images of a
    /// batch that one process computes (under MPI its rank's share: `ceil(batch / ranks)`), and
    /// `ranks_here` the processes of the run on this machine, which share its memory.
    pub fn check_training(&self, rows: usize, ranks_here: usize) -> Result<()> {
        self.check_training_within(rows, ranks_here, crate::device::available_memory())
    }

    /// [`Footprint::check_training`] against `available` bytes (`None`: unknown, so only what
    /// no machine can address is refused).
    pub fn check_training_within(
        &self,
        rows: usize,
        ranks_here: usize,
        available: Option<u64>,
    ) -> Result<()> {
        self.check_training_samples_within(rows, 1, ranks_here, available)
    }

    /// [`Footprint::check_training`] of batches whose `images` each draw `samples` z (the IWAE
    /// objective's K): `images * samples` rows of activations, counted without overflow (16
    /// images of 2^60 samples wrapped around to 0 rows and passed).
    pub fn check_training_samples(
        &self,
        images: usize,
        samples: usize,
        ranks_here: usize,
    ) -> Result<()> {
        self.check_training_samples_within(
            images,
            samples,
            ranks_here,
            crate::device::available_memory(),
        )
    }

    /// [`Footprint::check_training_samples`] against `available` bytes.
    pub fn check_training_samples_within(
        &self,
        images: usize,
        samples: usize,
        ranks_here: usize,
        available: Option<u64>,
    ) -> Result<()> {
        let rows = images as f64 * samples as f64;
        let per_rank = self.training_bytes_of(rows);
        let k = if samples > 1 {
            format!(" x {samples} samples (--k)")
        } else {
            String::new()
        };
        let parts = format!(
            "weights, gradients and Adam state {}, activations of {} {})",
            human(FLOAT * 4.0 * self.parameters),
            if ranks_here > 1 {
                format!("its share of a batch, {images} images{k},")
            } else if samples > 1 {
                format!("a batch of {images} images{k}")
            } else {
                format!("a batch of {images}")
            },
            human(FLOAT * rows * self.activations),
        );
        let shrink = if samples > 1 {
            "use a smaller --k or --batch-size, fewer or smaller --hidden / --channels, or a smaller --image-size"
        } else {
            "use fewer or smaller --hidden / --channels, a smaller --batch-size or --image-size"
        };
        let (needed, what, fix) = if ranks_here > 1 {
            (
                per_rank * ranks_here as f64,
                format!(
                    "training this model needs about {} on each rank ({parts}, {} for the {ranks_here} ranks on this machine",
                    human(per_rank),
                    human(per_rank * ranks_here as f64),
                ),
                format!("start fewer ranks per machine, or {shrink}"),
            )
        } else {
            (
                per_rank,
                format!(
                    "training this model needs about {} ({parts}",
                    human(per_rank)
                ),
                shrink.to_string(),
            )
        };
        refusal(needed, available, &what, &fix).map_or(Ok(()), |line| Err(Error::Config(line)))
    }

    /// Refuses to load a model whose weights and one image's pass cannot fit.
    pub fn check_inference(&self) -> Result<()> {
        let needed = self.inference_bytes(1);
        let what = format!("this model needs about {} to run", human(needed));
        let fix = "its model.toml asks for more than this machine has";
        refusal(needed, crate::device::available_memory(), &what, fix)
            .map_or(Ok(()), |line| Err(Error::Config(line)))
    }
}

/// Refuses what a caller asks for (`doing`: "sampling 100 images") when its `bytes`
/// cannot fit in the memory this process can still take, with [`Error::TooLarge`] naming both
/// and `fix`; called before anything is allocated, with the bytes counted in floating point
/// (no count overflows it). The one check behind every count of the CLI and of Python.
pub fn check_size(doing: &str, bytes: f64, fix: &str) -> Result<()> {
    // Up to a pass's budget, which every pass takes unasked, reading the system's memory (and
    // its cgroups) would cost more than it could save: the explorer decodes on every request.
    if bytes <= INFERENCE_BYTES as f64 {
        return Ok(());
    }
    check_size_within(doing, bytes, fix, crate::device::available_memory())
}

/// [`check_size`] against `available` bytes (`None`: unknown, so only what no machine can
/// address is refused).
pub fn check_size_within(doing: &str, bytes: f64, fix: &str, available: Option<u64>) -> Result<()> {
    let what = format!("{doing} needs about {}", human(bytes));
    refusal(bytes, available, &what, fix).map_or(Ok(()), |line| Err(Error::TooLarge(line)))
}

/// The line refusing `needed` bytes: more than `available` (when the system tells it), or more
/// than any allocation can hold (when it does not).
fn refusal(needed: f64, available: Option<u64>, what: &str, fix: &str) -> Option<String> {
    match available {
        Some(available) if needed > available as f64 => Some(format!(
            "{what}, but only {} of memory is available; {fix}",
            human(available as f64)
        )),
        Some(_) => None,
        None if needed > isize::MAX as f64 => Some(format!(
            "{what}, more memory than this machine can address; {fix}"
        )),
        None => None,
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

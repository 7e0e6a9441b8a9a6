//! One epoch of training and its steps: shuffle, batch, binarize, draw eps, forward, loss,
//! backward, clip, Adam, and the check of what the steps measured. `vae train` and `vae bench`
//! both run exactly this.
//!
//! A step reads nothing back from the device: on a GPU every read waits for all queued work, so
//! a read per step would leave the GPU idle while the host prepares the next one. The steps'
//! loss parts and gradient norms stay on the device and are read together ([`Unread`]), every
//! [`READ_EVERY_STEPS`] steps or [`READ_EVERY`] of time, whichever comes first, and at the end
//! of the epoch. The first step that was not finite is still named exactly; the steps after it
//! in the same stretch are wasted, and the epoch is thrown away as before (rollback restores
//! the last checkpoint). The batches of a GPU run are uploaded [`Setup::window`] steps at a time.

use super::gradients;
use super::progress::Progress;
use super::shards;
use crate::config::TrainConfig;
use crate::data::{Binarize, Dataset, binarize_in_place};
use crate::device::{is_cpu_device, to_device, to_host};
use crate::distributed::World;
use crate::error::{Error, Result};
use crate::model::loss::Loss;
use crate::model::{ModelConfig, Vae};
use crate::optim::{self, NotFinite};
use crate::parallel::Shards;
use crate::rng::{normal_noise, rng, step_rng, stream};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::seq::SliceRandom;
use std::ops::Range;
use std::time::{Duration, Instant};

/// The most steps whose values stay unread on the device.
const READ_EVERY_STEPS: usize = 64;
/// The longest time values stay unread (the progress bar moves at least this often).
const READ_EVERY: Duration = Duration::from_millis(500);
/// The most bytes a GPU run uploads at once ([`upload_window`]).
const WINDOW_BYTES: usize = 32 << 20;
/// The most steps a GPU run uploads at once.
const WINDOW_STEPS: usize = 64;

/// Everything that stays fixed while a run trains.
pub struct Setup<'a> {
    pub config: &'a TrainConfig,
    pub train_set: &'a Dataset,
    pub device: Device,
    pub ad_device: Device,
    pub latent: usize,
    /// Data-parallel shards on the CPU (see `shards`); `None` runs each op on all threads.
    pub shards: Option<&'a Shards>,
    /// The MPI ranks that share each batch (one process: [`World::single`]).
    pub world: World,
    /// How many steps' batches are prepared on the host and uploaded together
    /// ([`upload_window`]); the results do not depend on it.
    pub window: usize,
}

/// The steps whose batches a run uploads together: one on the CPU, where a tensor made from
/// host values is those values, and on a GPU [`steps_per_upload`], so that a step takes its
/// batch from the device instead of waiting on a copy of its own.
pub fn upload_window(device: &Device, config: &TrainConfig, model: &ModelConfig) -> usize {
    if is_cpu_device(device) {
        1
    } else {
        steps_per_upload(config, model)
    }
}

/// As many steps as fit in 32 MiB (at most 64) of what a step uploads per image: its pixels,
/// its noise (K draws of z under the IWAE objective) and a conditional run's condition.
pub fn steps_per_upload(config: &TrainConfig, model: &ModelConfig) -> usize {
    let per_image = model.pixels() + model.latent_dim * config.samples() + model.condition_dim();
    let batch_bytes = config.batch_size.max(1) * per_image.max(1) * std::mem::size_of::<f32>();
    (WINDOW_BYTES / batch_bytes).clamp(1, WINDOW_STEPS)
}

/// Where a run stopped being finite.
pub struct Divergence {
    pub epoch: usize,
    pub step: usize,
    pub what: String,
}

/// Sums over an epoch: the loss summed over images, the gradient norm over steps.
pub struct EpochSums {
    pub loss: Loss,
    pub grad_norm: f64,
    pub steps: usize,
    pub seconds: f64,
    /// The beta of the last step (see [`beta_at`]).
    pub beta: f64,
}

/// The beta in force at `step` of the run (0-based over all epochs): rising linearly from 0
/// over the warm-up epochs, then the run's beta.
pub fn beta_at(config: &TrainConfig, step: usize, steps_per_epoch: usize) -> f64 {
    let warmup_steps = config.kl_warmup_epochs * steps_per_epoch;
    if warmup_steps > 0 {
        config.beta * (step as f64 / warmup_steps as f64).min(1.0)
    } else {
        config.beta
    }
}

/// The rows of a batch of `n` that this rank computes: its share of the global batch.
pub fn rank_rows(world: &World, n: usize) -> Range<usize> {
    world.rank * n / world.size..(world.rank + 1) * n / world.size
}

/// One pass over the training set. The inner `Err` is a divergence, which the caller may
/// recover from; the outer one is an error that ends the run.
///
/// After a divergence the model is gone and `optimizer` holds the state of every step up to
/// the read that found it (losses are read every 64 steps or half a second): Adam's moments may
/// be NaN or infinite. Restore both from the last checkpoint before training on, as
/// [`super::train`] does ([`super::checkpoint`]); stepping on with this optimizer spreads the
/// NaN into every weight.
///
/// Under MPI every rank walks the same shuffled order of global batches, computes its own rows
/// of each ([`rank_rows`]) with the noise and binarization a single process would draw for them,
/// and the ranks sum their gradients and losses before every rank takes the same Adam step.
pub fn train_epoch(
    setup: &Setup,
    epoch: usize,
    mut model: Vae,
    optimizer: &mut ModuleOptimizer,
    lr: f64,
    progress: &mut dyn Progress,
) -> Result<std::result::Result<(Vae, EpochSums), Divergence>> {
    let config = setup.config;
    let data = setup.train_set;
    let batch_size = config.batch_size;
    let steps_per_epoch = data.len().div_ceil(batch_size);

    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut rng(config.seed, stream::EPOCH_BASE + epoch as u64));
    let batches: Vec<&[usize]> = order.chunks(batch_size).collect();
    progress.epoch_started(epoch, config.epochs, steps_per_epoch);
    let started = Instant::now();
    let mut sums = EpochSums {
        loss: Loss::default(),
        grad_norm: 0.0,
        steps: 0,
        seconds: 0.0,
        beta: config.beta,
    };
    let mut unread = Unread::new();
    let mut parts = Vec::new().into_iter();
    let window = setup.window.max(1);
    for (step, indices) in batches.iter().enumerate() {
        if step % window == 0 {
            // The ranks agree that every rank's rows loaded before any of them starts the
            // forward pass: the ranks of a batch-norm model meet inside it, and a rank that
            // skipped it would meet the others in the wrong collective. A corrupt image stops
            // every rank with the one line of the rank that read it.
            let steps = &batches[step..(step + window).min(batches.len())];
            parts = setup
                .world
                .agree(window_parts(setup, epoch, step, steps))?
                .into_iter();
        }
        let part = parts.next().expect("a part for every step of the window");
        let n = indices.len();
        let beta = beta_at(
            config,
            (epoch - 1) * steps_per_epoch + step,
            steps_per_epoch,
        );
        let (trained, values) = optimizer_step(setup, model, optimizer, part, n, beta, lr)?;
        model = trained;
        unread.push(step, n, values);
        sums.beta = beta;
        // Under MPI the values are already on the host (the ranks summed them there), and
        // every rank must find a divergence at the same step: read at every step.
        let last = step + 1 == steps_per_epoch;
        if last || setup.world.size > 1 || unread.is_due() {
            if let Err(divergence) = unread.read(epoch, &mut sums)? {
                progress.epoch_ended();
                return Ok(Err(divergence));
            }
            let seen = (step * batch_size + n) as f64;
            progress.step(
                step + 1,
                sums.loss.total / seen,
                seen / started.elapsed().as_secs_f64(),
            );
        }
        if setup.world.size == 1 && !last && progress.stop_requested() {
            progress.epoch_ended();
            return Err(Error::Interrupted(format!(
                "training stopped at step {} of {steps_per_epoch} of epoch {epoch}; the run folder holds the epochs before it: resume the run to go on",
                step + 1
            )));
        }
    }
    sums.seconds = started.elapsed().as_secs_f64();
    progress.epoch_ended();
    Ok(Ok((model, sums)))
}

/// This rank's rows of one batch on the device: the images (binarized if the run says so), a
/// conditional run's conditions and the reparameterisation noise.
struct Part {
    x: Tensor<2>,
    condition: Option<Tensor<2>>,
    eps: Option<Tensor<2>>,
}

/// This rank's rows of the batches `window` (steps `first..` of `epoch`), prepared on the host
/// and uploaded as one tensor each, then cut into one [`Part`] per step on the device.
fn window_parts(
    setup: &Setup,
    epoch: usize,
    first: usize,
    window: &[&[usize]],
) -> Result<Vec<Part>> {
    let config = setup.config;
    let data = setup.train_set;
    let pixels = data.pixels();
    // Each image's noise: one latent for the ELBO, K for the IWAE objective.
    let latent = setup.latent * config.samples();
    let mut images = Vec::new();
    let mut noise = Vec::new();
    let mut conditions = Vec::new();
    let mut rows_of = Vec::with_capacity(window.len());
    for (i, indices) in window.iter().enumerate() {
        let step = first + i;
        let rows = rank_rows(&setup.world, indices.len());
        let mine = &indices[rows.clone()];
        let mut batch = data.gather(mine)?;
        if config.binarize == Binarize::Dynamic {
            let offset = (rows.start * pixels) as u128;
            let stream = stream::BINARIZE_BASE + epoch as u64;
            binarize_in_place(&mut batch, &mut step_rng(config.seed, stream, step, offset));
        }
        if images.is_empty() {
            images = batch;
        } else {
            images.extend_from_slice(&batch);
        }
        if let Some(y) = data.condition_rows(mine) {
            conditions.extend_from_slice(&y);
        }
        if !config.autoencoder {
            // The whole batch's noise (a few thousand draws) keeps each row's draw the same
            // whichever rank computes it.
            let stream = stream::NOISE_BASE + epoch as u64;
            let all = normal_noise(
                &mut step_rng(config.seed, stream, step, 0),
                indices.len() * latent,
            );
            noise.extend_from_slice(&all[rows.start * latent..rows.end * latent]);
        }
        rows_of.push(rows.len());
    }
    let total: usize = rows_of.iter().sum();
    let device = &setup.ad_device;
    let x = to_device(images, total, pixels, device);
    let condition = (!conditions.is_empty()).then(|| {
        let dim = data.condition_dim();
        to_device(conditions, total, dim, device)
    });
    let eps = (!config.autoencoder).then(|| to_device(noise, total, latent, device));
    let mut start = 0;
    Ok(rows_of
        .into_iter()
        .map(|rows| {
            let cut = |t: &Tensor<2>| t.clone().narrow(0, start, rows);
            let part = Part {
                x: cut(&x),
                condition: condition.as_ref().map(cut),
                eps: eps.as_ref().map(cut),
            };
            start += rows;
            part
        })
        .collect())
}

/// The values of the steps not read yet, on the device: per step `[recon, kl, total]` (batch
/// means) and the squared gradient norm before clipping, read back in one read.
struct Unread {
    steps: Vec<(usize, usize)>,
    values: Vec<Tensor<1>>,
    since: Instant,
}

impl Unread {
    fn new() -> Self {
        Unread {
            steps: Vec::new(),
            values: Vec::new(),
            since: Instant::now(),
        }
    }

    /// Step `step`, of `n` images, measured `values`.
    fn push(&mut self, step: usize, n: usize, values: Tensor<1>) {
        self.steps.push((step, n));
        self.values.push(values);
    }

    fn is_due(&self) -> bool {
        self.steps.len() >= READ_EVERY_STEPS || self.since.elapsed() >= READ_EVERY
    }

    /// Reads the values and adds them to `sums`; the inner `Err` is the first step whose loss
    /// or gradient was not finite.
    fn read(
        &mut self,
        epoch: usize,
        sums: &mut EpochSums,
    ) -> Result<std::result::Result<(), Divergence>> {
        let read = to_host(Tensor::cat(std::mem::take(&mut self.values), 0))?;
        self.since = Instant::now();
        for (&(step, n), values) in self.steps.iter().zip(read.chunks(4)) {
            let broke = if values[..3].iter().any(|v| !v.is_finite()) {
                Some(NotFinite::Loss(values[..3].to_vec()))
            } else if !values[3].is_finite() {
                Some(NotFinite::Gradient)
            } else {
                None
            };
            if let Some(broke) = broke {
                return Ok(Err(Divergence {
                    epoch,
                    step: step + 1,
                    what: broke.to_string(),
                }));
            }
            sums.loss = sums.loss + Loss::from_values(&values[..3]).map(|v| v * n as f64);
            sums.grad_norm += (values[3] as f64).sqrt();
            sums.steps += 1;
        }
        self.steps.clear();
        Ok(Ok(()))
    }
}

/// Forward, loss, backward, the sum over ranks, optional clipping and one Adam step: the whole
/// of a training step on a batch of `n` images of which `part` is this rank's. Returns the
/// stepped model and, unread on the device, `[recon, kl, total, squared gradient norm]`.
///
/// Under MPI a rank whose forward pass fails (a panic in a shard) returns its error without
/// joining the sum; the caller prints it and ends the other ranks (`MPI_Abort`), which may be
/// waiting inside the pass, at a batch norm.
fn optimizer_step(
    setup: &Setup,
    model: Vae,
    optimizer: &mut ModuleOptimizer,
    Part { x, condition, eps }: Part,
    n: usize,
    beta: f64,
    lr: f64,
) -> Result<(Vae, Tensor<1>)> {
    let loss = (setup.config.loss, setup.config.objective, beta);
    let batch = shards::Batch { x, condition, eps };
    let (grads, losses) = shards::gradients(setup.shards, &model, batch, loss, n)?;
    let (grads, losses) = if setup.world.size > 1 {
        sum_over_ranks(setup, &model, grads, losses)?
    } else {
        (grads, losses)
    };
    let clip = setup.config.grad_clip;
    let (model, grad_sq) = optim::step_deferred(optimizer, lr, model, grads, clip, &setup.device);
    Ok((model, Tensor::cat(vec![losses, grad_sq], 0)))
}

/// The gradients and loss parts of every rank summed, in one flat buffer and one MPI call per
/// step.
fn sum_over_ranks(
    setup: &Setup,
    model: &Vae,
    grads: GradientsParams,
    losses: Tensor<1>,
) -> Result<(GradientsParams, Tensor<1>)> {
    let layout = gradients::Layout::of(model);
    let flat = layout.flatten(model, &grads, &setup.device);
    let mut buffer = to_host(Tensor::cat(vec![flat, losses], 0))?;
    setup.world.sum_f32(&mut buffer);
    let losses = Tensor::from_data(
        TensorData::new(buffer[layout.len()..layout.len() + 3].to_vec(), [3]),
        &setup.device,
    );
    let grads = layout.unflatten(model, &buffer[..layout.len()], &setup.device);
    Ok((grads, losses))
}

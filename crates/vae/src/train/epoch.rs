//! One epoch of training and its steps: shuffle, batch, binarize, draw eps, forward, loss,
//! backward, check, clip, Adam. `vae train` and `vae bench` both run exactly this.

use super::gradients;
use super::progress::Progress;
use super::shards;
use crate::config::TrainConfig;
use crate::data::{Binarize, Dataset, binarize_in_place};
use crate::device::{to_device, to_host};
use crate::distributed::World;
use crate::error::{Error, Result};
use crate::model::Vae;
use crate::model::loss::Loss;
use crate::optim;
use crate::parallel::Shards;
use crate::rng::{normal_noise, rng, step_rng, stream};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use rand::seq::SliceRandom;
use std::ops::Range;
use std::time::Instant;

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
    progress.epoch_started(epoch, config.epochs, steps_per_epoch);
    let started = Instant::now();
    let mut sums = EpochSums {
        loss: Loss::default(),
        grad_norm: 0.0,
        steps: 0,
        seconds: 0.0,
        beta: config.beta,
    };
    for (step, indices) in order.chunks(batch_size).enumerate() {
        let n = indices.len();
        // The ranks agree that every rank's rows loaded before any of them starts the forward
        // pass: the ranks of a batch-norm model meet inside it, and a rank that skipped it
        // would meet the others in the wrong collective. A corrupt image stops every rank
        // with the one line of the rank that read it.
        let part = setup.world.agree(batch_part(setup, epoch, step, indices))?;
        let beta = beta_at(
            config,
            (epoch - 1) * steps_per_epoch + step,
            steps_per_epoch,
        );
        let (trained, values) = match optimizer_step(setup, model, optimizer, part, n, beta, lr)? {
            Ok(done) => done,
            Err(what) => {
                progress.epoch_ended();
                return Ok(Err(Divergence {
                    epoch,
                    step: step + 1,
                    what,
                }));
            }
        };
        model = trained;
        sums.loss = sums.loss + values.loss.map(|v| v * n as f64);
        sums.grad_norm += values.grad_norm;
        sums.steps += 1;
        sums.beta = beta;
        let seen = (step * batch_size + n) as f64;
        progress.step(
            sums.loss.total / seen,
            seen / started.elapsed().as_secs_f64(),
        );
        if setup.world.size == 1 && step + 1 < steps_per_epoch && progress.stop_requested() {
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

/// Gathers and prepares this rank's rows of the batch `indices` (step `step` of `epoch`).
fn batch_part(setup: &Setup, epoch: usize, step: usize, indices: &[usize]) -> Result<Part> {
    let config = setup.config;
    let pixels = setup.train_set.pixels();
    let rows = rank_rows(&setup.world, indices.len());
    let mut batch = setup.train_set.gather(&indices[rows.clone()])?;
    if config.binarize == Binarize::Dynamic {
        let offset = (rows.start * pixels) as u128;
        let stream = stream::BINARIZE_BASE + epoch as u64;
        binarize_in_place(&mut batch, &mut step_rng(config.seed, stream, step, offset));
    }
    let x = to_device(batch, rows.len(), pixels, &setup.ad_device);
    let condition = setup
        .train_set
        .condition_rows(&indices[rows.clone()])
        .map(|y| {
            let dim = setup.train_set.condition_dim();
            to_device(y, rows.len(), dim, &setup.ad_device)
        });
    let eps = (!config.autoencoder).then(|| {
        // The whole batch's noise (a few thousand draws) keeps each row's draw the same
        // whichever rank computes it.
        let stream = stream::NOISE_BASE + epoch as u64;
        let latent = setup.latent;
        let noise = normal_noise(
            &mut step_rng(config.seed, stream, step, 0),
            indices.len() * latent,
        );
        let mine = noise[rows.start * latent..rows.end * latent].to_vec();
        to_device(mine, rows.len(), latent, &setup.ad_device)
    });
    Ok(Part { x, condition, eps })
}

/// What one optimiser step measured: the batch means of the loss, and the gradient norm before
/// clipping.
struct StepValues {
    loss: Loss,
    grad_norm: f64,
}

/// Forward, loss, backward, the sum over ranks, gradient check, optional clipping and one Adam
/// step: the whole of a training step on a batch of `n` images of which `part` is this rank's.
/// The inner `Err` says what stopped being finite.
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
) -> Result<std::result::Result<(Vae, StepValues), String>> {
    let kind = setup.config.loss;
    let batch = shards::Batch { x, condition, eps };
    let (grads, losses) = shards::gradients(setup.shards, &model, batch, kind, beta, n)?;
    let (grads, losses) = if setup.world.size > 1 {
        sum_over_ranks(setup, &model, grads, losses)?
    } else {
        (grads, losses)
    };
    // One read per step: the loss's three parts and the gradient norm.
    let clip = setup.config.grad_clip;
    Ok(
        match optim::step(optimizer, lr, model, grads, losses, clip)? {
            Ok((model, stepped)) => Ok((
                model,
                StepValues {
                    loss: Loss::from_values(&stepped.values),
                    grad_norm: stepped.grad_norm,
                },
            )),
            Err((_, broke)) => Err(broke.to_string()),
        },
    )
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

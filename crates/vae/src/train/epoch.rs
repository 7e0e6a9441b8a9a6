//! One epoch of training and its steps: shuffle, batch, binarize, draw eps, forward, loss,
//! backward, check, clip, Adam. `vae train` and `vae bench` both run exactly this.

use super::gradients;
use super::progress::Progress;
use super::shards;
use crate::config::TrainConfig;
use crate::data::{Binarize, Dataset, binarize_in_place};
use crate::device::{to_device, to_host};
use crate::error::Result;
use crate::model::Vae;
use crate::model::loss::{Loss, vae_loss};
use crate::parallel::Shards;
use crate::rng::{normal_noise, rng, stream};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::seq::SliceRandom;
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

/// One pass over the training set. The inner `Err` is a divergence, which the caller may
/// recover from; the outer one is an error that ends the run.
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
    let batch_size = config.batch_size();
    let steps_per_epoch = data.len().div_ceil(batch_size);
    let pixels = data.pixels();
    let vae = !config.autoencoder;

    let mut epoch_rng = rng(config.seed, stream::EPOCH_BASE + epoch as u64);
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut epoch_rng);
    progress.epoch_started(epoch, config.epochs, steps_per_epoch);
    let started = Instant::now();
    let mut sums = EpochSums {
        loss: Loss::default(),
        grad_norm: 0.0,
        steps: 0,
        seconds: 0.0,
    };
    for (step, indices) in order.chunks(batch_size).enumerate() {
        let n = indices.len();
        let mut batch = data.gather(indices)?;
        if config.binarize == Binarize::Dynamic {
            binarize_in_place(&mut batch, &mut epoch_rng);
        }
        let x = to_device(batch, n, pixels, &setup.ad_device);
        let eps = vae.then(|| {
            let noise = normal_noise(&mut epoch_rng, n * setup.latent);
            to_device(noise, n, setup.latent, &setup.ad_device)
        });
        let beta = beta_at(
            config,
            (epoch - 1) * steps_per_epoch + step,
            steps_per_epoch,
        );
        let (trained, values) = match optimizer_step(setup, model, optimizer, x, eps, beta, lr)? {
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
        let seen = (step * batch_size + n) as f64;
        progress.step(
            sums.loss.total / seen,
            seen / started.elapsed().as_secs_f64(),
        );
    }
    sums.seconds = started.elapsed().as_secs_f64();
    progress.epoch_ended();
    Ok(Ok((model, sums)))
}

/// What one optimiser step measured: the batch means of the loss, and the gradient norm before
/// clipping.
struct StepValues {
    loss: Loss,
    grad_norm: f64,
}

/// Forward, loss, backward, gradient check, optional clipping and one Adam step: the whole of a
/// training step. The inner `Err` says what stopped being finite.
fn optimizer_step(
    setup: &Setup,
    model: Vae,
    optimizer: &mut ModuleOptimizer,
    x: Tensor<2>,
    eps: Option<Tensor<2>>,
    beta: f64,
    lr: f64,
) -> Result<std::result::Result<(Vae, StepValues), String>> {
    let kind = setup.config.loss();
    let (mut grads, losses) = match setup.shards {
        Some(shards) => shards::gradients(shards, &model, x, eps, kind, beta),
        None => {
            let forward = model.forward(x.clone(), eps);
            let loss = vae_loss(&forward, x, kind, beta);
            let grads = GradientsParams::from_grads(loss.total.backward(), &model);
            (grads, loss.map(|v| v.inner()).values())
        }
    };
    let grad_sq = gradients::squared_norm(&model, &grads)
        .unwrap_or_else(|| Tensor::zeros([1], &setup.device));
    // One read per step: the loss's three parts and the squared gradient norm.
    let values = to_host(Tensor::cat(vec![losses, grad_sq], 0))?;
    let loss = Loss::from_values(&values);
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Ok(Err(if i < 3 {
            format!("the loss became {}", loss.total)
        } else {
            "a gradient became NaN or infinite".to_string()
        }));
    }
    let grad_norm = (values[3] as f64).sqrt();
    if let Some(max_norm) = setup.config.grad_clip {
        gradients::clip_to_norm(&model, &mut grads, grad_norm, max_norm);
    }
    let model = optimizer.step(lr, model, grads);
    Ok(Ok((model, StepValues { loss, grad_norm })))
}

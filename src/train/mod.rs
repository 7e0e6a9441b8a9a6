//! `vae train`: Adam on the beta-VAE loss, one run folder per run, a checkpoint every epoch,
//! exact resume, and a stop with a clear message if the loss stops being finite.

pub mod checkpoint;
pub mod gradients;
pub mod metrics;
pub mod shards;

use crate::data::{Binarize, Dataset, binarize_in_place};
use crate::device::{to_device, to_host};
use crate::error::{Error, Result};
use crate::eval;
use crate::model::Vae;
use crate::run::{
    self, CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, MODEL_FILE, OnNan, TrainConfig,
};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
pub use metrics::EpochMetrics;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use shards::Shards;
use std::path::Path;
use std::time::Instant;

/// Independent random streams derived from the run's seed, so that each use of randomness
/// (and each epoch) is reproducible on its own, which is what makes resume exact.
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

/// A ChaCha generator for one named stream of the run's seed.
pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// `n` standard-normal draws.
pub fn normal_noise(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// Binarizes the test set once with a fixed stream when the run models binary pixels, so test
/// numbers are comparable across epochs and runs.
pub fn prepare_test_set(test: &mut Dataset, config: &TrainConfig) {
    if config.binarize != Binarize::None {
        binarize_in_place(
            &mut test.images,
            &mut rng(config.seed, stream::TEST_BINARIZE),
        );
    }
}

/// How the run is driven.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainOptions {
    /// Continue from the run folder's checkpoint.
    pub resume: bool,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// Print a summary line per epoch on stderr.
    pub verbose: bool,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub epochs: Vec<EpochMetrics>,
    pub model: Vae,
    /// Learning rate at the end (lower than configured after a rollback).
    pub lr: f64,
}

/// How many times `--on-nan rollback` may divide the learning rate before giving up.
pub const MAX_ROLLBACKS: usize = 3;

/// Where a run stopped being finite.
pub(crate) struct Divergence {
    pub epoch: usize,
    pub step: usize,
    pub what: String,
}

/// Everything that stays fixed while a run trains.
pub(crate) struct Setup<'a> {
    pub config: &'a TrainConfig,
    pub train_set: &'a Dataset,
    pub test_set: &'a Dataset,
    pub device: Device,
    pub ad_device: Device,
    pub latent: usize,
    pub progress: bool,
    /// Data-parallel shards on the CPU (see `shards`); `None` runs each op on all threads.
    pub shards: Option<&'a Shards>,
}

/// Trains `config` into `run_dir` and returns the per-epoch metrics and the trained model.
pub fn train(config: &TrainConfig, run_dir: &Path, options: TrainOptions) -> Result<TrainSummary> {
    let config = config.clone().resolved();
    config.validate()?;
    let device = crate::device::parse_device(&config.device)?;
    let ad_device = device.clone().autodiff();

    let checkpoint_path = run_dir.join(CHECKPOINT_FILE);
    let config_path = run_dir.join(CONFIG_FILE);
    if options.resume {
        if !checkpoint_path.is_file() {
            return Err(Error::Config(format!(
                "nothing to resume: {} has no {CHECKPOINT_FILE}; start the run without --resume",
                run_dir.display()
            )));
        }
        let saved = TrainConfig::from_file(&config_path)?;
        if saved.identity() != config.identity() {
            return Err(Error::Config(format!(
                "--resume needs the run's own settings; {} differs from the flags given (only --epochs, --device, --data, --lr, --grad-clip and --on-nan may change)",
                config_path.display()
            )));
        }
    } else if checkpoint_path.exists() {
        return Err(Error::Config(format!(
            "{} already holds a run; pass --resume to continue it, or choose another --out",
            run_dir.display()
        )));
    }

    let mut splits = config.load_data()?;
    let model_config = config.model_config(
        splits.train.height,
        splits.train.width,
        splits.train.channels,
    );
    model_config.validate()?;
    if config.binarize == Binarize::Fixed {
        binarize_in_place(
            &mut splits.train.images,
            &mut rng(config.seed, stream::TRAIN_BINARIZE),
        );
    }
    prepare_test_set(&mut splits.test, &config);

    crate::fsutil::create_dir(run_dir)?;
    crate::fsutil::remove_stale_temp_files(run_dir)?;
    crate::fsutil::write_atomic(&config_path, config.to_toml().as_bytes())?;
    run::write_model_config(run_dir, &model_config)?;

    // Batch norm must see the whole batch: shards would normalise each part by its own
    // statistics, a different model from the one configured.
    let shards = match config.arch {
        crate::model::Arch::Celeba => None,
        _ => cpu_shards(&config.device)?,
    };
    let setup = Setup {
        config: &config,
        train_set: &splits.train,
        test_set: &splits.test,
        device: device.clone(),
        ad_device: ad_device.clone(),
        latent: model_config.latent_dim,
        progress: options.progress,
        shards: shards.as_ref(),
    };
    let fresh = || {
        device.seed(config.seed);
        let model = Vae::new(&model_config, &ad_device);
        let optimizer: ModuleOptimizer = AdamConfig::new().with_epsilon(1e-8).init();
        (model, optimizer)
    };
    let restore = |history: &mut Vec<EpochMetrics>| -> Result<(Vae, ModuleOptimizer, usize)> {
        let (model, optimizer) = fresh();
        if !checkpoint_path.is_file() {
            history.clear();
            return Ok((model, optimizer, 0));
        }
        let (done, model, optimizer) = checkpoint::load(&checkpoint_path, model, optimizer)?;
        let mut saved = metrics::read(&run_dir.join(METRICS_FILE))?;
        saved.retain(|m| m.epoch <= done);
        *history = saved;
        Ok((model, optimizer, done))
    };

    let mut history = Vec::new();
    let (mut model, mut optimizer, mut done) = if options.resume {
        restore(&mut history)?
    } else {
        let (m, o) = fresh();
        (m, o, 0)
    };
    let mut lr = config.lr();
    let mut rollbacks = 0;
    while done < config.epochs {
        let epoch = done + 1;
        match train_epoch(&setup, epoch, model, &mut optimizer, lr)? {
            Ok((trained, sums)) => {
                model = trained;
                let record = finish_epoch(&setup, epoch, &model, &sums, lr)?;
                history.push(record.clone());
                // The checkpoint is the commit point and is written last: a crash before it
                // leaves the previous epoch's checkpoint, and resume drops newer metrics lines.
                metrics::write(&run_dir.join(METRICS_FILE), &history)?;
                save_weights(&model, &run_dir.join(MODEL_FILE))?;
                checkpoint::save(&checkpoint_path, epoch, &model, &optimizer)?;
                if options.verbose {
                    eprintln!("{}", record.summary(config.epochs));
                }
                done = epoch;
            }
            Err(divergence) => {
                let message = diverged(run_dir, &divergence, done, lr);
                if config.on_nan == OnNan::Stop || rollbacks == MAX_ROLLBACKS {
                    return Err(Error::Numerical(message));
                }
                rollbacks += 1;
                lr /= 10.0;
                let lowered = TrainConfig {
                    lr: Some(lr),
                    ..config.clone()
                };
                crate::fsutil::write_atomic(&config_path, lowered.to_toml().as_bytes())?;
                eprintln!(
                    "{message}\nrolling back to epoch {done} with learning rate {lr} (rollback {rollbacks} of {MAX_ROLLBACKS})"
                );
                (model, optimizer, done) = restore(&mut history)?;
            }
        }
    }
    Ok(TrainSummary {
        epochs: history,
        model,
        lr,
    })
}

/// Per-epoch sums over images: total, recon, kl; and the sum of gradient norms over steps.
pub(crate) struct EpochSums {
    pub losses: [f64; 3],
    pub grad_norm: f64,
    pub steps: usize,
    pub seconds: f64,
}

/// One pass over the training set. The inner `Err` is a divergence, which the caller may
/// recover from; the outer one is an error that ends the run.
pub(crate) fn train_epoch(
    setup: &Setup,
    epoch: usize,
    mut model: Vae,
    optimizer: &mut ModuleOptimizer,
    lr: f64,
) -> Result<std::result::Result<(Vae, EpochSums), Divergence>> {
    let config = setup.config;
    let data = setup.train_set;
    let batch_size = config.batch_size();
    let steps_per_epoch = data.len().div_ceil(batch_size);
    let warmup_steps = config.kl_warmup_epochs * steps_per_epoch;
    let pixels = data.pixels();
    let vae = !config.autoencoder;

    let mut epoch_rng = rng(config.seed, stream::EPOCH_BASE + epoch as u64);
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut epoch_rng);
    let bar = progress_bar(setup.progress, steps_per_epoch, epoch, config.epochs);
    let started = Instant::now();
    let mut sums = EpochSums {
        losses: [0.0; 3],
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
        let global_step = (epoch - 1) * steps_per_epoch + step;
        let beta = if warmup_steps > 0 {
            config.beta * (global_step as f64 / warmup_steps as f64).min(1.0)
        } else {
            config.beta
        };
        let (trained, values) = match optimizer_step(setup, model, optimizer, x, eps, beta, lr)? {
            Ok(done) => done,
            Err(what) => {
                bar.abandon();
                return Ok(Err(Divergence {
                    epoch,
                    step: step + 1,
                    what,
                }));
            }
        };
        model = trained;
        for (sum, v) in sums.losses.iter_mut().zip(&values.losses) {
            *sum += *v as f64 * n as f64;
        }
        sums.grad_norm += values.grad_norm;
        sums.steps += 1;
        let seen = (step * batch_size + n) as f64;
        bar.set_message(format!(
            "loss {:.2}  {:.0} img/s",
            sums.losses[0] / seen,
            seen / started.elapsed().as_secs_f64()
        ));
        bar.inc(1);
    }
    sums.seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    Ok(Ok((model, sums)))
}

/// One shard per thread of the CPU pool when training on the CPU with more than one thread.
pub(crate) fn cpu_shards(device: &str) -> Result<Option<Shards>> {
    let threads = rayon::current_num_threads();
    if crate::device::is_cpu(device) && threads > 1 {
        Ok(Some(Shards::new(threads)?))
    } else {
        Ok(None)
    }
}

/// What one optimiser step measured: batch means of total, recon and KL, and the gradient norm
/// before clipping.
struct StepValues {
    pub losses: [f32; 3],
    pub grad_norm: f64,
}

/// Forward, loss, backward, gradient check, optional clipping and one Adam step: the whole of a
/// training step, shared by `train` and `bench`. The inner `Err` says what stopped being finite.
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
            let loss = crate::model::loss::vae_loss(&forward, x, kind, beta);
            let grads = GradientsParams::from_grads(loss.total.backward(), &model);
            let losses = vec![loss.total.inner(), loss.recon.inner(), loss.kl.inner()];
            (grads, Tensor::cat(losses, 0))
        }
    };
    let grad_sq = gradients::squared_norm(&model, &grads)
        .unwrap_or_else(|| Tensor::zeros([1], &setup.device));
    // One read per step: the three losses and the squared gradient norm.
    let values = to_host(Tensor::cat(vec![losses, grad_sq], 0))?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Ok(Err(if i < 3 {
            format!("the loss became {}", values[0])
        } else {
            "a gradient became NaN or infinite".to_string()
        }));
    }
    let grad_norm = (values[3] as f64).sqrt();
    if let Some(max_norm) = setup.config.grad_clip {
        gradients::clip_to_norm(&model, &mut grads, grad_norm, max_norm);
    }
    let model = optimizer.step(lr, model, grads);
    Ok(Ok((
        model,
        StepValues {
            losses: [values[0], values[1], values[2]],
            grad_norm,
        },
    )))
}

/// Test loss and the metrics line of a finished epoch.
fn finish_epoch(
    setup: &Setup,
    epoch: usize,
    model: &Vae,
    sums: &EpochSums,
    lr: f64,
) -> Result<EpochMetrics> {
    let config = setup.config;
    let started = Instant::now();
    let test = eval::test_loss(
        &model.valid(),
        setup.test_set,
        config.loss(),
        config.beta,
        &setup.device,
        config.seed,
    )?;
    let n = setup.train_set.len() as f64;
    Ok(EpochMetrics {
        epoch,
        train_total: sums.losses[0] / n,
        train_recon: sums.losses[1] / n,
        train_kl: sums.losses[2] / n,
        test_total: test.total,
        test_recon: test.recon,
        test_kl: test.kl,
        seconds: sums.seconds,
        eval_seconds: started.elapsed().as_secs_f64(),
        images_per_second: n / sums.seconds,
        grad_norm: sums.grad_norm / sums.steps.max(1) as f64,
        lr,
    })
}

/// Writes inference weights; Burn's burnpack writer is atomic itself (temporary file beside the
/// destination, flushed, renamed).
fn save_weights(model: &Vae, path: &Path) -> Result<()> {
    model
        .valid()
        .into_record()
        .save(path)
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))
}

fn diverged(run_dir: &Path, d: &Divergence, last_good: usize, lr: f64) -> String {
    let kept = if last_good > 0 {
        format!(
            "the checkpoint of epoch {last_good} in {} is kept",
            run_dir.display()
        )
    } else {
        "no epoch had finished, so there is no checkpoint".to_string()
    };
    format!(
        "training diverged: {} at epoch {}, step {}; {kept}; lower --lr (was {lr}), add --grad-clip, or pass --on-nan rollback",
        d.what, d.epoch, d.step
    )
}
fn progress_bar(show: bool, steps: usize, epoch: usize, epochs: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} (eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("{epoch}/{epochs}"));
    bar
}

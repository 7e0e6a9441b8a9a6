//! `vae train`: Adam on the beta-VAE loss, one run folder per run, a checkpoint every epoch,
//! exact resume, and a stop with a clear message if the loss stops being finite.

pub mod checkpoint;
pub mod metrics;

use crate::data::{Binarize, Dataset, binarize_in_place};
use crate::error::{Error, Result};
use crate::eval;
use crate::model::Vae;
use crate::run::{self, CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, MODEL_FILE, TrainConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
pub use metrics::EpochMetrics;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use std::path::Path;
use std::time::Instant;

/// Independent random streams derived from the run's seed, so that each use of randomness
/// (and each epoch) is reproducible on its own, which is what makes resume exact.
pub mod stream {
    pub const TRAIN_BINARIZE: u64 = 1;
    pub const TEST_BINARIZE: u64 = 2;
    pub const TEST_NOISE: u64 = 3;
    pub const PICTURES: u64 = 4;
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
        let comparable = |c: &TrainConfig| TrainConfig {
            epochs: 0,
            device: String::new(),
            data: None,
            ..c.clone()
        };
        if comparable(&saved) != comparable(&config) {
            return Err(Error::Config(format!(
                "--resume needs the run's own settings; {} differs from the flags given (only --epochs, --device and --data may change)",
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
    let model_config = config.model_config(splits.train.height, splits.train.width);
    model_config.validate()?;
    let batch_size = config.batch_size();
    if config.binarize == Binarize::Fixed {
        binarize_in_place(
            &mut splits.train.images,
            &mut rng(config.seed, stream::TRAIN_BINARIZE),
        );
    }
    prepare_test_set(&mut splits.test, &config);
    let (train_set, test_set) = (splits.train, splits.test);

    crate::fsutil::create_dir(run_dir)?;
    device.seed(config.seed);
    let mut model = Vae::new(&model_config, &ad_device);
    let mut optimizer: ModuleOptimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let mut history = Vec::new();
    let mut start_epoch = 0;
    if options.resume {
        let (done, m, o) = checkpoint::load(&checkpoint_path, model, optimizer)?;
        (model, optimizer, start_epoch) = (m, o, done);
        history = metrics::read(&run_dir.join(METRICS_FILE))?;
        history.retain(|m: &EpochMetrics| m.epoch <= done);
    }
    crate::fsutil::write_atomic(&config_path, config.to_toml().as_bytes())?;
    run::write_model_config(run_dir, &model_config)?;

    let steps_per_epoch = train_set.len().div_ceil(batch_size);
    let warmup_steps = config.kl_warmup_epochs * steps_per_epoch;
    let pixels = train_set.pixels();
    let latent = model_config.latent_dim;
    let vae = !config.autoencoder;
    let lr = config.lr();

    for epoch in start_epoch + 1..=config.epochs {
        let mut epoch_rng = rng(config.seed, stream::EPOCH_BASE + epoch as u64);
        let mut order: Vec<usize> = (0..train_set.len()).collect();
        order.shuffle(&mut epoch_rng);
        let bar = progress_bar(options.progress, steps_per_epoch, epoch, config.epochs);
        let started = Instant::now();
        let mut sums = [0f64; 3];
        for (step, indices) in order.chunks(batch_size).enumerate() {
            let n = indices.len();
            let mut pixels_batch = train_set.gather(indices);
            if config.binarize == Binarize::Dynamic {
                binarize_in_place(&mut pixels_batch, &mut epoch_rng);
            }
            let x = Tensor::<2>::from_data(TensorData::new(pixels_batch, [n, pixels]), &ad_device);
            let eps = vae.then(|| {
                let noise = normal_noise(&mut epoch_rng, n * latent);
                Tensor::<2>::from_data(TensorData::new(noise, [n, latent]), &ad_device)
            });
            let global_step = (epoch - 1) * steps_per_epoch + step;
            let beta = if warmup_steps > 0 {
                config.beta * (global_step as f64 / warmup_steps as f64).min(1.0)
            } else {
                config.beta
            };
            let forward = model.forward(x.clone(), eps);
            let loss = crate::model::loss::vae_loss(&forward, x, config.loss, beta);
            let values: Vec<f32> = Tensor::cat(
                vec![loss.total.clone(), loss.recon.clone(), loss.kl.clone()],
                0,
            )
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| Error::Numerical(format!("cannot read the loss: {e:?}")))?;
            if values.iter().any(|v| !v.is_finite()) {
                bar.abandon();
                return Err(diverged(
                    run_dir,
                    epoch,
                    step + 1,
                    values[0],
                    start_epoch.max(history.len()),
                    lr,
                ));
            }
            for (sum, v) in sums.iter_mut().zip(&values) {
                *sum += *v as f64 * n as f64;
            }
            let grads = GradientsParams::from_grads(loss.total.backward(), &model);
            model = optimizer.step(lr, model, grads);
            let seen = (step * batch_size + n) as f64;
            bar.set_message(format!(
                "loss {:.2}  {:.0} img/s",
                sums[0] / seen,
                seen / started.elapsed().as_secs_f64()
            ));
            bar.inc(1);
        }
        let train_seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();

        let eval_started = Instant::now();
        let test = eval::test_loss(
            &model.valid(),
            &test_set,
            config.loss,
            config.beta,
            &device,
            config.seed,
        )?;
        let n = train_set.len() as f64;
        let record = EpochMetrics {
            epoch,
            train_total: sums[0] / n,
            train_recon: sums[1] / n,
            train_kl: sums[2] / n,
            test_total: test.total,
            test_recon: test.recon,
            test_kl: test.kl,
            seconds: train_seconds,
            eval_seconds: eval_started.elapsed().as_secs_f64(),
            images_per_second: n / train_seconds,
        };
        if !record.test_total.is_finite() {
            return Err(diverged(
                run_dir,
                epoch,
                steps_per_epoch,
                record.test_total as f32,
                epoch - 1,
                lr,
            ));
        }
        // The checkpoint is the commit point and is written last: a crash before it leaves the
        // previous epoch's checkpoint, and resume drops metrics lines newer than the checkpoint.
        history.push(record.clone());
        metrics::write(&run_dir.join(METRICS_FILE), &history)?;
        save_weights(&model, &run_dir.join(MODEL_FILE))?;
        checkpoint::save(&checkpoint_path, epoch, &model, &optimizer)?;
        if options.verbose {
            eprintln!("{}", record.summary(config.epochs));
        }
    }
    Ok(TrainSummary {
        epochs: history,
        model,
    })
}

/// Writes inference weights atomically.
fn save_weights(model: &Vae, path: &Path) -> Result<()> {
    let tmp = crate::fsutil::temp_path(path);
    let saved = model.valid().into_record().save(&tmp);
    if let Err(e) = saved {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Config(format!(
            "cannot write {}: {e}",
            path.display()
        )));
    }
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

fn diverged(
    run_dir: &Path,
    epoch: usize,
    step: usize,
    value: f32,
    last_good: usize,
    lr: f64,
) -> Error {
    let kept = if last_good > 0 {
        format!(
            "the checkpoint of epoch {last_good} in {} is kept",
            run_dir.display()
        )
    } else {
        "no epoch had finished, so there is no checkpoint".to_string()
    };
    Error::Numerical(format!(
        "training diverged: loss became {value} at epoch {epoch}, step {step}; {kept}; lower --lr (was {lr}) or --beta and start again (or --resume from the checkpoint)"
    ))
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

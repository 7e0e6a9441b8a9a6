//! `vae bench`: the training throughput, memory and decode latency of two fixed models, measured
//! the same way as `bench/reference/vae_bench.py` measures PyTorch, so the two can be compared.
//!
//! M is the pytorch/examples MLP VAE (784-400-20, BCE + KL, Adam 1e-3, batch 128); C is the conv
//! VAE of the book (32/64/128 stride-2 convs, latent 2, Adam 5e-4, batch 100). The timed epochs
//! run the very code of `vae train` (`train::epoch::train_epoch`).

use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::device::{to_device, to_host};
use crate::error::{Error, Result};
use crate::eval;
use crate::model::{Arch, ModelConfig, Vae};
use crate::parallel::Shards;
use crate::rng::{normal_noise, rng, stream};
use crate::train::epoch::{Setup, train_epoch};
use crate::train::{self, Quiet};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

/// The two benchmark models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchModel {
    /// M: MLP 784-400-20, batch 128, Adam 1e-3.
    Mlp,
    /// C: conv 32/64/128, latent 2, batch 100, Adam 5e-4.
    Conv,
}

impl BenchModel {
    /// The training settings of the model, as `vae train` would resolve them.
    pub fn config(self) -> TrainConfig {
        let arch = match self {
            BenchModel::Mlp => Arch::Mlp,
            BenchModel::Conv => Arch::Conv,
        };
        TrainConfig {
            arch,
            ..TrainConfig::default()
        }
        .resolved()
    }
}

/// How a benchmark runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub model: BenchModel,
    /// Timed passes over the training set.
    pub epochs: usize,
    /// Untimed optimiser steps before the timed epochs (allocator, caches, thread pool).
    pub warmup_steps: usize,
    /// Train on the first N training images only.
    pub limit: Option<usize>,
    pub data: Option<PathBuf>,
    pub device: String,
    pub seed: u64,
}

/// What a benchmark measured. The same keys are printed by the PyTorch reference.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub framework: String,
    pub model: BenchModel,
    pub threads: usize,
    pub batch_size: usize,
    pub train_images: usize,
    pub epochs: usize,
    /// Median over the timed epochs.
    pub images_per_second: f64,
    pub seconds_per_epoch: f64,
    /// Multiply-adds x 2 of one training step, per image (see `training_flops_per_image`).
    pub train_flops_per_image: f64,
    /// `images_per_second * train_flops_per_image / 1e9`.
    pub gflops: f64,
    /// Test loss (recon + KL, nats per image) after the timed epochs.
    pub test_loss: f64,
    /// Decode of one latent, to pixels on the host: median milliseconds.
    pub decode_ms_batch1: f64,
    /// Decode of 256 latents: median milliseconds per image.
    pub decode_ms_per_image_batch256: f64,
    /// Peak resident memory of the process, MiB.
    pub peak_rss_mib: f64,
}

/// Trains the benchmark model for `options.epochs` timed epochs after a warm-up and measures it.
pub fn bench(options: &BenchOptions) -> Result<BenchReport> {
    if options.epochs == 0 {
        return Err(Error::Config("--epochs must be at least 1".into()));
    }
    let config = TrainConfig {
        data: options.data.clone(),
        limit: options.limit,
        device: options.device.clone(),
        seed: options.seed,
        epochs: options.epochs,
        ..options.model.config()
    };
    config.validate()?;
    let device = crate::device::parse_device(&config.device)?;
    let ad_device = device.clone().autodiff();
    let splits = config.load_data()?;
    let model_config = config.model_config(
        splits.train.height,
        splits.train.width,
        splits.train.channels,
    );
    model_config.validate()?;
    let batch_size = config.batch_size();
    crate::model::memory::Footprint::of(&model_config).check_training(batch_size)?;
    let mut warmup = splits.train.clone();
    warmup.truncate(options.warmup_steps * batch_size);
    let shards = Shards::shared(&device);
    let setup = |train_set| Setup {
        config: &config,
        train_set,
        device: device.clone(),
        ad_device: ad_device.clone(),
        latent: model_config.latent_dim,
        shards,
        world: crate::distributed::World::single(),
    };

    let (mut model, mut optimizer) = train::fresh(&config, &model_config, &ad_device);
    let lr = config.lr();
    let mut seconds = Vec::with_capacity(options.epochs);
    let passes: Vec<&Dataset> = std::iter::once(&warmup)
        .filter(|w| !w.is_empty())
        .chain(std::iter::repeat_n(&splits.train, options.epochs))
        .collect();
    for (pass, data) in passes.into_iter().enumerate() {
        let (trained, sums) = train_epoch(
            &setup(data),
            pass + 1,
            model,
            &mut optimizer,
            lr,
            &mut Quiet,
        )?
        .map_err(|d| {
            Error::Numerical(format!("benchmark diverged: {} at step {}", d.what, d.step))
        })?;
        model = trained;
        if !std::ptr::eq(data, &warmup) {
            seconds.push(sums.seconds);
        }
    }
    let seconds_per_epoch = median(&mut seconds);
    let images_per_second = splits.train.len() as f64 / seconds_per_epoch;

    let model = model.valid();
    let test = eval::test_loss(
        &model,
        &splits.test,
        config.loss(),
        config.beta,
        &device,
        config.seed,
    )?;
    let (decode_ms_batch1, decode_256) =
        decode_latency(&model, &model_config, &device, config.seed)?;
    let flops = training_flops_per_image(&model_config);
    Ok(BenchReport {
        framework: format!("vae {} (burn 0.22.1)", env!("CARGO_PKG_VERSION")),
        model: options.model,
        threads: rayon::current_num_threads(),
        batch_size,
        train_images: splits.train.len(),
        epochs: options.epochs,
        images_per_second,
        seconds_per_epoch,
        train_flops_per_image: flops,
        gflops: images_per_second * flops / 1e9,
        test_loss: test.total,
        decode_ms_batch1,
        decode_ms_per_image_batch256: decode_256 / 256.0,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Median milliseconds of decoding one latent and of decoding 256, each ending with the pixels
/// on the host (what a caller waits for).
fn decode_latency(
    model: &Vae,
    config: &ModelConfig,
    device: &Device,
    seed: u64,
) -> Result<(f64, f64)> {
    let mut noise = rng(seed, stream::PICTURES);
    let latent = config.latent_dim;
    let mut time = |n: usize, repeats: usize| -> Result<f64> {
        let mut ms = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let z = normal_noise(&mut noise, n * latent);
            let started = Instant::now();
            let z = to_device(z, n, latent, device);
            let pixels = to_host(burn::tensor::activation::sigmoid(model.decode(z, None)))?;
            ms.push(started.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(pixels);
        }
        Ok(median(&mut ms))
    };
    time(1, 20)?;
    Ok((time(1, 500)?, time(256, 30)?))
}

/// Floating-point operations of one training step per image: 2 per multiply-add of the
/// forward pass, and twice that again for the backward pass (gradients of the weights and of
/// the layer inputs), except the input gradient of the first layer, which nobody needs.
/// Element-wise work (activations, loss, Adam) is left out: it is O(activations), not O(MACs).
pub fn training_flops_per_image(config: &ModelConfig) -> f64 {
    let layers = forward_macs(config);
    let forward: f64 = layers.iter().sum();
    let first = layers.first().copied().unwrap_or(0.0);
    2.0 * (3.0 * forward - first)
}

/// Multiply-adds per image of each weight layer, in the order the forward pass runs them.
pub fn forward_macs(config: &ModelConfig) -> Vec<f64> {
    let latent = config.latent_dim as f64;
    let heads = if config.autoencoder { 1.0 } else { 2.0 };
    match config.arch {
        Arch::Mlp => {
            let mut sizes = vec![config.pixels()];
            sizes.extend(&config.hidden);
            let dense =
                |s: &[usize]| -> Vec<f64> { s.windows(2).map(|w| (w[0] * w[1]) as f64).collect() };
            let last = *sizes.last().expect("input size") as f64;
            let mut macs = dense(&sizes);
            macs.push(heads * last * latent);
            // Decoder: latent -> hidden reversed -> pixels.
            let mut decoder = vec![config.latent_dim];
            decoder.extend(config.hidden.iter().rev());
            decoder.push(config.pixels());
            macs.extend(dense(&decoder));
            macs
        }
        Arch::Conv | Arch::Celeba => {
            let (h, w) = config.padded_size();
            let mut macs = Vec::new();
            let mut cin = config.image_channels;
            let (mut oh, mut ow) = (h, w);
            for &c in &config.channels {
                (oh, ow) = (oh / 2, ow / 2);
                macs.push((oh * ow * c * cin * 9) as f64);
                cin = c;
            }
            let flat = (oh * ow * cin) as f64;
            macs.push(heads * flat * latent);
            macs.push(latent * flat);
            let reversed: Vec<usize> = config.channels.iter().rev().copied().collect();
            let mut cin = reversed[0];
            for &c in &reversed {
                // A transposed conv does one multiply-add per input pixel, kernel tap and
                // channel pair.
                macs.push((oh * ow * cin * c * 9) as f64);
                (oh, ow, cin) = (oh * 2, ow * 2, c);
            }
            macs.push((oh * ow * cin * 9) as f64);
            macs
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Peak resident set size of this process (`getrusage`; kilobytes on Linux).
fn peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } == 0;
    if ok {
        usage.ru_maxrss as f64 / 1024.0
    } else {
        f64::NAN
    }
}

/// The table `vae bench` prints.
impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = [
            ("framework", self.framework.clone()),
            (
                "model",
                format!("{:?} (batch {})", self.model, self.batch_size),
            ),
            ("threads", self.threads.to_string()),
            (
                "train",
                format!(
                    "{} images x {} timed epochs",
                    self.train_images, self.epochs
                ),
            ),
            ("images/s", format!("{:.0}", self.images_per_second)),
            ("s/epoch", format!("{:.2}", self.seconds_per_epoch)),
            (
                "GFLOP/s",
                format!(
                    "{:.1} ({:.2} MFLOP per image per step)",
                    self.gflops,
                    self.train_flops_per_image / 1e6
                ),
            ),
            ("test loss", format!("{:.2} nats/image", self.test_loss)),
            ("decode batch 1", format!("{:.3} ms", self.decode_ms_batch1)),
            (
                "decode batch 256",
                format!("{:.4} ms/image", self.decode_ms_per_image_batch256),
            ),
            ("peak RSS", format!("{:.0} MiB", self.peak_rss_mib)),
        ];
        for (k, v) in rows {
            writeln!(f, "{k:<17}{v}")?;
        }
        Ok(())
    }
}

//! `vae bench`: the training throughput, memory and decode latency of each architecture with its
//! default settings, and the speed of their IWAE evaluation, measured the same way as
//! `bench/reference/vae_bench.py` measures PyTorch, so the two can be compared. Process memory
//! and FLOP formulas are the benchmarks' business, so they live here, not in the library.
//!
//! M is `mlp`, the pytorch/examples MLP VAE (784-400-20, BCE + KL, Adam 1e-3, batch 128); C is
//! `conv`, the conv VAE of the book (32/64/128 stride-2 convs, latent 2, Adam 5e-4, batch 100);
//! `conv-bn` is the book's CelebA VAE (32/64/64/64 convs with batch norm and leaky ReLU, latent
//! 200, squared error, Adam 5e-4, batch 100) on generated 64x64 RGB pictures
//! ([`generated_pictures`]). The timed epochs run the very code of `vae train`
//! (`train::epoch::train_epoch`), the IWAE task the very code of `vae eval` (`eval::iwae::nll`).

#![forbid(unsafe_code)]

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;
use vae::config::TrainConfig;
use vae::data::{DataSplits, Dataset};
use vae::device::{to_device, to_host};
use vae::eval;
use vae::model::arch::Half;
use vae::model::{Arch, ModelConfig, Vae};
use vae::parallel::Shards;
use vae::rng::{normal_noise, rng, stream};
use vae::train::epoch::{Setup, train_epoch};
use vae::train::{self, Quiet};
use vae::{Error, Result};

/// What is timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchTask {
    /// Training epochs (then the test loss and the decode latency).
    Train,
    /// The importance-weighted bound of `vae eval` over the first test images.
    Iwae,
}

/// Generated pictures of the photograph benchmark (`conv-bn`): training pictures when
/// `--limit` is not given.
pub const PICTURES_TRAIN: usize = 5000;
/// Generated test pictures of the photograph benchmark.
pub const PICTURES_TEST: usize = 500;
/// Side of the generated pictures.
pub const PICTURES_SIZE: usize = 64;

/// How a benchmark runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub model: Arch,
    pub task: BenchTask,
    /// Timed passes over the training set.
    pub epochs: usize,
    /// Untimed optimiser steps before the timed epochs (allocator, caches, thread pool); the
    /// IWAE task evaluates the model these steps trained.
    pub warmup_steps: usize,
    /// Train on the first N training images only (an architecture for photographs: generate N
    /// pictures).
    pub limit: Option<usize>,
    /// Samples per image of the IWAE task (K).
    pub iw_samples: usize,
    /// Images the IWAE task evaluates: the first N of the test set.
    pub iw_images: usize,
    pub data: Option<PathBuf>,
    pub device: String,
    pub seed: u64,
}

/// What a benchmark measured. The same keys are printed by the PyTorch reference.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchReport {
    pub framework: String,
    pub model: Arch,
    pub task: BenchTask,
    pub threads: usize,
    pub batch_size: usize,
    pub train_images: usize,
    pub epochs: usize,
    /// K of the IWAE task; `None` for training.
    pub iw_samples: Option<usize>,
    /// Training: median over the timed epochs. IWAE: test images evaluated per second.
    pub images_per_second: f64,
    /// Training: median seconds of a timed epoch. IWAE: seconds of the whole evaluation.
    pub seconds_per_epoch: f64,
    /// Multiply-adds x 2 per image of a training step ([`training_flops_per_image`]) or of the
    /// IWAE evaluation ([`iwae_flops_per_image`]).
    pub train_flops_per_image: f64,
    /// `images_per_second * train_flops_per_image / 1e9`.
    pub gflops: f64,
    /// Training: test loss (recon + KL, nats per image) after the timed epochs. IWAE: the
    /// bound `vae eval` reports (`IW BCE`, or `-log p(x)` for a likelihood).
    pub test_loss: f64,
    /// Decode of one latent, to pixels on the host: median milliseconds (training task only).
    pub decode_ms_batch1: Option<f64>,
    /// Decode of 256 latents: median milliseconds per image (training task only).
    pub decode_ms_per_image_batch256: Option<f64>,
    /// Peak resident memory of the process, MiB.
    pub peak_rss_mib: f64,
    /// Reads back from the device per timed training step (training task only): on a GPU each
    /// one waits for all queued work.
    #[serde(default)]
    pub host_reads_per_step: Option<f64>,
}

/// Trains the benchmark model for `options.epochs` timed epochs after a warm-up and measures it;
/// or, for the IWAE task, times `vae eval`'s bound on the model the warm-up trained.
pub fn bench(options: &BenchOptions) -> Result<BenchReport> {
    match options.task {
        BenchTask::Train if options.epochs == 0 => {
            return Err(Error::Config("--epochs must be at least 1".into()));
        }
        BenchTask::Iwae if options.iw_samples == 0 || options.iw_images == 0 => {
            return Err(Error::Config(
                "--iw-samples and --iw-images must be at least 1 for --task iwae".into(),
            ));
        }
        BenchTask::Train | BenchTask::Iwae => {}
    }
    let photographs = options.model.defaults().photographs;
    if photographs && options.data.is_some() {
        return Err(Error::Config(format!(
            "the {} benchmark trains on generated pictures; drop --data",
            options.model
        )));
    }
    let config = TrainConfig {
        data: options.data.clone(),
        limit: options.limit,
        device: options.device.clone(),
        seed: options.seed,
        epochs: options.epochs,
        ..TrainConfig::for_arch(options.model)
    };
    config.validate()?;
    let device = vae::device::parse_device(&config.device)?;
    let ad_device = device.clone().autodiff();
    let splits = if photographs {
        DataSplits::new(
            generated_pictures(options.limit.unwrap_or(PICTURES_TRAIN), config.seed),
            generated_pictures(PICTURES_TEST, config.seed + 1),
        )
    } else {
        config.load_data()?
    };
    let model_config = config.model_config(
        splits.train.height,
        splits.train.width,
        splits.train.channels,
    );
    model_config.validate()?;
    let batch_size = config.batch_size;
    vae::model::memory::Footprint::of(&model_config).check_training(batch_size, 1)?;
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
        world: vae::distributed::World::single(),
        window: train::epoch::upload_window(&device, &config, &model_config),
    };

    let (mut model, mut optimizer) = train::fresh(&config, &model_config, &ad_device);
    let lr = config.lr;
    let mut seconds = Vec::with_capacity(options.epochs);
    let timed_epochs = match options.task {
        BenchTask::Train => options.epochs,
        BenchTask::Iwae => 0,
    };
    let passes: Vec<&Dataset> = std::iter::once(&warmup)
        .filter(|w| !w.is_empty())
        .chain(std::iter::repeat_n(&splits.train, timed_epochs))
        .collect();
    let (mut timed_steps, mut timed_reads) = (0, 0);
    for (pass, data) in passes.into_iter().enumerate() {
        let reads = vae::device::host_reads();
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
            timed_steps += sums.steps;
            timed_reads += vae::device::host_reads() - reads;
        }
    }
    let model = model.valid();
    let framework = format!("vae {} (burn 0.22.1)", env!("CARGO_PKG_VERSION"));
    let threads = rayon::current_num_threads();

    if options.task == BenchTask::Iwae {
        let mut test = splits.test;
        test.truncate(options.iw_images);
        let started = Instant::now();
        let bound = eval::iwae::nll(
            &model,
            &test,
            config.loss,
            options.iw_samples,
            &device,
            config.seed,
        )?;
        let seconds = started.elapsed().as_secs_f64();
        let images_per_second = test.len() as f64 / seconds;
        let flops = iwae_flops_per_image(&model_config, options.iw_samples);
        return Ok(BenchReport {
            framework,
            model: options.model,
            task: options.task,
            threads,
            batch_size,
            train_images: test.len(),
            epochs: 0,
            iw_samples: Some(options.iw_samples),
            images_per_second,
            seconds_per_epoch: seconds,
            train_flops_per_image: flops,
            gflops: images_per_second * flops / 1e9,
            test_loss: bound,
            decode_ms_batch1: None,
            decode_ms_per_image_batch256: None,
            peak_rss_mib: peak_rss_mib(),
            host_reads_per_step: None,
        });
    }

    let seconds_per_epoch = median(&mut seconds);
    let images_per_second = splits.train.len() as f64 / seconds_per_epoch;
    let test = eval::test_loss(
        &model,
        &splits.test,
        config.loss,
        config.beta,
        &device,
        config.seed,
    )?;
    let (decode_ms_batch1, decode_256) =
        decode_latency(&model, &model_config, &device, config.seed)?;
    let flops = training_flops_per_image(&model_config);
    Ok(BenchReport {
        framework,
        model: options.model,
        task: options.task,
        threads,
        batch_size,
        train_images: splits.train.len(),
        epochs: options.epochs,
        iw_samples: None,
        images_per_second,
        seconds_per_epoch,
        train_flops_per_image: flops,
        gflops: images_per_second * flops / 1e9,
        test_loss: test.total,
        decode_ms_batch1: Some(decode_ms_batch1),
        decode_ms_per_image_batch256: Some(decode_256 / 256.0),
        peak_rss_mib: peak_rss_mib(),
        host_reads_per_step: Some(timed_reads as f64 / timed_steps.max(1) as f64),
    })
}

/// `count` 64x64 RGB pictures for the benchmark of an architecture for photographs, drawn from `seed`: a plain background
/// and one disc, each of a random colour, the disc at a random place and size. Speed does not
/// depend on what the pictures show, only on their shape; the PyTorch reference draws the same
/// kind of picture.
pub fn generated_pictures(count: usize, seed: u64) -> Dataset {
    use rand::Rng;
    let mut draw = rng(seed, stream::PICTURES);
    let side = PICTURES_SIZE;
    let plane = side * side;
    let mut images = Vec::with_capacity(count * 3 * plane);
    for _ in 0..count {
        let background: [f32; 3] = std::array::from_fn(|_| draw.random::<f32>());
        let disc: [f32; 3] = std::array::from_fn(|_| draw.random::<f32>());
        let (cx, cy) = (
            draw.random_range(16.0..48.0f32),
            draw.random_range(16.0..48.0f32),
        );
        let radius = draw.random_range(6.0..20.0f32);
        for c in 0..3 {
            for y in 0..side {
                for x in 0..side {
                    let inside = (x as f32 - cx).hypot(y as f32 - cy) < radius;
                    images.push(if inside { disc[c] } else { background[c] });
                }
            }
        }
    }
    let mut pictures = Dataset::stored(images, vec![0; count], side, side, vec!["picture".into()]);
    pictures.channels = 3;
    pictures
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

/// Floating-point operations per test image of the IWAE bound with K samples: one encoder
/// pass and K decoder passes, 2 per multiply-add.
pub fn iwae_flops_per_image(config: &ModelConfig, samples: usize) -> f64 {
    let layers = config.arch.architecture().layers(config);
    let macs = |half: Half| -> f64 {
        layers
            .iter()
            .filter(|l| l.half == half)
            .map(|l| l.macs)
            .sum()
    };
    2.0 * (macs(Half::Encoder) + samples as f64 * macs(Half::Decoder))
}

/// Multiply-adds per image of each weight layer, in the order the forward pass runs them: the
/// layers the architecture lists ([`vae::model::Architecture::layers`]).
pub fn forward_macs(config: &ModelConfig) -> Vec<f64> {
    config
        .arch
        .architecture()
        .layers(config)
        .iter()
        .filter(|l| l.parameters > 0.0)
        .map(|l| l.macs)
        .collect()
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

/// Peak resident set size: Linux's `VmHWM` (`getrusage`'s `ru_maxrss`), read without `unsafe`.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// The table `vae bench` prints.
impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |v: Option<f64>, digits: usize, unit: &str| {
            v.map_or("-".to_string(), |v| format!("{v:.digits$} {unit}"))
        };
        let (work, loss) = match self.iw_samples {
            Some(k) => (
                format!("IWAE, K = {k}, over {} test images", self.train_images),
                format!("{:.2} (the IWAE bound, nats/image)", self.test_loss),
            ),
            None => (
                format!(
                    "{} images x {} timed epochs",
                    self.train_images, self.epochs
                ),
                format!("{:.2} nats/image", self.test_loss),
            ),
        };
        let rows = [
            ("framework", self.framework.clone()),
            (
                "model",
                format!("{:?} (batch {})", self.model, self.batch_size),
            ),
            ("threads", self.threads.to_string()),
            ("work", work),
            ("images/s", format!("{:.0}", self.images_per_second)),
            ("seconds", format!("{:.2}", self.seconds_per_epoch)),
            (
                "GFLOP/s",
                format!(
                    "{:.1} ({:.2} MFLOP per image)",
                    self.gflops,
                    self.train_flops_per_image / 1e6
                ),
            ),
            ("test loss", loss),
            ("decode batch 1", ms(self.decode_ms_batch1, 3, "ms")),
            (
                "decode batch 256",
                ms(self.decode_ms_per_image_batch256, 4, "ms/image"),
            ),
            ("peak RSS", format!("{:.0} MiB", self.peak_rss_mib)),
            (
                "host reads",
                ms(self.host_reads_per_step, 3, "per training step"),
            ),
        ];
        for (k, v) in rows {
            writeln!(f, "{k:<17}{v}")?;
        }
        Ok(())
    }
}

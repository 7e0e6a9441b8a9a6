//! `vae train`: Adam on the beta-VAE loss, one run folder per run, a checkpoint every epoch,
//! exact resume, and a stop with a clear message if the loss stops being finite.

pub mod checkpoint;
mod end_of_epoch;
pub mod epoch;
pub mod gradients;
pub mod metrics;
pub mod progress;
pub mod shards;

use crate::config::{OnNan, TrainConfig};
use crate::distributed::World;
use crate::error::{Error, IoContext, Result};
use crate::model::Vae;
use crate::run::{self, CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE};
use burn::optim::ModuleOptimizer;
use end_of_epoch::check_epoch;
use epoch::{Divergence, Setup, train_epoch};
pub use metrics::EpochMetrics;
pub use progress::{Progress, Quiet};
use std::path::Path;

/// How the run is driven.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrainOptions {
    /// Continue from the run folder's checkpoint.
    pub resume: bool,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub epochs: Vec<EpochMetrics>,
    /// The last epoch's model. With early stopping the run folder's weights are those of
    /// `best_epoch` instead.
    pub model: Vae,
    /// Learning rate at the end (lower than configured after a rollback).
    pub lr: f64,
    /// With a validation set: the epoch of the best validation ELBO, whose weights the run
    /// folder holds.
    pub best_epoch: Option<usize>,
}

/// How many times `--on-nan rollback` may divide the learning rate before giving up.
pub const MAX_ROLLBACKS: usize = 3;

/// A fresh model with its weights from the run's seed, and a fresh Adam (epsilon 1e-8, as
/// PyTorch).
pub fn fresh(
    config: &TrainConfig,
    model_config: &crate::model::ModelConfig,
    ad_device: &burn::tensor::Device,
) -> (Vae, ModuleOptimizer) {
    let model = Vae::init(model_config, ad_device, config.seed);
    let optimizer = crate::optim::adam();
    (model, optimizer)
}

/// Trains `config` into `run_dir` and returns the per-epoch metrics and the trained model.
pub fn train(config: &TrainConfig, run_dir: &Path, options: TrainOptions) -> Result<TrainSummary> {
    train_with(config, run_dir, options, &mut Quiet)
}

/// [`train`], telling `progress` how it goes.
///
/// Under MPI ([`World`]) every rank calls this with the same settings: rank 0 alone reads and
/// writes the run folder and reports progress, and hands the checkpoint to the others.
pub fn train_with(
    config: &TrainConfig,
    run_dir: &Path,
    options: TrainOptions,
    progress: &mut dyn Progress,
) -> Result<TrainSummary> {
    let world = World::get()?;
    let mut quiet = Quiet;
    let progress: &mut dyn Progress = if world.is_root() {
        progress
    } else {
        &mut quiet
    };
    let config = rank_0_settings(config, &world)?;
    let prepared = world.agree(prepare(&config, run_dir, options, &world))?;
    let Prepared {
        config,
        splits,
        model_config,
    } = &prepared;
    let device = crate::device::parse_device(&config.device)?;
    let ad_device = device.clone().autodiff();
    let checkpoint_path = run_dir.join(CHECKPOINT_FILE);

    let setup = Setup {
        config,
        train_set: &splits.train,
        device: device.clone(),
        ad_device: ad_device.clone(),
        latent: model_config.latent_dim,
        shards: crate::parallel::Shards::shared(&device),
        world,
    };
    // The last checkpoint, from rank 0 to every rank: the weights and Adam state to go on from.
    let restore = |history: &mut Vec<EpochMetrics>| -> Result<(Vae, ModuleOptimizer, usize)> {
        let (model, optimizer) = fresh(config, model_config, &ad_device);
        let saved = world.agree(if world.is_root() && checkpoint_path.is_file() {
            std::fs::read(&checkpoint_path)
                .ctx(|| format!("cannot read checkpoint {}", checkpoint_path.display()))
        } else {
            Ok(Vec::new())
        })?;
        let saved = world.broadcast(world.is_root().then_some(saved));
        if saved.is_empty() {
            history.clear();
            return Ok((model, optimizer, 0));
        }
        let (done, model, optimizer) = world.agree(checkpoint::decode_from(
            &checkpoint_path,
            &saved,
            model,
            optimizer,
        ))?;
        if world.is_root() {
            let mut saved = metrics::read(&run_dir.join(METRICS_FILE))?;
            saved.retain(|m| m.epoch <= done);
            *history = saved;
        }
        Ok((model, optimizer, done))
    };

    let mut history = Vec::new();
    let (mut model, mut optimizer, mut done) = if options.resume {
        restore(&mut history)?
    } else {
        let (m, o) = fresh(config, model_config, &ad_device);
        (m, o, 0)
    };
    if world.size > 1 {
        progress.message(&format!(
            "training on {} MPI ranks: each batch of {} split between them, {:.2} MB of gradients summed per step",
            world.size,
            config.batch_size(),
            (gradients::Layout::of(&model).len() + 3) as f64 * 4.0 / 1e6
        ));
    }
    let mut lr = config.lr();
    let mut rollbacks = 0;
    while done < config.epochs {
        if let Some(best) = should_stop(config, &history, done, &world) {
            progress.message(&format!(
                "early stop after epoch {done}: the validation ELBO has not improved for {} epochs; {} holds the weights of epoch {best}",
                done - best,
                run_dir.join(run::MODEL_FILE).display()
            ));
            break;
        }
        let epoch = done + 1;
        let trained = match train_epoch(&setup, epoch, model, &mut optimizer, lr, progress)? {
            Ok((trained, sums)) => {
                check_epoch(&setup, splits, epoch, &trained, &sums, lr)?.map(|r| (trained, r))
            }
            Err(divergence) => Err(divergence),
        };
        match trained {
            Ok((trained, record)) => {
                model = trained;
                if let Some(record) = record {
                    history.push(record.clone());
                    // The checkpoint is the commit point and is written last: a crash before
                    // it leaves the previous epoch's checkpoint, and resume drops newer lines.
                    metrics::write(&run_dir.join(METRICS_FILE), &history)?;
                    // With a validation set the run's weights are the best epoch's.
                    if record.valid.is_none() || EpochMetrics::best_epoch(&history) == Some(epoch) {
                        run::write_weights(run_dir, &model)?;
                    }
                    checkpoint::save(&checkpoint_path, epoch, &model, &optimizer)?;
                    progress.epoch_finished(&record, config.epochs);
                }
                done = epoch;
            }
            Err(divergence) => {
                let message = diverged(run_dir, &divergence, done, lr);
                if config.on_nan == OnNan::Stop || rollbacks == MAX_ROLLBACKS {
                    return Err(if world.is_root() {
                        Error::Numerical(message)
                    } else {
                        Error::Stopped
                    });
                }
                rollbacks += 1;
                lr /= 10.0;
                if world.is_root() {
                    let lowered = TrainConfig {
                        lr: Some(lr),
                        ..config.clone()
                    };
                    run::write_config(run_dir, &lowered)?;
                }
                progress.message(&format!(
                    "{message}\nrolling back to epoch {done} with learning rate {lr} (rollback {rollbacks} of {MAX_ROLLBACKS})"
                ));
                (model, optimizer, done) = restore(&mut history)?;
            }
        }
    }
    Ok(TrainSummary {
        best_epoch: EpochMetrics::best_epoch(&history),
        epochs: history,
        model,
        lr,
    })
}

/// Rank 0's settings, on every rank: they are the run's. On `--resume` they come from the run
/// folder's `config.toml`, which only rank 0's machine holds (a learning rate lowered by a
/// rollback included); the other ranks' own flags fell back to the defaults.
fn rank_0_settings(config: &TrainConfig, world: &World) -> Result<TrainConfig> {
    if world.size == 1 {
        return Ok(config.clone());
    }
    let text = world.broadcast(world.is_root().then(|| config.to_toml().into_bytes()));
    world.agree(
        std::str::from_utf8(&text)
            .ok()
            .and_then(|text| toml::from_str(text).ok())
            .ok_or_else(|| Error::Config("rank 0's settings did not reach this rank".into())),
    )
}

/// With `--patience`: the best epoch when the validation ELBO has not improved for `patience`
/// epochs after it, so the run is over. Rank 0 alone keeps the metrics, so it decides for all.
fn should_stop(
    config: &TrainConfig,
    history: &[EpochMetrics],
    done: usize,
    world: &World,
) -> Option<usize> {
    let patience = config.patience?;
    let best = EpochMetrics::best_epoch(history).filter(|&best| done >= best + patience);
    if world.size == 1 {
        return best;
    }
    let sent = world
        .is_root()
        .then(|| best.map_or(u64::MAX, |b| b as u64).to_le_bytes().to_vec());
    let got = world.broadcast(sent);
    let best = u64::from_le_bytes(got.try_into().unwrap_or([u8::MAX; 8]));
    (best != u64::MAX).then_some(best as usize)
}

/// A run's settings and data, checked, with its folder made (by rank 0).
struct Prepared {
    config: TrainConfig,
    splits: crate::data::DataSplits,
    model_config: crate::model::ModelConfig,
}

/// Everything before the first step that can fail: settings, resume rules, data, model size,
/// and (rank 0) the run folder. Every rank does it, so the ranks can [`World::agree`] on it.
fn prepare(
    config: &TrainConfig,
    run_dir: &Path,
    options: TrainOptions,
    world: &World,
) -> Result<Prepared> {
    let config = config.clone().resolved();
    config.validate()?;
    crate::device::parse_device(&config.device)?;
    // Rank 0 checks the folder; the others may not even see it (another machine).
    if world.is_root() {
        check_folder(&config, run_dir, options)?;
    }

    let splits = config.load_data()?;
    let model_config = crate::model::ModelConfig {
        conditioning: config.conditioning(&splits.train.class_names),
        ..config.model_config(
            splits.train.height,
            splits.train.width,
            splits.train.channels,
        )
    };
    model_config.validate()?;
    // Each rank holds the activations of its share of a batch; the ranks on one machine
    // share its memory.
    let batch = config.batch_size().min(splits.train.len()).max(1);
    crate::model::memory::Footprint::of(&model_config)
        .check_training(batch.div_ceil(world.size), world.local_size)?;
    check_ranks(&config, splits.train.len(), world)?;

    if world.is_root() {
        crate::fsutil::create_dir(run_dir)?;
        crate::fsutil::remove_stale_temp_files(run_dir)?;
        run::write_config(run_dir, &config)?;
        run::write_model_config(run_dir, &model_config)?;
    }
    Ok(Prepared {
        config,
        splits,
        model_config,
    })
}

/// A new run needs a folder without a run; a resumed one needs a checkpoint and its own settings.
fn check_folder(config: &TrainConfig, run_dir: &Path, options: TrainOptions) -> Result<()> {
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
                "--resume needs the run's own settings; {} differs from the flags given (only --epochs, --device, --data, --lr, --grad-clip, --on-nan and --patience may change)",
                config_path.display()
            )));
        }
    } else if checkpoint_path.exists() {
        return Err(Error::Config(format!(
            "{} already holds a run; pass --resume to continue it, or choose another --out",
            run_dir.display()
        )));
    }
    Ok(())
}

/// Every rank needs at least one image of every batch, the last one included: a rank without
/// rows would have no batch-norm statistics to bring to the others.
fn check_ranks(config: &TrainConfig, images: usize, world: &World) -> Result<()> {
    let batch = config.batch_size().min(images);
    let last = match images % batch {
        0 => batch,
        r => r,
    };
    if batch.min(last) < world.size {
        return Err(Error::Config(format!(
            "{} ranks need at least {} images in every batch, but the {} have {} (batch size {batch}, {images} images); use fewer ranks, a larger --batch-size, or a --limit that leaves a fuller last batch",
            world.size,
            world.size,
            if last < batch {
                "last batch"
            } else {
                "batches"
            },
            batch.min(last),
        )));
    }
    Ok(())
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

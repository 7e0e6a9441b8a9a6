//! `vae train`: Adam on the beta-VAE loss, one run folder per run, a checkpoint every epoch,
//! exact resume, and a stop with a clear message if the loss stops being finite.

pub mod checkpoint;
mod early_stop;
mod end_of_epoch;
pub mod epoch;
pub mod gradients;
pub mod metrics;
pub mod progress;
mod ranks;
mod resume;
pub mod shards;

use crate::config::TrainConfig;
use crate::distributed::World;
use crate::error::{Error, Result};
use crate::model::Vae;
use crate::run::{self, CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE};
use burn::optim::ModuleOptimizer;
use end_of_epoch::check_epoch;
use epoch::{Setup, train_epoch};
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
    let config = ranks::rank_0_settings(config, &world)?;
    let prepared = world.agree(prepare(&config, run_dir, options, &world))?;
    let Prepared {
        config,
        splits,
        model_config,
    } = &prepared;
    let device = crate::device::parse_device(&config.device)?;
    let ad_device = device.clone().autodiff();
    let setup = Setup {
        config,
        train_set: &splits.train,
        device: device.clone(),
        ad_device: ad_device.clone(),
        latent: model_config.latent_dim,
        shards: crate::parallel::Shards::shared(&device),
        world,
        window: epoch::upload_window(&device, config, model_config),
    };
    let restore = |history: &mut Vec<EpochMetrics>| {
        resume::restore(config, model_config, &ad_device, run_dir, &world, history)
    };

    let mut history = Vec::new();
    let (mut model, mut optimizer, mut done) = if options.resume {
        restore(&mut history)?
    } else {
        let (m, o) = fresh(config, model_config, &ad_device);
        (m, o, 0)
    };
    if world.size > 1 {
        progress.message(&ranks::split_message(&world, config, &model));
    }
    let mut rollbacks = resume::Rollbacks::new(config.lr);
    while done < config.epochs {
        if let Some(best) = early_stop::should_stop(config, &history, done, &world) {
            progress.message(&early_stop::message(run_dir, done, best));
            break;
        }
        let epoch = done + 1;
        let lr = config.lr_at(rollbacks.lr, epoch);
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
                    save_epoch(run_dir, record, &mut history, &model, &optimizer)?;
                    progress.epoch_finished(
                        history.last().expect("just saved"),
                        config.epochs,
                        &model,
                    );
                }
                done = epoch;
            }
            Err(divergence) => {
                let line = rollbacks.after(&divergence, done, config, run_dir, &world)?;
                progress.message(&line);
                (model, optimizer, done) = restore(&mut history)?;
            }
        }
    }
    Ok(TrainSummary {
        best_epoch: EpochMetrics::best_epoch(&history),
        epochs: history,
        model,
        lr: rollbacks.lr,
    })
}

/// Rank 0 saves a finished epoch: its metrics line, the run's weights (with a validation set,
/// only when it is the best epoch), then the checkpoint, which is the commit point and written
/// last: a crash before it leaves the previous epoch's checkpoint, and resume drops newer lines.
fn save_epoch(
    run_dir: &Path,
    record: EpochMetrics,
    history: &mut Vec<EpochMetrics>,
    model: &Vae,
    optimizer: &ModuleOptimizer,
) -> Result<()> {
    let epoch = record.epoch;
    let best_only = record.valid.is_some();
    history.push(record);
    metrics::write(&run_dir.join(METRICS_FILE), history)?;
    if !best_only || EpochMetrics::best_epoch(history) == Some(epoch) {
        run::write_weights(run_dir, model)?;
    }
    checkpoint::save(&run_dir.join(CHECKPOINT_FILE), epoch, model, optimizer)
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
    let config = config.clone();
    config.validate()?;
    crate::device::parse_device(&config.device)?;
    // Rank 0 checks the folder; the others may not even see it (another machine).
    if world.is_root() {
        check_folder(&config, run_dir, options)?;
    }

    let splits = config.load_data()?;
    if splits.train.is_empty() {
        return Err(Error::Data(format!(
            "no training images: the training split of {} is empty; point --data at a data set with images",
            crate::data::describe_source(&config.data_spec())?
        )));
    }
    let model_config = crate::model::ModelConfig {
        conditioning: config.conditioning(&splits.train.class_names),
        ..config.model_config(
            splits.train.height,
            splits.train.width,
            splits.train.channels,
        )
    };
    model_config.validate()?;
    // Each rank holds the activations of its share of a batch, K rows per image for the IWAE
    // objective; the ranks on one machine share its memory.
    let batch = config.batch_size.min(splits.train.len()).max(1);
    crate::model::memory::Footprint::of(&model_config).check_training_samples(
        batch.div_ceil(world.size),
        config.samples(),
        world.local_size,
    )?;
    ranks::check_ranks(&config, splits.train.len(), world)?;

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
                "--resume needs the run's own settings; {} differs from the flags given (only --epochs, --device, --data, --lr, --lr-decay, --grad-clip, --on-nan and --patience may change)",
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

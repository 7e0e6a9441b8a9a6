//! Flag groups that several commands share, each defined once. The training settings are the
//! library's [`TrainConfig`] keys: set flags become a TOML table laid over the defaults, a
//! `--config` file or a run's own config, so no setting is copied field by field.

use clap::Args;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use vae::config::{OnNan, TrainConfig};
use vae::data::{Binarize, Color, DataSpec, DatasetKind};
use vae::eval::disentanglement::MetricOptions;
use vae::model::Arch;
use vae::model::loss::Reconstruction;
use vae::run::CONFIG_FILE;
use vae::{Error, Result};

/// Parses a flag value into one of the library's enums by its name in config files (the
/// library has no CLI dependency, so its enums carry no clap derives).
pub fn choice<T: DeserializeOwned>(value: &str) -> std::result::Result<T, String> {
    use serde::de::value::{Error as DeError, StrDeserializer};
    T::deserialize(StrDeserializer::<DeError>::new(value)).map_err(|e| e.to_string())
}

/// `--arch` and `--model`: the registered architectures, by name (older names too), listed in
/// `--help`.
pub fn arch() -> impl clap::builder::TypedValueParser<Value = Arch> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        Arch::ALL.iter().map(|a| {
            PossibleValue::new(a.name()).aliases(a.architecture().aliases().iter().copied())
        }),
    )
    .map(|name| Arch::from_name(&name).expect("clap accepts registered names only"))
}

/// Flags that are set, as the TOML keys of [`TrainConfig`] (unset ones are left out).
fn table(flags: &impl Serialize) -> Result<toml::Table> {
    toml::Table::try_from(flags).map_err(|e| {
        Error::Config(format!(
            "flags that TOML cannot hold ({e}); paths must be UTF-8"
        ))
    })
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Which data set, and how it is read.
#[derive(Args, Serialize, Default)]
pub struct DataFlags {
    /// fashion-mnist (default), mnist, idx, shapes, dsprites, folder or cifar10; shapes and
    /// dsprites have known factors (disentanglement metrics); dsprites needs --data.
    #[arg(long, value_parser = choice::<DatasetKind>)]
    pub dataset: Option<DatasetKind>,
    /// Folder with the four IDX files, the dSprites .npz file, the CIFAR-10 batches, or your
    /// images (--dataset folder).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Folder data sets: images are centre-cropped and resized to this side (default 64).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Folder and CIFAR-10 data sets: rgb (default) or grey.
    #[arg(long, value_parser = choice::<Color>)]
    pub color: Option<Color>,
    /// Folder data sets: seed of the held-out split (default 0).
    #[arg(long)]
    pub split_seed: Option<u64>,
    /// Folder data sets: MiB of decoded training images cached in memory (default 1024).
    #[arg(long)]
    pub cache_mb: Option<usize>,
}

impl DataFlags {
    /// The data set these flags name, with the defaults of a training run.
    pub fn spec(&self) -> Result<DataSpec> {
        Ok(TrainConfig::default()
            .with_settings(table(self)?, "flags")?
            .data_spec())
    }
}

/// The settings of a training run, shared by `train`, `sweep` and `import`.
#[derive(Args, Serialize, Default)]
pub struct TrainFlags {
    /// TOML file with any of the settings below (flags override it).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub data: DataFlags,
    /// The architecture (default mlp; celeba is read as conv-bn).
    #[arg(long, value_parser = arch())]
    pub arch: Option<Arch>,
    /// Size of z (default: the architecture's, 20 mlp, 2 conv, 200 conv-bn).
    #[arg(long)]
    pub latent_dim: Option<usize>,
    /// MLP hidden sizes, e.g. 400 or 512,256.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Conv channels, e.g. 32,64,128.
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<usize>>,
    /// Plain autoencoder: deterministic z, no KL.
    #[arg(long)]
    #[serde(skip_serializing_if = "is_false")]
    pub autoencoder: bool,
    /// Conditional VAE: encoder and decoder also read the class (one-hot), so that samples can
    /// be drawn for a chosen class (`vae sample --class`).
    #[arg(long)]
    #[serde(skip_serializing_if = "is_false")]
    pub conditional: bool,
    /// With --conditional: condition on these columns of --attributes (multi-hot) instead of
    /// the class, e.g. Smiling,Eyeglasses (folder data sets).
    #[arg(long, value_delimiter = ',')]
    pub condition_attributes: Option<Vec<String>>,
    /// The attribute table of --condition-attributes (CelebA's list_attr_celeba.txt or a CSV).
    #[arg(long)]
    pub attributes: Option<PathBuf>,
    /// bce, cb (continuous Bernoulli) or mse (default: the architecture's, mse for conv-bn).
    #[arg(long, value_parser = choice::<Reconstruction>)]
    pub loss: Option<Reconstruction>,
    /// dynamic, fixed or none (default).
    #[arg(long, value_parser = choice::<Binarize>)]
    pub binarize: Option<Binarize>,
    /// Weight of the KL term (default 1).
    #[arg(long, allow_negative_numbers = true)]
    pub beta: Option<f64>,
    /// Epochs over which beta rises linearly from 0.
    #[arg(long)]
    pub kl_warmup_epochs: Option<usize>,
    /// Adam's learning rate (default 1e-3 mlp, 5e-4 conv).
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Default 128 (mlp), 100 (conv).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Default 10.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Weights, shuffling, noise and binarization all follow from it (default 42).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Use the first N training images (for shapes, dsprites and folders, whose training split
    /// is in a fixed shuffled order: a random N).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Hold out the last N training images as a validation set, scored (-ELBO) every epoch.
    #[arg(long)]
    pub validation: Option<usize>,
    /// Stop when the validation ELBO has not improved for N epochs; the run keeps the best
    /// epoch's weights. Needs --validation.
    #[arg(long)]
    pub patience: Option<usize>,
    /// cpu (default), cuda, cuda:N, wgpu.
    #[arg(long)]
    pub device: Option<String>,
    /// Clip the joint gradient norm to this value.
    #[arg(long)]
    pub grad_clip: Option<f64>,
    /// On a NaN/Inf loss or gradient: stop (default), or rollback to the last checkpoint with
    /// lr / 10.
    #[arg(long, value_parser = choice::<OnNan>)]
    pub on_nan: Option<OnNan>,
}

impl TrainFlags {
    /// The settings: the `--config` file if given, else (when resuming) the run's own config,
    /// else the defaults; then the flags.
    pub fn config(&self, resume_from: Option<&Path>) -> Result<TrainConfig> {
        let saved = resume_from
            .map(|dir| dir.join(CONFIG_FILE))
            .filter(|p| p.is_file());
        let base = match saved {
            Some(path) => TrainConfig::from_file(&path)?,
            None => TrainConfig::default(),
        };
        self.config_over(base)
    }

    /// The `--config` file if given, else `base`, with the flags applied.
    pub fn config_over(&self, base: TrainConfig) -> Result<TrainConfig> {
        let base = match &self.config {
            Some(path) => TrainConfig::from_file(path)?,
            None => base,
        };
        base.with_settings(table(self)?, "flags")
    }
}

/// Sizes of the disentanglement metrics (runs on shapes or dsprites only).
#[derive(Args, Clone, Copy)]
pub struct MetricFlags {
    /// Observations for MIG.
    #[arg(long, default_value_t = 10_000)]
    pub mig_points: usize,
    /// Training points of the beta-VAE and FactorVAE classifiers (64 observations each).
    #[arg(long, default_value_t = 1_000)]
    pub metric_train_points: usize,
    /// Held-out points the beta-VAE and FactorVAE scores are measured on.
    #[arg(long, default_value_t = 500)]
    pub metric_eval_points: usize,
}

impl MetricFlags {
    pub fn options(self) -> MetricOptions {
        MetricOptions {
            mig_points: self.mig_points,
            train_points: self.metric_train_points,
            eval_points: self.metric_eval_points,
            ..Default::default()
        }
    }
}

/// A count flag that must be at least 1.
pub fn check_count(n: usize, flag: &str) -> Result<()> {
    if n == 0 {
        return Err(Error::Config(format!("{flag} must be at least 1")));
    }
    Ok(())
}

/// Sample-quality scores: Fréchet distance, precision and recall of samples from N(0, I).
#[derive(Args, Clone, Copy)]
pub struct QualityFlags {
    /// Also score samples from N(0, I) against the test images (Fréchet distance, precision,
    /// recall) in the features of a classifier trained on the data set's labels.
    #[arg(long)]
    pub sample_quality: bool,
    /// Samples (and test images) for --sample-quality.
    #[arg(long, default_value_t = 10_000)]
    pub quality_samples: usize,
}

impl QualityFlags {
    /// How many samples to score, when asked to.
    pub fn samples(self) -> Option<usize> {
        self.sample_quality.then_some(self.quality_samples)
    }
}

/// A conditional run's class fidelity (`vae eval`).
#[derive(Args, Clone, Copy)]
pub struct FidelityFlags {
    /// Also measure class fidelity (conditional runs): the share of samples drawn for each
    /// class that the data set's feature classifier labels as that class.
    #[arg(long)]
    pub class_fidelity: bool,
    /// Samples per class for --class-fidelity.
    #[arg(long, default_value_t = 1_000)]
    pub fidelity_samples: usize,
}

impl FidelityFlags {
    /// How many samples per class to score, when asked to.
    pub fn samples(self) -> Option<usize> {
        self.class_fidelity.then_some(self.fidelity_samples)
    }
}

/// `--class`: what a conditional run draws.
#[derive(Args, Clone, Default)]
pub struct ClassFlag {
    /// Conditional runs: the class to draw (a name such as "Ankle boot", or its number), the
    /// attributes (Smiling,Eyeglasses, or none), or all (one row per class).
    #[arg(long)]
    pub class: Option<String>,
}

/// What one client may hold of the explorer's server (`vae serve`, `vae loadtest`).
#[derive(Args, Clone, Copy)]
pub struct LimitFlags {
    /// Seconds a connection may take to send its request headers (or to start its next
    /// request) before it is closed.
    #[arg(long, default_value_t = 10.0)]
    pub header_timeout: f64,
    /// Connections served at once; more wait until one closes.
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
}

impl LimitFlags {
    pub fn limits(self) -> Result<vae_serve::Limits> {
        let header_timeout =
            std::time::Duration::try_from_secs_f64(self.header_timeout).map_err(|_| {
                Error::Config(format!(
                    "--header-timeout must be a number of seconds above 0 (got {})",
                    self.header_timeout
                ))
            })?;
        Ok(vae_serve::Limits {
            header_timeout,
            max_connections: self.max_connections,
        })
    }
}

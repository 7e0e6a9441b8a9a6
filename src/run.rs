//! A run folder: `config.toml` (every setting of the run), `model.bpk` (weights), the
//! checkpoint, `metrics.jsonl`, pictures and `report.html`.

use crate::data::folder::Color;
use crate::data::{self, Binarize, DataSpec, DataSplits, DatasetKind};
use crate::error::{Error, IoContext, Result};
use crate::model::loss::Reconstruction;
use crate::model::{Arch, ModelConfig, Vae};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File names inside a run folder.
pub const CONFIG_FILE: &str = "config.toml";
pub const MODEL_FILE: &str = "model.bpk";
pub const CHECKPOINT_FILE: &str = "checkpoint.bin";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const EVAL_FILE: &str = "eval.json";

/// Every setting of a training run. A `--config run.toml` file uses these keys; flags override
/// it; the run folder's `config.toml` holds the resolved values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub dataset: DatasetKind,
    /// Data folder; `None` searches the usual places (see `data::locate`).
    pub data: Option<PathBuf>,
    /// Folder data sets: images are centre-cropped and resized to this side.
    pub image_size: usize,
    /// Folder and CIFAR-10 data sets: colour or grey.
    pub color: Color,
    /// Folder data sets: seed of the random held-out split.
    pub split_seed: u64,
    /// Folder data sets: MiB of decoded training images kept in memory.
    pub cache_mb: usize,
    pub arch: Arch,
    /// Defaults: 20 (mlp), 2 (conv), 200 (celeba).
    pub latent_dim: Option<usize>,
    pub hidden: Vec<usize>,
    /// Defaults: 32,64,128 (conv), 32,64,64,64 (celeba).
    pub channels: Option<Vec<usize>>,
    pub autoencoder: bool,
    /// Defaults: bce, mse (celeba).
    pub loss: Option<Reconstruction>,
    pub binarize: Binarize,
    pub beta: f64,
    /// Epochs over which beta rises linearly from 0 (0 = no warm-up).
    pub kl_warmup_epochs: usize,
    /// Defaults: 1e-3 (mlp), 5e-4 (conv).
    pub lr: Option<f64>,
    /// Defaults: 128 (mlp), 100 (conv).
    pub batch_size: Option<usize>,
    pub epochs: usize,
    pub seed: u64,
    /// Train on the first N training images only.
    pub limit: Option<usize>,
    pub device: String,
    /// Clip the joint norm of all gradients to this value (PyTorch's `clip_grad_norm_`).
    pub grad_clip: Option<f64>,
    /// What to do when the loss or a gradient stops being finite.
    pub on_nan: OnNan,
}

/// Reaction to a non-finite loss or gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OnNan {
    /// Stop with a message; the last good checkpoint stays.
    Stop,
    /// Go back to the last good checkpoint, divide the learning rate by 10 and go on (3 times at
    /// most).
    Rollback,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            dataset: DatasetKind::FashionMnist,
            data: None,
            image_size: 64,
            color: Color::Rgb,
            split_seed: 0,
            cache_mb: 1024,
            arch: Arch::Mlp,
            latent_dim: None,
            hidden: vec![400],
            channels: None,
            autoencoder: false,
            loss: None,
            binarize: Binarize::None,
            beta: 1.0,
            kl_warmup_epochs: 0,
            lr: None,
            batch_size: None,
            epochs: 10,
            seed: 42,
            limit: None,
            device: "cpu".into(),
            grad_clip: None,
            on_nan: OnNan::Stop,
        }
    }
}

impl TrainConfig {
    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .ctx(|| format!("cannot read config {}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            Error::file(
                path,
                format!("invalid config: {}", e.message().replace('\n', " ")),
            )
        })
    }

    /// Fills the architecture-dependent defaults, so the saved config says what was used.
    pub fn resolved(mut self) -> Self {
        let conv = self.arch.is_conv();
        self.latent_dim
            .get_or_insert(self.arch.default_latent_dim());
        self.channels.get_or_insert(self.arch.default_channels());
        self.loss.get_or_insert(self.arch.default_loss());
        self.lr.get_or_insert(if conv { 5e-4 } else { 1e-3 });
        self.batch_size.get_or_insert(if conv { 100 } else { 128 });
        self
    }

    /// The reconstruction loss (resolved: bce, or mse for celeba).
    pub fn loss(&self) -> Reconstruction {
        self.loss.unwrap_or(self.arch.default_loss())
    }

    /// Where the data comes from and how it is prepared.
    pub fn data_spec(&self) -> DataSpec {
        DataSpec {
            kind: self.dataset,
            data: self.data.clone(),
            image_size: self.image_size,
            color: self.color,
            split_seed: self.split_seed,
            cache_mb: self.cache_mb,
        }
    }

    pub fn lr(&self) -> f64 {
        self.lr.unwrap_or(1e-3)
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(128)
    }

    /// Rejects impossible hyperparameters with the fix.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return bad(format!(
                "beta must be a finite number >= 0 (got {}); beta = 1 is the VAE, < 1 favours reconstruction, > 1 structure",
                self.beta
            ));
        }
        if self.latent_dim == Some(0) {
            return bad("latent dimension must be at least 1 (try --latent-dim 2 or 20)".into());
        }
        if let Some(lr) = self.lr
            && !(lr.is_finite() && lr > 0.0)
        {
            return bad(format!(
                "learning rate must be > 0 (got {lr}; try --lr 1e-3)"
            ));
        }
        if self.batch_size == Some(0) {
            return bad("batch size must be at least 1 (try --batch-size 128)".into());
        }
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if let Some(c) = self.grad_clip
            && !(c.is_finite() && c > 0.0)
        {
            return bad(format!(
                "--grad-clip must be a norm > 0 (got {c}; try --grad-clip 10)"
            ));
        }
        if self.limit == Some(0) {
            return bad("--limit must be at least 1 image".into());
        }
        if self.autoencoder && (self.beta != 1.0 || self.kl_warmup_epochs != 0) {
            return bad(
                "a plain autoencoder has no KL term, so --beta and --kl-warmup-epochs do not apply; drop them or drop --autoencoder".into(),
            );
        }
        crate::device::parse_device(&self.device)?;
        data::validate_spec(&self.data_spec())?;
        self.model_config(28, 28, 1).validate()
    }

    /// The model shape for images of `height` x `width` with `image_channels` colours.
    pub fn model_config(&self, height: usize, width: usize, image_channels: usize) -> ModelConfig {
        ModelConfig {
            arch: self.arch,
            latent_dim: self.latent_dim.unwrap_or(self.arch.default_latent_dim()),
            hidden: self.hidden.clone(),
            channels: self
                .channels
                .clone()
                .unwrap_or(self.arch.default_channels()),
            autoencoder: self.autoencoder,
            height,
            width,
            image_channels,
        }
    }

    /// Loads the configured data set (train split cut to `limit`).
    pub fn load_data(&self) -> Result<DataSplits> {
        let mut splits = data::load_splits(&self.data_spec())?;
        if let Some(limit) = self.limit {
            splits.train.truncate(limit);
        }
        Ok(splits)
    }

    /// The settings that define what a run computes; `--resume` must keep them. Epochs, device,
    /// data folder, learning rate, clipping and the NaN policy may change when a run continues.
    pub fn identity(&self) -> TrainConfig {
        TrainConfig {
            epochs: 0,
            device: String::new(),
            data: None,
            cache_mb: 0,
            lr: None,
            grad_clip: None,
            on_nan: OnNan::Stop,
            ..self.clone()
        }
    }

    /// The TOML text saved in a run folder.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a TrainConfig always serialises")
    }
}

/// A trained run loaded back from its folder.
#[derive(Debug)]
pub struct Run {
    pub dir: PathBuf,
    pub config: TrainConfig,
    pub model_config: ModelConfig,
    pub model: Vae,
    pub device: Device,
}

/// The model shape saved beside the weights, so a run loads without reading its data.
#[derive(Debug, Serialize, Deserialize)]
struct ModelFile {
    model: ModelConfig,
}

/// Path of the model-shape file.
pub const MODEL_CONFIG_FILE: &str = "model.toml";

impl Run {
    /// Loads `dir`'s config and weights onto the device named in the config (or `device`).
    pub fn load(dir: &Path, device: Option<&str>) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Config(format!(
                "run folder {} does not exist; train one with `vae train --out {}`",
                dir.display(),
                dir.display()
            )));
        }
        let config_path = dir.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(Error::Config(format!(
                "{} is not a run folder (no {CONFIG_FILE}); pass the --out folder of `vae train`",
                dir.display()
            )));
        }
        let config = TrainConfig::from_file(&config_path)?;
        let model_config = read_model_config(dir)?;
        let device = crate::device::parse_device(device.unwrap_or(&config.device))?;
        let weights = dir.join(MODEL_FILE);
        if !weights.is_file() {
            return Err(Error::Config(format!(
                "{} has no {MODEL_FILE} yet; training has not finished an epoch (continue with `vae train --resume --out {}`)",
                dir.display(),
                dir.display()
            )));
        }
        let fresh = Vae::new(&model_config, &device);
        let model = crate::error::without_panics(|| {
            fresh.try_load_file(&weights).map_err(|e| e.to_string())
        })
        .map_err(|e| {
            Error::file(
                &weights,
                format!("cannot load weights ({e}); the file is corrupt or from another model"),
            )
        })?;
        Ok(Run {
            dir: dir.to_path_buf(),
            config,
            model_config,
            model,
            device,
        })
    }

    /// The run's test split (the same data it was trained on); the training split is not read.
    pub fn test_data(&self) -> Result<data::Dataset> {
        let spec = self.config.data_spec();
        let mut test = data::load_test(&spec)?;
        let m = &self.model_config;
        if (test.height, test.width, test.channels) != (m.height, m.width, m.image_channels) {
            return Err(Error::Data(format!(
                "the data in {} has {}x{}x{} images but this model was trained on {}x{}x{}",
                data::describe_source(&spec)?,
                test.height,
                test.width,
                test.channels,
                m.height,
                m.width,
                m.image_channels
            )));
        }
        crate::train::prepare_test_set(&mut test, &self.config);
        Ok(test)
    }

    /// Path of a file inside the run folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Writes the model shape beside the weights.
pub fn write_model_config(dir: &Path, model: &ModelConfig) -> Result<()> {
    let text = toml::to_string_pretty(&ModelFile {
        model: model.clone(),
    })
    .expect("a ModelConfig always serialises");
    crate::fsutil::write_atomic(&dir.join(MODEL_CONFIG_FILE), text.as_bytes())
}

/// Reads the model shape saved beside the weights.
pub fn read_model_config(dir: &Path) -> Result<ModelConfig> {
    let path = dir.join(MODEL_CONFIG_FILE);
    let text = std::fs::read_to_string(&path).ctx(|| format!("cannot read {}", path.display()))?;
    let file: ModelFile = toml::from_str(&text).map_err(|e| {
        Error::file(
            &path,
            format!("invalid model config: {}", e.message().replace('\n', " ")),
        )
    })?;
    file.model.validate()?;
    Ok(file.model)
}

//! The settings of a training run. What a `--config run.toml` file, the flags or a run folder's
//! `config.toml` give is a [`PartialConfig`] (any key may be missing); layered and resolved, it
//! is a [`TrainConfig`], in which every value is known. [`settings`] declares each setting once,
//! with its default.

mod partial;
pub mod settings;

pub use partial::PartialConfig;

use crate::data::prepare::{ConditionSource, Preparation};
use crate::data::{
    self, Binarize, Color, DataSpec, DataSplits, Dataset, DatasetKind, MAX_CONDITION_ATTRIBUTES,
};
use crate::error::{Error, Result};
use crate::model::loss::{Objective, Reconstruction};
use crate::model::{Arch, ConditionKind, Conditioning, ModelConfig, Prior};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Every setting of a training run, resolved: what training reads and the run folder's
/// `config.toml` holds. Made by [`PartialConfig::resolve`] or [`TrainConfig::for_arch`]; the
/// `Option`s are settings that may be absent (no limit, no early stopping), never defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    pub latent_dim: usize,
    pub hidden: Vec<usize>,
    /// The conv architectures' channels (unused by mlp).
    pub channels: Vec<usize>,
    pub autoencoder: bool,
    /// A conditional VAE: encoder and decoder also read the image's class, one-hot (or the
    /// attributes of `condition_attributes`, multi-hot).
    pub conditional: bool,
    /// Condition on these columns of the `attributes` table instead of the class (folder data
    /// sets).
    pub condition_attributes: Vec<String>,
    /// The attribute table (CelebA's `list_attr_celeba.txt` or a CSV) of
    /// `condition_attributes`.
    pub attributes: Option<PathBuf>,
    pub loss: Reconstruction,
    /// What training minimises: the beta-VAE loss or the IWAE bound.
    pub objective: Objective,
    /// Importance samples per image of the IWAE objective (its K).
    pub k: Option<usize>,
    /// The prior p(z): N(0, I) or the VampPrior.
    pub prior: Prior,
    /// The VampPrior's number of learned pseudo-inputs.
    pub pseudo_inputs: Option<usize>,
    pub binarize: Binarize,
    pub beta: f64,
    /// Epochs over which beta rises linearly from 0 (0 = no warm-up).
    pub kl_warmup_epochs: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// The learning rate is multiplied by this after every epoch ([`TrainConfig::lr_at`]).
    pub lr_decay: f64,
    /// Images per optimiser step.
    pub batch_size: usize,
    pub epochs: usize,
    pub seed: u64,
    /// Train on the first N training images only.
    pub limit: Option<usize>,
    /// Hold out the last N training images as a validation set (0 = none), before `limit`;
    /// its loss is measured after every epoch.
    pub validation: usize,
    /// Early stopping: end the run when the validation ELBO (an IWAE run's bound) has not improved for this many
    /// epochs; the run's weights are those of the best epoch. Needs `validation`.
    pub patience: Option<usize>,
    pub device: String,
    /// Clip the joint norm of all gradients to this value (PyTorch's `clip_grad_norm_`).
    pub grad_clip: Option<f64>,
    /// What to do when the loss or a gradient stops being finite.
    pub on_nan: OnNan,
}

/// Reaction to a non-finite loss or gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnNan {
    /// Stop with a message; the last good checkpoint stays.
    Stop,
    /// Go back to the last good checkpoint, divide the learning rate by 10 and go on (3 times at
    /// most).
    Rollback,
}

impl TrainConfig {
    /// The defaults of `arch`, as a run with no other setting given resolves them.
    pub fn for_arch(arch: Arch) -> TrainConfig {
        let mut given = PartialConfig::default();
        given.set("arch", arch.name());
        given
            .resolve("the defaults")
            .expect("the declared defaults resolve (tests/library/settings.rs)")
    }

    /// Reads a run's `config.toml` (or any config file), filling what it lacks with the defaults.
    pub fn from_file(path: &Path) -> Result<Self> {
        PartialConfig::read(path)?.resolve_file(path)
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

    /// Rejects impossible hyperparameters with the fix.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        for (flag, path) in [("--data", &self.data), ("--attributes", &self.attributes)] {
            if let Some(path) = path
                && path.to_str().is_none()
            {
                return Err(not_utf8(flag, path));
            }
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return bad(format!(
                "beta must be a finite number >= 0 (got {}); beta = 1 is the VAE, < 1 favours reconstruction, > 1 structure",
                self.beta
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!(
                "learning rate must be > 0 (got {}; try --lr 1e-3)",
                self.lr
            ));
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return bad(format!(
                "--lr-decay must be in (0, 1] (got {}); 1 keeps the rate, 0.995 divides it by about 150 over 1,000 epochs",
                self.lr_decay
            ));
        }
        if self.batch_size == 0 {
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
        if self.patience == Some(0) {
            return bad("--patience must be at least 1 epoch (try --patience 10)".into());
        }
        if self.patience.is_some() && self.validation == 0 {
            return bad(
                "--patience stops on the validation ELBO, so it needs a validation set: add --validation 10000".into(),
            );
        }
        if self.patience.is_some() && (self.autoencoder || !self.loss.has_likelihood_form()) {
            return bad(
                "--patience watches the validation ELBO, which a plain autoencoder or --loss mse does not have".into(),
            );
        }
        if self.autoencoder && (self.beta != 1.0 || self.kl_warmup_epochs != 0) {
            return bad(
                "a plain autoencoder has no KL term, so --beta and --kl-warmup-epochs do not apply; drop them or drop --autoencoder".into(),
            );
        }
        if self.pseudo_inputs == Some(0) {
            return bad("--pseudo-inputs must be at least 1 (try --pseudo-inputs 500)".into());
        }
        if let Some(why) = self.objective_conflict() {
            return bad(why);
        }
        if self.conditional && self.autoencoder {
            return bad(
                "--conditional makes a conditional VAE, which a plain autoencoder is not; drop one of them".into(),
            );
        }
        if !self.condition_attributes.is_empty() {
            if !self.conditional {
                return bad("--condition-attributes needs --conditional".into());
            }
            if self.attributes.is_none() || self.dataset != DatasetKind::Folder {
                return bad(
                    "--condition-attributes reads an attribute table of image files: add --attributes FILE and --dataset folder --data DIR".into(),
                );
            }
            if self.condition_attributes.len() > MAX_CONDITION_ATTRIBUTES {
                return bad(format!(
                    "--condition-attributes names {} attributes; at most {MAX_CONDITION_ATTRIBUTES} fit",
                    self.condition_attributes.len()
                ));
            }
        } else if self.attributes.is_some() {
            return bad(
                "--attributes is read for --condition-attributes only when training; name the attributes to condition on".into(),
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
            latent_dim: self.latent_dim,
            hidden: self.hidden.clone(),
            channels: self.channels.clone(),
            autoencoder: self.autoencoder,
            height,
            width,
            image_channels,
            conditioning: None,
            prior: self.prior,
            pseudo_inputs: self.pseudo_inputs.unwrap_or(0),
        }
    }

    /// A conditional run's condition: the data set's classes, one-hot, or the chosen
    /// attributes, multi-hot. `None` for the other runs.
    pub fn conditioning(&self, class_names: &[String]) -> Option<Conditioning> {
        if !self.conditional {
            return None;
        }
        Some(if self.condition_attributes.is_empty() {
            Conditioning {
                kind: ConditionKind::Class,
                names: class_names.to_vec(),
            }
        } else {
            Conditioning {
                kind: ConditionKind::Attributes,
                names: self.condition_attributes.clone(),
            }
        })
    }

    /// How the run prepares its data: validation set, limit, binarization, conditions.
    pub fn preparation(&self) -> Preparation {
        Preparation {
            validation: self.validation,
            limit: self.limit,
            binarize: self.binarize,
            conditions: self.conditional.then(|| match &self.attributes {
                None => ConditionSource::Classes,
                Some(table) => ConditionSource::Attributes {
                    table: table.clone(),
                    names: self.condition_attributes.clone(),
                },
            }),
        }
    }

    /// Loads the configured data set, prepared as the run says ([`data::prepare::load`]).
    pub fn load_data(&self) -> Result<DataSplits> {
        data::prepare::load(&self.data_spec(), &self.preparation())
    }

    /// Prepares a test set as the run's own ([`data::prepare::prepare_test_set`]).
    pub fn prepare_test_set(&self, test: &mut Dataset) -> Result<()> {
        data::prepare::prepare_test_set(&self.data_spec(), &self.preparation(), test)
    }

    /// True when the model's loss is a normalised negative log-likelihood of the data it sees:
    /// Bernoulli on binary pixels (binarized, or binary by nature as `shapes` and dSprites), or
    /// the continuous Bernoulli. Then its ELBO and IWAE figures bound `log p(x)` in nats; a
    /// Bernoulli on grey levels bounds no density.
    pub fn is_density(&self) -> bool {
        match self.loss {
            Reconstruction::Bce => self.binarize != Binarize::None || self.dataset.is_binary(),
            Reconstruction::Cb => true,
            Reconstruction::Mse => false,
        }
    }

    /// The settings that define what a run computes; `--resume` must keep them. Epochs, device,
    /// data folder (and attribute table), learning rate and its decay, clipping, the NaN policy and the patience
    /// may change when a run continues (they read as 0 or none here).
    pub fn identity(&self) -> TrainConfig {
        TrainConfig {
            epochs: 0,
            device: String::new(),
            data: None,
            cache_mb: 0,
            lr: 0.0,
            lr_decay: 1.0,
            grad_clip: None,
            on_nan: OnNan::Stop,
            patience: None,
            attributes: None,
            ..self.clone()
        }
    }

    /// Why the objective settings cannot train, if they cannot.
    fn objective_conflict(&self) -> Option<String> {
        let refuse = |why: &str| Some(why.to_string());
        match (self.objective, self.k) {
            (Objective::Elbo, None) => None,
            (Objective::Elbo, Some(_)) => refuse(
                "--k is the number of importance samples of --objective iwae; add --objective iwae or drop --k",
            ),
            (Objective::Iwae, None) => {
                refuse("--objective iwae needs its number of samples per image: add --k 5")
            }
            (Objective::Iwae, Some(0)) => refuse("--k must be at least 1 sample per image"),
            (Objective::Iwae, Some(_)) if self.autoencoder => refuse(
                "--objective iwae weighs samples of q(z|x), which a plain autoencoder does not have; drop one of them",
            ),
            (Objective::Iwae, Some(_)) if !self.loss.has_likelihood_form() => {
                refuse("--objective iwae needs a likelihood: use --loss bce or cb, not mse")
            }
            (Objective::Iwae, Some(_)) if self.beta != 1.0 || self.kl_warmup_epochs != 0 => refuse(
                "--objective iwae bounds log p(x), which has no beta: drop --beta and --kl-warmup-epochs, or use --objective elbo",
            ),
            (Objective::Iwae, Some(_)) => None,
        }
    }

    /// The learning rate of `epoch` (1-based) for a run whose rate starts at `lr`: decayed by
    /// `lr_decay` after every epoch. A function of the epoch alone, so a resumed run goes on
    /// with the rate it would have had.
    pub fn lr_at(&self, lr: f64, epoch: usize) -> f64 {
        lr * self.lr_decay.powi(epoch.saturating_sub(1) as i32)
    }

    /// Samples of z per image a training step draws: K for the IWAE objective, else 1.
    pub fn samples(&self) -> usize {
        match self.objective {
            Objective::Elbo => 1,
            Objective::Iwae => self.k.unwrap_or(1),
        }
    }

    /// The name a run gets when no folder is given: `<dataset>-<arch>-<vae|ae>`.
    pub fn run_name(&self) -> String {
        format!(
            "{}-{}-{}",
            self.dataset.name(),
            self.arch.name(),
            if self.autoencoder { "ae" } else { "vae" }
        )
    }

    /// The TOML text saved in a run folder; [`TrainConfig::validate`] names the settings that
    /// TOML cannot hold (paths that are not UTF-8).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self)
            .map_err(|e| Error::Config(format!("the settings do not serialise to TOML: {e}")))
    }
}

/// The error for a path given with `flag` that is not UTF-8: the run's config.toml holds the
/// paths, and TOML holds UTF-8 text only.
pub fn not_utf8(flag: &str, path: &Path) -> Error {
    Error::Config(format!(
        "{flag} {} is not valid UTF-8, which the run's config.toml cannot hold; rename it, or link to it from a name of plain characters",
        path.display()
    ))
}

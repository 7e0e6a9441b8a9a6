//! The two-stage VAE of Dai & Wipf (ICLR 2019): a trained VAE's codes do not fill N(0, I)
//! evenly (the aggregate posterior has holes and dense spots), so decoding z ~ N(0, I) lands
//! in places no training image occupies. A second, small VAE learns the distribution of the
//! codes z ~ q(z|x) of the training images, with its own latent u ~ N(0, I) and a Gaussian
//! likelihood whose variance gamma it learns; sampling goes u ~ N(0, I) -> z = its decoder's
//! mean -> the first VAE's decoder.
//!
//! The second stage reuses the dense [`MlpEncoder`]/[`MlpDecoder`] and the [`Posterior`] of
//! the first (codes are its "pixels"), and is saved beside the run as `second_stage.bpk`, with
//! its settings and the hashes that tie it to its weights in `second_stage.toml`.

use crate::data::{Binarize, Inputs, binarize_in_place};
use crate::device::{conditions_to_device, seeded, to_device, to_host};
use crate::error::{Error, IoContext, Result};
use crate::model::arch::mlp::{MlpDecoder, MlpEncoder};
use crate::model::arch::{DecoderModule, EncoderModule};
use crate::model::{Arch, ModelConfig, Prior};
use crate::optim;
use crate::rng::{normal_noise, rng, stream};
use crate::run::Run;
use burn::module::{Module, Param};
use burn::prelude::*;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The second stage's weights and settings in a run folder.
pub const WEIGHTS_FILE: &str = "second_stage.bpk";
pub const SETTINGS_FILE: &str = "second_stage.toml";

/// log gamma at the start of fitting: gamma = 0.05. Started at gamma = 1 (the spread of the
/// codes themselves) the second stage settles at once in the collapsed optimum that outputs the
/// mean code whatever u is: measured on the 10-epoch MLP VAE of docs/quality.md, its samples
/// then scored recall 0.006 and FD 60 after 20 epochs, against 0.62 and 28 from this start
/// (0.83 and 20 after 5 epochs).
pub const INITIAL_LOG_GAMMA: f32 = -3.0;

/// Passes over the codes. Measured on that run (docs/quality.md), longer fits drift back
/// toward the collapsed optimum: FD 20.3, 22.1 and 27.9 and recall 0.83, 0.80 and 0.62 after
/// 5, 10 and 20 epochs.
pub const DEFAULT_EPOCHS: usize = 5;

/// How the second stage is shaped and fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecondStageConfig {
    /// Hidden layers of its encoder (the decoder mirrors them).
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
    /// Training images whose codes it fits (the first N of the run's training split; `None`:
    /// all).
    pub limit: Option<usize>,
    /// Its mean -ELBO per code in the last epoch (nats; written after fitting).
    pub final_loss: Option<f64>,
    /// SHA-256 of the run's `model.bpk` it was fitted on ([`weights_digest`] of the weights
    /// loaded for the fit; written after fitting): once the run's weights change (`vae train
    /// --resume`) its codes are another encoder's, and it is refused ([`load`]).
    pub fitted_on: Option<String>,
    /// SHA-256 of `second_stage.bpk` as written with these settings (written after fitting):
    /// the two files are written one after the other, so weights of another fit beside them
    /// (a fit cut short between the two, or a copied file) are refused ([`load`]).
    pub weights_sha256: Option<String>,
}

impl Default for SecondStageConfig {
    fn default() -> Self {
        SecondStageConfig {
            hidden: vec![256, 256],
            epochs: DEFAULT_EPOCHS,
            batch_size: 128,
            lr: 1e-3,
            seed: 0,
            limit: None,
            final_loss: None,
            fitted_on: None,
            weights_sha256: None,
        }
    }
}

impl SecondStageConfig {
    fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 || self.hidden.contains(&0) {
            return Err(Error::Config(
                "the second stage needs at least 1 epoch, a batch of at least 1 and no empty hidden layer".into(),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::Config(format!(
                "learning rate must be > 0 (got {})",
                self.lr
            )));
        }
        Ok(())
    }

    /// The dense model shape: the first stage's codes in, as many latents.
    fn model_config(&self, latent_dim: usize) -> ModelConfig {
        ModelConfig {
            arch: Arch::Mlp,
            latent_dim,
            hidden: self.hidden.clone(),
            channels: Vec::new(),
            autoencoder: false,
            height: latent_dim,
            width: 1,
            image_channels: 1,
            conditioning: None,
            prior: Prior::Standard,
            pseudo_inputs: 0,
        }
    }
}

/// A VAE over the first stage's codes z: q(u|z), and p(z|u) = N(decoder(u), gamma I).
#[derive(Module, Debug)]
pub struct SecondStage {
    pub encoder: MlpEncoder,
    pub decoder: MlpDecoder,
    /// log gamma, the variance of p(z|u), learned (Dai & Wipf: it falls as the fit tightens).
    /// It starts at [`INITIAL_LOG_GAMMA`].
    pub log_gamma: Param<Tensor<1>>,
}

impl SecondStage {
    fn new(config: &SecondStageConfig, latent_dim: usize, device: &Device) -> Self {
        let shape = config.model_config(latent_dim);
        SecondStage {
            encoder: MlpEncoder::new(&shape, device),
            decoder: MlpDecoder::new(&shape, device),
            log_gamma: Param::from_tensor(Tensor::full([1], INITIAL_LOG_GAMMA, device)),
        }
    }

    /// -ELBO per code, `[batch]`: the Gaussian negative log-likelihood of z under
    /// N(decoder(u), gamma I) with u ~ q(u|z) drawn from `eps`, plus KL(q(u|z) || N(0, I)).
    pub fn loss(&self, z: Tensor<2>, eps: Tensor<2>) -> Tensor<1> {
        let dims = z.dims()[1] as f32;
        let posterior = self.encoder.forward(z.clone(), None);
        let z_hat = self.decoder.forward(posterior.sample(eps), None);
        let log_gamma = self.log_gamma.val().reshape([1, 1]);
        let squared = (z - z_hat).square().sum_dim(1);
        let nll = (squared.div(log_gamma.clone().exp().mul_scalar(2.0))
            + log_gamma.mul_scalar(0.5 * dims))
        .add_scalar(0.5 * dims * (2.0 * std::f32::consts::PI).ln());
        nll.squeeze_dim(1) + posterior.kl()
    }

    /// Codes z drawn through the second stage: u ~ N(0, I) from `eps`, decoded to its mean.
    pub fn sample(&self, eps: Tensor<2>) -> Tensor<2> {
        self.decoder.forward(eps, None)
    }
}

/// Fits a second stage to `run`'s codes: every epoch each training image is encoded by the
/// first stage and one z ~ q(z|x) drawn (batch by batch, so memory is that of a batch), and
/// the second stage takes an Adam step on those codes. Saves it in the run folder, weights
/// then settings, each written whole or not at all.
pub fn fit(run: &Run, config: &SecondStageConfig) -> Result<(SecondStage, SecondStageConfig)> {
    config.validate()?;
    if !run.model.is_vae() {
        return Err(Error::Config(
            "a plain autoencoder has no posterior to sample codes from; a second stage needs a VAE run".into(),
        ));
    }
    let fitted_on = weights_digest(run)?;
    let mut train = run.config.load_data()?.train;
    if let Some(n) = config.limit {
        train.truncate(n);
    }
    if train.is_empty() {
        return Err(Error::Data(
            "no training images to fit the second stage on".into(),
        ));
    }
    let latent = run.model_config.latent_dim;
    let pixels = train.pixels();
    let ad = run.device.clone().autodiff();
    let mut model = seeded(&ad, config.seed, || SecondStage::new(config, latent, &ad));
    let mut optimizer = optim::adam();
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut last = 0.0;
    for epoch in 0..config.epochs {
        order.shuffle(&mut rng(config.seed, stream::SECOND_STAGE + epoch as u64));
        let mut noise = rng(config.seed, stream::SECOND_STAGE_NOISE + epoch as u64);
        let mut sum = 0.0;
        for batch in order.chunks(config.batch_size) {
            let n = batch.len();
            let Inputs {
                pixels: mut images,
                conditions,
            } = train.inputs(batch)?;
            // The codes of the images the first stage was trained on: binary ones for a
            // dynamically binarized run (fixed binarization is already in the data).
            if run.config.binarize == Binarize::Dynamic {
                binarize_in_place(&mut images, &mut noise);
            }
            let x = to_device(images, n, pixels, &run.device);
            let y = conditions_to_device(conditions, n, &run.device);
            let posterior = run.model.encode(x, y);
            let eps = to_device(normal_noise(&mut noise, n * latent), n, latent, &run.device);
            let z = to_device(to_host(posterior.sample(eps))?, n, latent, &ad);
            let eps_u = to_device(normal_noise(&mut noise, n * latent), n, latent, &ad);
            let loss = model.loss(z, eps_u).mean();
            let stepped;
            (model, stepped) = optim::minimise(&mut optimizer, config.lr, model, loss)?.map_err(
                |(_, broke)| {
                    Error::Numerical(format!(
                        "the second stage diverged in epoch {}: {broke}; lower --lr",
                        epoch + 1
                    ))
                },
            )?;
            sum += stepped.values[0] as f64 * n as f64;
        }
        last = sum / train.len() as f64;
    }
    let model = model.valid();
    let weights = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| Error::Config(format!("cannot serialise the second stage: {e}")))?;
    let saved = SecondStageConfig {
        final_loss: Some(last),
        fitted_on: Some(fitted_on),
        weights_sha256: Some(hex_sha256(&weights)),
        ..config.clone()
    };
    let text = toml::to_string_pretty(&saved).expect("the settings serialise");
    crate::fsutil::write_atomic(&run.path(WEIGHTS_FILE), &weights)?;
    crate::fsutil::write_atomic(&run.path(SETTINGS_FILE), text.as_bytes())?;
    Ok((model, saved))
}

/// SHA-256 of `bytes`, in hex.
fn hex_sha256(bytes: &[u8]) -> String {
    crate::data::fetch::hex(&Sha256::digest(bytes))
}

/// SHA-256, in hex, of `run`'s weights as loaded, serialised as `model.bpk` is (the same bytes
/// as the file they came from): what a second stage records it was fitted on. The weights in
/// memory, not the file: a run that trains on while its second stage is fitted must not have
/// the second stage recorded as fitted on its new weights.
pub fn weights_digest(run: &Run) -> Result<String> {
    let bytes = run
        .model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| Error::Config(format!("cannot serialise the run's weights: {e}")))?;
    Ok(hex_sha256(&bytes))
}

/// The settings of the second stage saved in `run`'s folder, `None` when it has none.
fn saved_settings(run: &Run) -> Result<Option<SecondStageConfig>> {
    let (weights, settings) = (run.path(WEIGHTS_FILE), run.path(SETTINGS_FILE));
    if !weights.is_file() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&settings).ctx(|| format!("cannot read {}", settings.display()))?;
    let config = toml::from_str(&text).map_err(|e| {
        Error::file(
            &settings,
            format!("invalid settings: {}", e.message().replace('\n', " ")),
        )
    })?;
    Ok(Some(config))
}

/// True when `run`'s folder holds a second stage that was not fitted on the weights `run`
/// loaded (or does not say which it was fitted on): [`load`] refuses it.
pub fn is_stale(run: &Run) -> Result<bool> {
    Ok(match saved_settings(run)? {
        Some(config) => config.fitted_on != Some(weights_digest(run)?),
        None => false,
    })
}

/// The second stage saved in `run`'s folder, or `None` when it has none. One fitted on other
/// weights than the run's `model.bpk` holds now (the run trained on since) is refused in one
/// line: its codes are those of another encoder, so it would be scored against, and decoded
/// by, a decoder that never saw them.
pub fn load(run: &Run) -> Result<Option<SecondStage>> {
    let Some(config) = saved_settings(run)? else {
        return Ok(None);
    };
    if is_stale(run)? {
        return Err(Error::Config(format!(
            "{} was fitted on other weights than the run's {} holds now (the run trained on since, or the second stage predates this check); fit it again with `vae two-stage {}`",
            run.path(WEIGHTS_FILE).display(),
            crate::run::MODEL_FILE,
            run.dir.display()
        )));
    }
    let weights = run.path(WEIGHTS_FILE);
    let fresh = SecondStage::new(&config, run.model_config.latent_dim, &run.device);
    let bytes = crate::run::read_weights(&weights, &fresh)?;
    if config
        .weights_sha256
        .as_ref()
        .is_some_and(|expected| *expected != hex_sha256(&bytes))
    {
        return Err(Error::Config(format!(
            "{} does not match the {SETTINGS_FILE} beside it (the weights of another fit: one cut short, or a copied file); fit it again with `vae two-stage {}`",
            weights.display(),
            run.dir.display()
        )));
    }
    let model = crate::run::weights_from_bytes(fresh, bytes).map_err(|e| {
        Error::file(
            &weights,
            format!("cannot load the second stage ({e}); fit it again with `vae two-stage`"),
        )
    })?;
    Ok(Some(model))
}

/// The second stage for the commands that sample without one as well (the explorer, sample
/// quality): `Ok(None)` when the run has none, and `Err` with a one-line warning when it has
/// one that [`load`] refuses (fitted on earlier weights, say), which they then leave out and
/// go on with the prior's samples alone.
pub fn load_if_usable(run: &Run) -> std::result::Result<Option<SecondStage>, String> {
    load(run).map_err(|e| {
        format!("the second stage is left out (samples come from the prior alone): {e}")
    })
}

/// Draws `n` codes z through the second stage: u ~ N(0, I) (from `noise`), z its decoder's
/// mean; `latent_dim` values per code.
pub fn sample_codes(
    run: &Run,
    stage: &SecondStage,
    n: usize,
    noise: &mut rand_chacha::ChaCha8Rng,
) -> Result<Vec<f32>> {
    let latent = run.model_config.latent_dim;
    let u = to_device(normal_noise(noise, n * latent), n, latent, &run.device);
    to_host(stage.sample(u))
}

/// Draws `n` images through both stages ([`sample_codes`], then the run's decoder: mean pixels),
/// with a conditional run's conditions (one row, or one per image; see [`Run::decode`]): the
/// codes of a conditional run carry style, not class, so one second stage serves every class.
pub fn sample_images(
    run: &Run,
    stage: &SecondStage,
    n: usize,
    noise: &mut rand_chacha::ChaCha8Rng,
    conditions: Option<&[f32]>,
) -> Result<Vec<f32>> {
    run.decode(sample_codes(run, stage, n, noise)?, conditions)
}

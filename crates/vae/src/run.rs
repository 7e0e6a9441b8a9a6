//! A run folder: `config.toml` (every setting of the run), `model.toml` and `model.bpk` (shape
//! and weights), the checkpoint, `metrics.jsonl`, `eval.json`, pictures and `report.html`. A
//! [`Run`] is such a folder loaded back: its settings, its model on a device, and what the
//! commands ask of it (its test images, encoding them, decoding latents to images).

use crate::config::TrainConfig;
use crate::data;
use crate::device::{narrow_rows, to_device};
use crate::error::{Error, IoContext, Result};
use crate::latent::{self, Latents};
use crate::model::loss::mean_pixels;
use crate::model::{ConditionKind, Conditioning, ModelConfig, Vae, memory};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File names inside a run folder.
pub const CONFIG_FILE: &str = "config.toml";
pub const MODEL_FILE: &str = "model.bpk";
pub const CHECKPOINT_FILE: &str = "checkpoint.bin";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const EVAL_FILE: &str = "eval.json";
/// `vae eval --split validation`'s report.
pub const EVAL_VALIDATION_FILE: &str = "eval-validation.json";

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
        crate::model::memory::Footprint::of(&model_config).check_inference()?;
        let fresh = Vae::new(&model_config, &device);
        let bytes = read_weights(&weights, &fresh)?;
        let model = weights_from_bytes(fresh, bytes).map_err(|e| {
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

    /// The validation split the run held out, prepared as in training (binarized once).
    pub fn validation_data(&self) -> Result<data::Dataset> {
        self.config
            .load_data()?
            .validation
            .ok_or_else(no_validation_set)
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
        self.config.prepare_test_set(&mut test)?;
        if let Some(c) = &self.model_config.conditioning
            && test.class_names != c.names
            && c.kind == ConditionKind::Class
        {
            return Err(Error::Data(format!(
                "the data in {} has the classes {} but this conditional model knows {}",
                data::describe_source(&spec)?,
                test.class_names.join(", "),
                c.names.join(", ")
            )));
        }
        Ok(test)
    }

    /// The posterior of every image of `data` (with its condition, for a conditional run).
    pub fn encode(&self, data: &data::Dataset) -> Result<Latents> {
        latent::encode(&self.model, data, &self.device)
    }

    /// The posterior of `images` (the model's pixels each, concatenated), with a conditional
    /// run's conditions ([`Run::conditions_for`]).
    pub fn encode_images(&self, images: &[f32], conditions: Option<&[f32]>) -> Result<Latents> {
        let pixels = self.model_config.pixels();
        let inputs = data::Inputs {
            pixels: images.to_vec(),
            conditions: self.conditions_for(images.len() / pixels.max(1), conditions)?,
        };
        latent::encode_inputs(&self.model, &inputs, pixels, &self.device)
    }

    /// A conditional run's condition, `None` for the others.
    pub fn conditioning(&self) -> Option<&Conditioning> {
        self.model_config.conditioning.as_ref()
    }

    /// A conditional run's condition, or an error saying how to train one.
    pub fn require_conditioning(&self) -> Result<&Conditioning> {
        self.conditioning().ok_or_else(|| {
            Error::Config(format!(
                "--class needs a conditional run, and {} is not one; train one with `vae train --conditional`",
                self.dir.display()
            ))
        })
    }

    /// The condition y that `--class CHOICE` names (a class, by name or number, or a set of
    /// attributes): an error for a conditional run without a choice, and for a choice on a run
    /// that is not conditional.
    pub fn condition_of(&self, choice: Option<&str>) -> Result<Option<Vec<f32>>> {
        match (self.conditioning(), choice) {
            (None, None) => Ok(None),
            (Some(c), Some(choice)) => c.condition_of(choice).map(Some),
            (None, Some(_)) => self.require_conditioning().map(|_| None),
            (Some(c), None) => Err(Error::Config(format!(
                "{} is a conditional run: choose what to draw with --class (one of {}, or all)",
                self.dir.display(),
                c.names.join(", ")
            ))),
        }
    }

    /// Conditions for `rows` latents or images: one row each, or one row for all of them;
    /// checked against the run (a conditional run needs them, the others take none).
    pub fn conditions_for(
        &self,
        rows: usize,
        conditions: Option<&[f32]>,
    ) -> Result<Option<Vec<f32>>> {
        let dim = self.model_config.condition_dim();
        match conditions {
            None if dim == 0 => Ok(None),
            None => self.condition_of(None),
            Some(_) if dim == 0 => self.require_conditioning().map(|_| None),
            Some(y) if y.len() == dim => Ok(Some(y.repeat(rows))),
            Some(y) if y.len() == rows * dim => Ok(Some(y.to_vec())),
            Some(y) => Err(Error::Config(format!(
                "{} condition values for {rows} rows of a model whose condition has {dim}",
                y.len()
            ))),
        }
    }

    /// The images (mean pixel values under the run's likelihood) that latents `z` decode to,
    /// `latent_dim` values per latent, given a conditional run's conditions (one row, or one
    /// per latent), in bounded passes ([`Vae::rows_per_pass`]) over the CPU's shards: the one
    /// decode of the pictures, the explorer and the arithmetic.
    pub fn decode(&self, z: Vec<f32>, conditions: Option<&[f32]>) -> Result<Vec<f32>> {
        let latent = self.model_config.latent_dim;
        if z.is_empty() || !z.len().is_multiple_of(latent) {
            return Err(Error::Config(format!(
                "z has {} values, which is not a whole number of {latent}-dimensional latents",
                z.len()
            )));
        }
        let rows = z.len() / latent;
        self.check_images(
            rows,
            &format!("decoding {rows} latents"),
            "decode fewer at a time",
        )?;
        let conditions = self.conditions_for(rows, conditions)?;
        let dim = self.model_config.condition_dim();
        let per_pass = self.model.rows_per_pass(latent::ENCODE_BATCH);
        let mut pixels = Vec::with_capacity(rows * self.model_config.pixels());
        for (k, chunk) in z.chunks(latent * per_pass).enumerate() {
            crate::interrupt::check()?;
            let n = chunk.len() / latent;
            let z = to_device(chunk.to_vec(), n, latent, &self.device);
            let y = conditions.as_ref().map(|y| {
                let start = k * per_pass * dim;
                to_device(y[start..start + n * dim].to_vec(), n, dim, &self.device)
            });
            let parts = crate::parallel::over_rows(&self.device, n, |rows| {
                let logits = self.model.decode(
                    z.clone().narrow(0, rows.start, rows.len()),
                    narrow_rows(&y, &rows),
                );
                mean_pixels(self.config.loss, logits)
            })?;
            for part in parts {
                pixels.extend(part?);
            }
        }
        Ok(pixels)
    }

    /// Refuses `n` images of this run (their pixels and the latents they are decoded from)
    /// when they cannot fit in the memory available ([`memory::check_size`]): `doing` says what
    /// makes them ("sampling 100 images"), `fix` how to ask for fewer.
    pub fn check_images(&self, n: usize, doing: &str, fix: &str) -> Result<()> {
        let m = &self.model_config;
        let floats = (m.pixels() + m.latent_dim) as f64;
        memory::check_size(
            &format!(
                "{doing} ({}x{}x{} pixels each)",
                m.image_channels, m.height, m.width
            ),
            n as f64 * floats * 4.0,
            fix,
        )
    }

    /// Each latent of `z` decoded with every class (or attribute choice) of a conditional run
    /// in turn ([`Conditioning::every_choice`]), latent by latent: the "same z, every class"
    /// strip of the report and the explorer.
    pub fn decode_every_class(&self, z: &[f32]) -> Result<Vec<f32>> {
        let choices = self.require_conditioning()?.every_choice();
        let latent = self.model_config.latent_dim;
        let mut zs = Vec::with_capacity(z.len() * choices.len());
        let mut ys = Vec::new();
        for row in z.chunks(latent) {
            for (_, y) in &choices {
                zs.extend_from_slice(row);
                ys.extend_from_slice(y);
            }
        }
        self.decode(zs, Some(&ys))
    }

    /// Path of a file inside the run folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Writes the run's settings.
pub fn write_config(dir: &Path, config: &TrainConfig) -> Result<()> {
    crate::fsutil::write_atomic(&dir.join(CONFIG_FILE), config.to_toml()?.as_bytes())
}

/// Writes inference weights (no autodiff state); Burn's burnpack writer is atomic itself
/// (temporary file beside the destination, flushed, renamed).
pub fn write_weights(dir: &Path, model: &Vae) -> Result<()> {
    let path = dir.join(MODEL_FILE);
    model
        .valid()
        .into_record()
        .save(&path)
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))
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

/// The error of an evaluation of the validation split of a run that held none out.
pub(crate) fn no_validation_set() -> Error {
    Error::Config(
        "this run held out no validation set; evaluate --split test, or train with --validation 10000".into(),
    )
}

/// The bytes of the weights file `path` of a module shaped as `fresh`, read whole: Burn's file
/// loader reads each tensor from the path when it is first used, so a file replaced meanwhile
/// (`vae train --resume` under the explorer) would change the weights under their user, or mix
/// two files. A file far larger than those weights is refused before it is read.
pub(crate) fn read_weights<M: burn::module::Module>(path: &Path, fresh: &M) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .ctx(|| format!("cannot read {}", path.display()))?
        .len();
    // The floats, and room for the names and shapes beside them.
    let most = 8 * fresh.num_params() as u64 + (16 << 20);
    if size > most {
        return Err(Error::file(
            path,
            format!(
                "holds {size} bytes, more than weights of this model can take ({} floats); the file is corrupt or from another model",
                fresh.num_params()
            ),
        ));
    }
    std::fs::read(path).ctx(|| format!("cannot read {}", path.display()))
}

/// `fresh` with the weights of a weights file's `bytes` ([`read_weights`]); the error says what
/// did not match.
pub(crate) fn weights_from_bytes<M: burn::module::Module>(
    fresh: M,
    bytes: Vec<u8>,
) -> std::result::Result<M, String> {
    crate::error::without_panics(move || {
        let record =
            ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| e.to_string())?;
        fresh.try_load_record(record).map_err(|e| e.to_string())
    })
}

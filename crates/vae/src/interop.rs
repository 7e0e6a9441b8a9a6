//! Weights in and out of `vae`: safetensors files with PyTorch's names and layouts, and the
//! state dict of the pytorch/examples VAE.
//!
//! Tensor names are the model's own field paths without Burn's enum variant names (see
//! [`tensor_names`] and docs/interop.md), and dense weights are stored `[out, in]` as PyTorch
//! stores them, so `torch.nn.Linear` loads them as they are. The model shape travels in the
//! file's metadata under [`MODEL_KEY`] and the run's settings under [`TRAIN_KEY`].

use crate::config::{PartialConfig, TrainConfig};
use crate::error::{Error, IoContext, Result, without_panics};
use crate::model::{Arch, ModelConfig, Prior, Vae};
use crate::run::{self, CONFIG_FILE};
use burn::prelude::*;
use burn::store::{
    ApplyResult, BurnToPyTorchAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter,
    PytorchStore, SafetensorsStore,
};
use std::path::Path;

/// Metadata key holding the model shape as JSON.
pub const MODEL_KEY: &str = "vae.model";
/// Metadata key holding the run's training settings as TOML.
pub const TRAIN_KEY: &str = "vae.train";

/// The safetensors bytes of `model` with PyTorch's names and layouts and `metadata`.
fn safetensors_bytes(model: &Vae, metadata: Vec<(&str, String)>) -> Result<Vec<u8>> {
    let mut store = SafetensorsStore::from_bytes(None)
        .skip_enum_variants(true)
        .with_to_adapter(BurnToPyTorchAdapter);
    for (key, value) in metadata {
        store = store.metadata(key, value);
    }
    model
        .save_into(&mut store)
        .map_err(|e| Error::Config(format!("cannot collect the model's tensors: {e}")))?;
    store
        .get_bytes()
        .map_err(|e| Error::Config(format!("cannot serialise the model: {e}")))
}

/// The model's tensors by their exported names, with their shapes as stored (PyTorch layout).
pub fn tensor_names(model: &Vae) -> Result<Vec<(String, Vec<usize>)>> {
    let bytes = safetensors_bytes(model, Vec::new())?;
    let tensors = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::Config(format!("cannot read back the model's tensors: {e}")))?;
    let mut names: Vec<(String, Vec<usize>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    names.sort();
    Ok(names)
}

/// Writes `model` (with its shape and, when known, its run settings) as a safetensors file,
/// through a temporary file so that an existing file is replaced whole or not at all.
pub fn export_safetensors(
    model: &Vae,
    model_config: &ModelConfig,
    train_config: Option<&TrainConfig>,
    path: &Path,
) -> Result<()> {
    let model_json = serde_json::to_string(model_config).expect("a ModelConfig serialises");
    let mut metadata = vec![(MODEL_KEY, model_json)];
    if let Some(c) = train_config {
        metadata.push((TRAIN_KEY, c.to_toml()?));
    }
    crate::fsutil::write_atomic(path, &safetensors_bytes(model, metadata)?)
}

/// A model read from a file, with what the file says about it.
#[derive(Debug)]
pub struct Imported {
    pub model_config: ModelConfig,
    /// The run settings stored with the weights (none given when the file has none).
    pub train_config: PartialConfig,
    pub model: Vae,
}

/// One line naming what did not match between a file and the model.
fn mismatch(result: &ApplyResult) -> Option<String> {
    let mut parts = Vec::new();
    if !result.missing.is_empty() {
        let names: Vec<&str> = result.missing.iter().map(|(n, _)| n.as_str()).collect();
        parts.push(format!("missing {}", names.join(", ")));
    }
    if !result.unused.is_empty() {
        parts.push(format!("unexpected {}", result.unused.join(", ")));
    }
    if !result.errors.is_empty() {
        let errors: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
        parts.push(errors.join("; "));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Loads the tensors of `store` into `model`; every tensor must find its place and every
/// weight a tensor, else one line naming the misfits (`what` says what the file should be).
fn load_all<S: ModuleStore>(model: &mut Vae, store: &mut S, path: &Path, what: &str) -> Result<()>
where
    S::Error: std::fmt::Display,
{
    let result = without_panics(|| model.load_from(store).map_err(|e| e.to_string()))
        .map_err(|e| Error::file(path, format!("cannot load the tensors ({e})")))?;
    match mismatch(&result) {
        Some(m) => Err(Error::file(path, format!("{what}: {m}"))),
        None => Ok(()),
    }
}

/// Reads a safetensors file written by [`export_safetensors`] (or by PyTorch with the same
/// names and a [`MODEL_KEY`] entry).
pub fn import_safetensors(path: &Path, device: &Device) -> Result<Imported> {
    let bytes = std::fs::read(path).ctx(|| format!("cannot read {}", path.display()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| {
        Error::file(
            path,
            format!("not a safetensors file ({e}); export one with `vae export`"),
        )
    })?;
    let meta = header.metadata().clone().unwrap_or_default();
    let model_config: ModelConfig = meta
        .get(MODEL_KEY)
        .ok_or_else(|| {
            Error::file(
                path,
                format!("has no {MODEL_KEY:?} metadata, so the model shape is unknown; files from `vae export` carry it (a pytorch/examples state dict imports with `vae import --pytorch`)"),
            )
        })
        .and_then(|json| {
            serde_json::from_str(json)
                .map_err(|e| Error::file(path, format!("bad {MODEL_KEY:?} metadata: {e}")))
        })?;
    model_config.validate()?;
    crate::model::memory::Footprint::of(&model_config).check_inference()?;
    let train_config = match meta.get(TRAIN_KEY) {
        None => PartialConfig::default(),
        Some(text) => {
            let bad = |e: String| Error::file(path, format!("bad {TRAIN_KEY:?} metadata: {e}"));
            let given = toml::from_str::<toml::Table>(text)
                .map(PartialConfig::from_table)
                .map_err(|e| bad(e.to_string()))?;
            given
                .clone()
                .resolve("the file's settings")
                .map_err(|e| bad(e.to_string()))?;
            given
        }
    };
    let mut model = Vae::new(&model_config, device);
    let mut store = SafetensorsStore::from_bytes(Some(bytes))
        .skip_enum_variants(true)
        .with_from_adapter(PyTorchToBurnAdapter);
    load_all(
        &mut model,
        &mut store,
        path,
        "tensors do not fit the model in its metadata",
    )?;
    Ok(Imported {
        model_config,
        train_config,
        model,
    })
}

/// The names of the pytorch/examples VAE (`fc1`, `fc21`, `fc22`, `fc3`, `fc4`) as our MLP's.
const PYTORCH_EXAMPLES_NAMES: [(&str, &str); 5] = [
    (r"^fc1\.", "encoder.hidden.0."),
    (r"^fc21\.", "encoder.z_mean."),
    (r"^fc22\.", "encoder.z_log_var."),
    (r"^fc3\.", "decoder.hidden.0."),
    (r"^fc4\.", "decoder.output."),
];

/// Reads the state dict of the pytorch/examples `vae/main.py` model (a `.pt` file from
/// `torch.save(model.state_dict(), ...)`): 784-400-20 by default, other sizes read from the
/// tensors. Its decoder ends in a sigmoid, ours in logits with the sigmoid in the loss, so the
/// two compute the same probabilities.
pub fn import_pytorch_examples(path: &Path, device: &Device) -> Result<Imported> {
    if !path.is_file() {
        return Err(Error::Config(format!(
            "{} does not exist; pass the .pt file saved with torch.save(model.state_dict(), PATH)",
            path.display()
        )));
    }
    let mut store = PytorchStore::from_file(path);
    for (from, to) in PYTORCH_EXAMPLES_NAMES {
        store = store.with_key_remapping(from, to);
    }
    let shapes = without_panics(|| {
        store
            .get_all_tensors()
            .map(|t| {
                t.iter()
                    .map(|(n, t)| (n.clone(), t.shape.to_vec()))
                    .collect::<Vec<_>>()
            })
            .map_err(|e| e.to_string())
    })
    .map_err(|e| {
        Error::file(
            path,
            format!("not a readable PyTorch state dict ({e}); save it with torch.save(model.state_dict(), PATH)"),
        )
    })?;
    let shape = |name: &str| -> Result<Vec<usize>> {
        shapes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| {
                Error::file(
                    path,
                    format!("has no {name} (expected fc1, fc21, fc22, fc3 and fc4 of pytorch/examples vae/main.py)"),
                )
            })
    };
    // PyTorch's Linear weights are [out, in].
    let fc1 = shape("encoder.hidden.0.weight")?;
    let fc21 = shape("encoder.z_mean.weight")?;
    let (Some(&hidden), Some(&pixels), Some(&latent)) = (fc1.first(), fc1.get(1), fc21.first())
    else {
        return Err(Error::file(path, "fc1 and fc21 weights must be matrices"));
    };
    let side = (pixels as f64).sqrt().round() as usize;
    if side * side != pixels {
        return Err(Error::file(
            path,
            format!("fc1 takes {pixels} inputs, not a square image"),
        ));
    }
    let model_config = ModelConfig {
        arch: Arch::Mlp,
        latent_dim: latent,
        hidden: vec![hidden],
        channels: Arch::Mlp.defaults().channels,
        autoencoder: false,
        height: side,
        width: side,
        image_channels: 1,
        conditioning: None,
        prior: Prior::Standard,
        pseudo_inputs: 0,
    };
    model_config.validate()?;
    crate::model::memory::Footprint::of(&model_config).check_inference()?;
    let mut model = Vae::new(&model_config, device);
    load_all(
        &mut model,
        &mut store,
        path,
        "does not match the pytorch/examples VAE",
    )?;
    Ok(Imported {
        model_config,
        train_config: PartialConfig::default(),
        model,
    })
}

/// Writes an imported model as a run folder (settings, shape, weights) that every command
/// reads: `given` settings (the file's, then flags), under the model's own shape. `out` must
/// not hold a run already.
pub fn write_run(out: &Path, imported: &Imported, given: PartialConfig) -> Result<()> {
    if out.join(CONFIG_FILE).exists() {
        return Err(Error::Config(format!(
            "{} already holds a run; import into a new folder",
            out.display()
        )));
    }
    let m = &imported.model_config;
    let mut shape = PartialConfig::default();
    shape.set("arch", m.arch.name());
    shape.set("latent_dim", m.latent_dim as i64);
    shape.set(
        "hidden",
        m.hidden.iter().map(|&h| h as i64).collect::<Vec<_>>(),
    );
    shape.set(
        "channels",
        m.channels.iter().map(|&c| c as i64).collect::<Vec<_>>(),
    );
    shape.set("autoencoder", m.autoencoder);
    let mut config = given.over(shape).resolve("the imported settings")?;
    config.epochs = config.epochs.max(1);
    config.validate()?;
    crate::fsutil::create_dir(out)?;
    run::write_model_config(out, m)?;
    run::write_weights(out, &imported.model)?;
    run::write_config(out, &config)
}

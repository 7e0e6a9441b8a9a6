//! Checkpoints: model weights, Adam state and the number of finished epochs in one file,
//! written atomically so a crash mid-write leaves the previous checkpoint intact.
//!
//! Layout: `VAECKPT1`, then three little-endian u64 (epochs done, model bytes, optimiser bytes),
//! then the two burnpack blobs. A custom container because the two Burn records must travel
//! together and Burn has no multi-record file.

use crate::error::{Error, IoContext, Result};
use crate::model::Vae;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use std::path::Path;

const MAGIC: &[u8; 8] = b"VAECKPT1";
const HEADER: usize = 8 + 3 * 8;

/// Saves the training state after `epochs_done` epochs.
pub fn save(
    path: &Path,
    epochs_done: usize,
    model: &Vae,
    optimizer: &ModuleOptimizer,
) -> Result<()> {
    let model_bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| Error::Config(format!("cannot serialise the model: {e}")))?;
    let optim_bytes = optimizer
        .into_bytes()
        .map_err(|e| Error::Config(format!("cannot serialise the optimiser: {e}")))?;
    let mut out = Vec::with_capacity(HEADER + model_bytes.len() + optim_bytes.len());
    out.extend_from_slice(MAGIC);
    for n in [epochs_done, model_bytes.len(), optim_bytes.len()] {
        out.extend_from_slice(&(n as u64).to_le_bytes());
    }
    out.extend_from_slice(&model_bytes);
    out.extend_from_slice(&optim_bytes);
    crate::fsutil::write_atomic(path, &out)
}

/// Restores model and optimiser from a checkpoint; returns the number of epochs done.
pub fn load(
    path: &Path,
    model: Vae,
    optimizer: ModuleOptimizer,
) -> Result<(usize, Vae, ModuleOptimizer)> {
    let bytes = std::fs::read(path).ctx(|| format!("cannot read checkpoint {}", path.display()))?;
    decode(&bytes, model, optimizer).map_err(|what| {
        Error::file(
            path,
            format!("corrupt checkpoint ({what}); delete it to start over, or restore a copy"),
        )
    })
}

/// Restores model and optimiser from checkpoint bytes; the error says what is wrong.
pub fn decode(
    bytes: &[u8],
    model: Vae,
    optimizer: ModuleOptimizer,
) -> std::result::Result<(usize, Vae, ModuleOptimizer), String> {
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err("bad header".into());
    }
    let field = |i: usize| {
        let start = 8 + 8 * i;
        u64::from_le_bytes(bytes[start..start + 8].try_into().expect("8 bytes"))
    };
    let (epochs_done, model_len, optim_len) = (field(0), field(1), field(2));
    let expected = (HEADER as u64)
        .checked_add(model_len)
        .and_then(|n| n.checked_add(optim_len));
    if expected != Some(bytes.len() as u64) {
        return Err("length mismatch, the file is truncated".into());
    }
    let model_len = model_len as usize;
    let model_part = bytes[HEADER..HEADER + model_len].to_vec();
    let optim_part = bytes[HEADER + model_len..].to_vec();
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(model_part))
        .map_err(|e| format!("model record: {e}"))?;
    let model = model
        .try_load_record(record)
        .map_err(|e| format!("model does not match the run's config: {e}"))?;
    let optimizer = optimizer
        .from_bytes(Bytes::from_bytes_vec(optim_part))
        .map_err(|e| format!("optimiser record: {e}"))?;
    Ok((epochs_done as usize, model, optimizer))
}

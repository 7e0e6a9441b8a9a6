//! Checkpoints: model weights, Adam state and the number of finished epochs in one file,
//! written atomically so a crash mid-write leaves the previous checkpoint intact.
//!
//! Layout: `VAECKPT2`, three little-endian u64 (epochs done, model bytes, optimiser bytes), the
//! SHA-256 of the two burnpack blobs that follow, then the blobs. A custom container because the
//! two Burn records must travel together and Burn has no multi-record file; the checksum catches
//! damage before Burn's parsers see it.

use crate::error::{Error, IoContext, Result, without_panics};
use crate::model::Vae;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use sha2::{Digest, Sha256};
use std::path::Path;

const MAGIC: &[u8; 8] = b"VAECKPT2";
const HEADER: usize = 8 + 3 * 8 + 32;

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
    crate::fsutil::write_atomic(path, &encode(epochs_done, &model_bytes, &optim_bytes))
}

/// The checkpoint container around two serialised records.
pub fn encode(epochs_done: usize, model: &[u8], optimizer: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + model.len() + optimizer.len());
    out.extend_from_slice(MAGIC);
    for n in [epochs_done, model.len(), optimizer.len()] {
        out.extend_from_slice(&(n as u64).to_le_bytes());
    }
    out.extend_from_slice(
        &Sha256::new()
            .chain_update(model)
            .chain_update(optimizer)
            .finalize(),
    );
    out.extend_from_slice(model);
    out.extend_from_slice(optimizer);
    out
}

/// Restores model and optimiser from a checkpoint; returns the number of epochs done.
pub fn load(
    path: &Path,
    model: Vae,
    optimizer: ModuleOptimizer,
) -> Result<(usize, Vae, ModuleOptimizer)> {
    let bytes = std::fs::read(path).ctx(|| format!("cannot read checkpoint {}", path.display()))?;
    decode_from(path, &bytes, model, optimizer)
}

/// [`decode`] of the bytes of the checkpoint file `path` (read here, or by another MPI rank),
/// with the error that names the file.
pub fn decode_from(
    path: &Path,
    bytes: &[u8],
    model: Vae,
    optimizer: ModuleOptimizer,
) -> Result<(usize, Vae, ModuleOptimizer)> {
    decode(bytes, model, optimizer).map_err(|what| {
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
    if Sha256::digest(&bytes[HEADER..])[..] != bytes[HEADER - 32..HEADER] {
        return Err("checksum mismatch, the file is damaged".into());
    }
    let model_len = model_len as usize;
    let model_part = bytes[HEADER..HEADER + model_len].to_vec();
    let optim_part = bytes[HEADER + model_len..].to_vec();
    without_panics(move || {
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(model_part))
            .map_err(|e| format!("model record: {e}"))?;
        let model = model
            .try_load_record(record)
            .map_err(|e| format!("model does not match the run's config: {e}"))?;
        let optimizer = optimizer
            .from_bytes(Bytes::from_bytes_vec(optim_part))
            .map_err(|e| format!("optimiser record: {e}"))?;
        Ok((epochs_done as usize, model, optimizer))
    })
}

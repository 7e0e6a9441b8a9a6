//! `metrics.jsonl`: one JSON object per finished epoch.

use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The numbers of one epoch; losses are per image (nats for likelihood losses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_recon: f64,
    pub train_kl: f64,
    pub train_total: f64,
    pub test_recon: f64,
    pub test_kl: f64,
    pub test_total: f64,
    /// Wall-clock seconds of the training pass (evaluation excluded).
    pub seconds: f64,
    pub eval_seconds: f64,
    pub images_per_second: f64,
    /// Mean over steps of the joint gradient norm (before clipping).
    pub grad_norm: f64,
    /// Learning rate of the epoch.
    pub lr: f64,
}

impl EpochMetrics {
    /// One human line for the terminal.
    pub fn summary(&self, epochs: usize) -> String {
        format!(
            "epoch {}/{epochs}  train {:.2} (recon {:.2}, kl {:.2})  test {:.2} (recon {:.2}, kl {:.2})  {:.1} s, {:.0} img/s",
            self.epoch,
            self.train_total,
            self.train_recon,
            self.train_kl,
            self.test_total,
            self.test_recon,
            self.test_kl,
            self.seconds,
            self.images_per_second
        )
    }
}

/// Reads all epochs of a metrics file (empty if it does not exist).
pub fn read(path: &Path) -> Result<Vec<EpochMetrics>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).ctx(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| Error::file(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

/// Rewrites the metrics file atomically with `epochs`.
pub fn write(path: &Path, epochs: &[EpochMetrics]) -> Result<()> {
    let mut text = String::new();
    for m in epochs {
        text.push_str(&serde_json::to_string(m).expect("metrics serialise"));
        text.push('\n');
    }
    crate::fsutil::write_atomic(path, text.as_bytes())
}

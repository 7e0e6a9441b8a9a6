//! `metrics.jsonl`: one JSON object per finished epoch.

use crate::error::{Error, IoContext, Result};
use crate::model::loss::Loss;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The numbers of one epoch; losses are per image (nats for likelihood losses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "MetricsLine", into = "MetricsLine")]
pub struct EpochMetrics {
    pub epoch: usize,
    /// Mean over the epoch's steps, each with the beta in force at that step.
    pub train: Loss,
    /// The beta in force at the epoch's last step: below the run's beta during KL warm-up,
    /// when it rose over the epoch's steps. `None` in files of older versions.
    pub train_beta: Option<f64>,
    /// K, when the run minimised the IWAE bound of K samples (`--objective iwae`): `train`'s
    /// total is then minus that bound, and its recon and KL the means over the K samples.
    pub train_samples: Option<usize>,
    /// After the epoch, one sample per test image from a fixed stream.
    pub test: Loss,
    /// The beta of `test`'s total: always the run's beta, so that epochs compare.
    pub test_beta: Option<f64>,
    /// The validation set's loss with beta 1 (`total` is minus the validation ELBO; for an IWAE
    /// run minus the validation bound of its K samples), when the run holds one out; early
    /// stopping watches it.
    pub valid: Option<Loss>,
    /// Wall-clock seconds of the training pass (evaluation excluded).
    pub seconds: f64,
    pub eval_seconds: f64,
    pub images_per_second: f64,
    /// Mean over steps of the joint gradient norm (before clipping).
    pub grad_norm: f64,
    /// Learning rate of the epoch.
    pub lr: f64,
}

/// The flat layout of a `metrics.jsonl` line (`train_recon`, `test_total`, ...).
#[derive(Serialize, Deserialize)]
struct MetricsLine {
    epoch: usize,
    train_recon: f64,
    train_kl: f64,
    train_total: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    train_beta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    train_samples: Option<usize>,
    test_recon: f64,
    test_kl: f64,
    test_total: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    test_beta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_recon: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_kl: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid_total: Option<f64>,
    seconds: f64,
    eval_seconds: f64,
    images_per_second: f64,
    grad_norm: f64,
    lr: f64,
}

impl From<MetricsLine> for EpochMetrics {
    fn from(l: MetricsLine) -> Self {
        EpochMetrics {
            epoch: l.epoch,
            train: Loss {
                recon: l.train_recon,
                kl: l.train_kl,
                total: l.train_total,
            },
            train_beta: l.train_beta,
            train_samples: l.train_samples,
            test: Loss {
                recon: l.test_recon,
                kl: l.test_kl,
                total: l.test_total,
            },
            test_beta: l.test_beta,
            valid: match (l.valid_recon, l.valid_kl, l.valid_total) {
                (Some(recon), Some(kl), Some(total)) => Some(Loss { recon, kl, total }),
                _ => None,
            },
            seconds: l.seconds,
            eval_seconds: l.eval_seconds,
            images_per_second: l.images_per_second,
            grad_norm: l.grad_norm,
            lr: l.lr,
        }
    }
}

impl From<EpochMetrics> for MetricsLine {
    fn from(m: EpochMetrics) -> Self {
        MetricsLine {
            epoch: m.epoch,
            train_recon: m.train.recon,
            train_kl: m.train.kl,
            train_total: m.train.total,
            train_beta: m.train_beta,
            train_samples: m.train_samples,
            test_recon: m.test.recon,
            test_kl: m.test.kl,
            test_total: m.test.total,
            test_beta: m.test_beta,
            valid_recon: m.valid.map(|v| v.recon),
            valid_kl: m.valid.map(|v| v.kl),
            valid_total: m.valid.map(|v| v.total),
            seconds: m.seconds,
            eval_seconds: m.eval_seconds,
            images_per_second: m.images_per_second,
            grad_norm: m.grad_norm,
            lr: m.lr,
        }
    }
}

impl EpochMetrics {
    /// One human line for the terminal; the beta of the training total is shown while it
    /// differs from the test total's (KL warm-up).
    pub fn summary(&self, epochs: usize) -> String {
        let (train, test) = (&self.train, &self.test);
        let warmup = match (self.train_beta, self.test_beta) {
            (Some(b), Some(t)) if b != t => format!(" at beta {b:.3}"),
            _ => String::new(),
        };
        let objective = self
            .train_samples
            .map(|k| format!(" -IWAE({k})"))
            .unwrap_or_default();
        let valid = self
            .valid
            .map(|v| match self.train_samples {
                Some(_) => format!("  valid{objective} {:.2}", v.total),
                None => format!("  valid -ELBO {:.2}", v.total),
            })
            .unwrap_or_default();
        format!(
            "epoch {}/{epochs}  train{objective} {:.2}{warmup} (recon {:.2}, kl {:.2})  test {:.2} (recon {:.2}, kl {:.2}){valid}  {:.1} s, {:.0} img/s",
            self.epoch,
            train.total,
            train.recon,
            train.kl,
            test.total,
            test.recon,
            test.kl,
            self.seconds,
            self.images_per_second
        )
    }

    /// The first of the epoch's losses that is not a finite number, by name: such an epoch
    /// diverged, and it is never saved (JSON has no NaN: it would be written as `null`).
    pub fn non_finite_loss(&self) -> Option<&'static str> {
        let losses = [
            ("training loss", Some(self.train)),
            ("test loss", Some(self.test)),
            ("validation loss", self.valid),
        ];
        losses.into_iter().find_map(|(name, loss)| {
            let loss = loss?;
            (![loss.recon, loss.kl, loss.total]
                .iter()
                .all(|v| v.is_finite()))
            .then_some(name)
        })
    }

    /// The epoch of the lowest validation loss in `history` (the earliest on a tie), the one
    /// whose weights an early-stopped run keeps. A loss that is not a finite number is never
    /// the lowest.
    pub fn best_epoch(history: &[EpochMetrics]) -> Option<usize> {
        history
            .iter()
            .filter_map(|m| Some((m.epoch, m.valid?.total)))
            .filter(|(_, v)| v.is_finite())
            .fold(None, |best: Option<(usize, f64)>, (e, v)| match best {
                Some((_, b)) if b <= v => best,
                _ => Some((e, v)),
            })
            .map(|(e, _)| e)
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

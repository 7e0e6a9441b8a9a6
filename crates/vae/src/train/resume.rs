//! Going on from a checkpoint: `--resume`, and `--on-nan rollback` after a divergence. Rank 0
//! reads the checkpoint and hands it to every rank; a rollback lowers the learning rate and
//! writes it into the run's `config.toml`, so that a resumed run keeps it.

use super::epoch::Divergence;
use super::metrics::{self, EpochMetrics};
use super::{MAX_ROLLBACKS, checkpoint, fresh};
use crate::config::{OnNan, TrainConfig};
use crate::distributed::World;
use crate::error::{Error, IoContext, Result};
use crate::model::{ModelConfig, Vae};
use crate::run::{self, CHECKPOINT_FILE, METRICS_FILE};
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use std::path::Path;

/// The last checkpoint of `run_dir`, from rank 0 to every rank: the weights and Adam state to
/// go on from, and the epochs it holds (0 and fresh weights without one). Rank 0 also reads
/// back the metrics of those epochs into `history`.
pub(super) fn restore(
    config: &TrainConfig,
    model_config: &ModelConfig,
    ad_device: &Device,
    run_dir: &Path,
    world: &World,
    history: &mut Vec<EpochMetrics>,
) -> Result<(Vae, ModuleOptimizer, usize)> {
    let checkpoint_path = run_dir.join(CHECKPOINT_FILE);
    let (model, optimizer) = fresh(config, model_config, ad_device);
    let saved = world.agree(if world.is_root() && checkpoint_path.is_file() {
        std::fs::read(&checkpoint_path)
            .ctx(|| format!("cannot read checkpoint {}", checkpoint_path.display()))
    } else {
        Ok(Vec::new())
    })?;
    let saved = world.broadcast(world.is_root().then_some(saved));
    if saved.is_empty() {
        history.clear();
        return Ok((model, optimizer, 0));
    }
    let (done, model, optimizer) = world.agree(checkpoint::decode_from(
        &checkpoint_path,
        &saved,
        model,
        optimizer,
    ))?;
    if world.is_root() {
        let mut saved = metrics::read(&run_dir.join(METRICS_FILE))?;
        saved.retain(|m| m.epoch <= done);
        *history = saved;
    }
    Ok((model, optimizer, done))
}

/// The learning rate, lowered by each rollback.
pub(super) struct Rollbacks {
    pub lr: f64,
    pub done: usize,
}

impl Rollbacks {
    pub fn new(lr: f64) -> Self {
        Rollbacks { lr, done: 0 }
    }

    /// After `divergence` (`last_good` epochs done): the error that ends the run (`--on-nan
    /// stop`, or no rollback left), or the line saying the run rolls back, with the learning
    /// rate divided by 10 and saved (rank 0).
    pub fn after(
        &mut self,
        divergence: &Divergence,
        last_good: usize,
        config: &TrainConfig,
        run_dir: &Path,
        world: &World,
    ) -> Result<String> {
        let message = diverged(run_dir, divergence, last_good, config, self.lr);
        if config.on_nan == OnNan::Stop || self.done == MAX_ROLLBACKS {
            return Err(if world.is_root() {
                Error::Numerical(message)
            } else {
                Error::Stopped
            });
        }
        self.done += 1;
        self.lr /= 10.0;
        if world.is_root() {
            let lowered = TrainConfig {
                lr: self.lr,
                ..config.clone()
            };
            run::write_config(run_dir, &lowered)?;
        }
        Ok(format!(
            "{message}\nrolling back to epoch {last_good} with learning rate {} (rollback {} of {MAX_ROLLBACKS})",
            rate_in_force(config, self.lr, last_good + 1),
            self.done
        ))
    }
}

/// The learning rate of `epoch` for a run whose base rate is `lr`, as messages give it: with
/// `--lr-decay`, the rate in force and where it comes from.
fn rate_in_force(config: &TrainConfig, lr: f64, epoch: usize) -> String {
    let in_force = config.lr_at(lr, epoch);
    if in_force == lr {
        format!("{lr}")
    } else {
        let epochs = epoch - 1;
        format!(
            "{in_force} (the base rate {lr} after {epochs} epoch{} of --lr-decay {})",
            if epochs == 1 { "" } else { "s" },
            config.lr_decay
        )
    }
}

fn diverged(
    run_dir: &Path,
    d: &Divergence,
    last_good: usize,
    config: &TrainConfig,
    lr: f64,
) -> String {
    let kept = if last_good > 0 {
        format!(
            "the checkpoint of epoch {last_good} in {} is kept",
            run_dir.display()
        )
    } else {
        "no epoch had finished, so there is no checkpoint".to_string()
    };
    format!(
        "training diverged: {} at epoch {}, step {}; {kept}; lower --lr (the learning rate was {}), add --grad-clip, or pass --on-nan rollback",
        d.what,
        d.epoch,
        d.step,
        rate_in_force(config, lr, d.epoch)
    )
}

//! Early stopping (`--patience`): the run ends when the validation ELBO (an IWAE run's: its
//! bound) has not improved for that many epochs, and keeps the best epoch's weights.

use super::metrics::EpochMetrics;
use crate::config::TrainConfig;
use crate::distributed::World;
use crate::run;
use std::path::Path;

/// With `--patience`: the best epoch when the validation ELBO has not improved for `patience`
/// epochs after it, so the run is over. Rank 0 alone keeps the metrics, so it decides for all.
pub(super) fn should_stop(
    config: &TrainConfig,
    history: &[EpochMetrics],
    done: usize,
    world: &World,
) -> Option<usize> {
    let patience = config.patience?;
    let best = EpochMetrics::best_epoch(history).filter(|&best| done >= best + patience);
    if world.size == 1 {
        return best;
    }
    let sent = world
        .is_root()
        .then(|| best.map_or(u64::MAX, |b| b as u64).to_le_bytes().to_vec());
    let got = world.broadcast(sent);
    let best = u64::from_le_bytes(got.try_into().unwrap_or([u8::MAX; 8]));
    (best != u64::MAX).then_some(best as usize)
}

/// The line that says why the run stopped early.
pub(super) fn message(run_dir: &Path, done: usize, best: usize) -> String {
    format!(
        "early stop after epoch {done}: the validation loss has not improved for {} epochs; {} holds the weights of epoch {best}",
        done - best,
        run_dir.join(run::MODEL_FILE).display()
    )
}

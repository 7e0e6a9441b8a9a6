//! The end of an epoch: its test and validation losses measured, and the epoch checked before
//! anything of it is saved.

use super::epoch::{Divergence, EpochSums, Setup};
use super::metrics::EpochMetrics;
use crate::error::Result;
use crate::eval;
use crate::model::Vae;
use crate::model::loss::Objective;
use burn::prelude::*;
use std::time::Instant;

/// The end of an epoch, checked before anything of it is saved: the epoch's metrics (rank 0;
/// `None` on the others), or the divergence that its last step caused. A step's own loss and
/// gradients are checked when they are read, but the update it makes shows only in the weights and in
/// the losses measured after it; without this a step that diverged last in its epoch (always,
/// with one step per epoch) would be saved as good, and rollback would restore it.
pub(super) fn check_epoch(
    setup: &Setup,
    splits: &crate::data::DataSplits,
    epoch: usize,
    model: &Vae,
    sums: &EpochSums,
    lr: f64,
) -> Result<std::result::Result<Option<EpochMetrics>, Divergence>> {
    let world = setup.world;
    // Rank 0 decides (it alone measures the test loss) and tells the others.
    let mut record = None;
    let mut what = String::new();
    if world.is_root() {
        if !weights_are_finite(model)? {
            what = "the weights became NaN or infinite".into();
        } else {
            let measured = finish_epoch(setup, splits, epoch, model, sums, lr)?;
            if let Some(loss) = measured.non_finite_loss() {
                what = format!("the {loss} became NaN or infinite");
            }
            record = Some(measured);
        }
    }
    let what = world.broadcast(world.is_root().then(|| what.into_bytes()));
    if what.is_empty() {
        return Ok(Ok(record));
    }
    Ok(Err(Divergence {
        epoch,
        step: sums.steps,
        what: String::from_utf8_lossy(&what).into_owned(),
    }))
}

/// True when every weight of `model` is finite, in one read: `0 * w` is 0 for every finite
/// weight and NaN for NaN and the infinities.
fn weights_are_finite(model: &Vae) -> Result<bool> {
    struct ZeroTimes(Vec<Tensor<1>>);
    impl burn::module::ModuleVisitor for ZeroTimes {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            self.0.push(param.val().mul_scalar(0.0).sum());
        }
    }
    let mut sums = ZeroTimes(Vec::new());
    model.visit(&mut sums);
    if sums.0.is_empty() {
        return Ok(true);
    }
    Ok(crate::device::to_host(Tensor::cat(sums.0, 0))?
        .iter()
        .all(|v| v.is_finite()))
}

/// Test (and validation) loss and the metrics line of a finished epoch. The test loss weighs
/// the KL with the run's beta (not the warm-up's), so epochs compare; the validation loss with
/// beta 1, so that early stopping watches the ELBO (an IWAE run's: the bound of its K samples).
fn finish_epoch(
    setup: &Setup,
    splits: &crate::data::DataSplits,
    epoch: usize,
    model: &Vae,
    sums: &EpochSums,
    lr: f64,
) -> Result<EpochMetrics> {
    let config = setup.config;
    let started = Instant::now();
    let model = model.valid();
    let loss_on =
        |data, beta| eval::test_loss(&model, data, config.loss, beta, &setup.device, config.seed);
    let test = loss_on(&splits.test, config.beta)?;
    let valid = match &splits.validation {
        Some(v) => {
            let mut loss = loss_on(v, 1.0)?;
            if config.objective == Objective::Iwae {
                // Early stopping watches what the run minimises: the bound of its K samples.
                let k = config.samples();
                loss.total =
                    eval::iwae::nll(&model, v, config.loss, k, &setup.device, config.seed)?;
            }
            Some(loss)
        }
        None => None,
    };
    let n = setup.train_set.len() as f64;
    Ok(EpochMetrics {
        epoch,
        train: sums.loss.map(|v| v / n),
        train_beta: Some(sums.beta),
        train_samples: (config.objective == Objective::Iwae).then(|| config.samples()),
        test,
        test_beta: Some(config.beta),
        valid,
        seconds: sums.seconds,
        eval_seconds: started.elapsed().as_secs_f64(),
        images_per_second: n / sums.seconds,
        grad_norm: sums.grad_norm / sums.steps.max(1) as f64,
        lr,
    })
}

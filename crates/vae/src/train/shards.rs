//! Data-parallel training on the CPU: each shard ([`crate::parallel::Shards`]) runs the
//! forward and backward pass of its part of the batch, and the gradients are summed.

use crate::error::{Error, Result};
use crate::model::Vae;
use crate::model::loss::{Objective, Reconstruction, training_loss};
use crate::parallel::Shards;
use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// Rows of a training batch on the device: images, a conditional run's conditions, and the
/// reparameterisation noise (`None` for a plain autoencoder; one row per image, as many samples
/// wide as the objective draws).
#[derive(Clone)]
pub struct Batch {
    pub x: Tensor<2>,
    pub condition: Option<Tensor<2>>,
    pub eps: Option<Tensor<2>>,
}

impl Batch {
    /// Rows `rows` of each part.
    fn narrow(&self, rows: std::ops::Range<usize>) -> Batch {
        let part = |t: &Tensor<2>| t.clone().narrow(0, rows.start, rows.len());
        Batch {
            x: part(&self.x),
            condition: self.condition.as_ref().map(part),
            eps: self.eps.as_ref().map(part),
        }
    }
}

/// Gradients of the batch-mean loss and the batch means of its parts (as `Loss::values`),
/// computed shard by shard in parallel, for the rows of `part`, of a batch of `batch` images (all
/// of it, or an MPI rank's share). Each shard sums its rows' losses over the whole batch's size
/// ([`training_loss`]), so the sums over shards and ranks are exactly the batch's mean loss and its
/// gradient. The shards meet at each batch norm ([`Shards::run_together`]); without shards the
/// rows are one part. A shard that panics makes it an error.
///
/// A part without rows is refused: its loss would be a mean over nothing, the conv stacks take
/// no empty batch, and its batch norms would not meet the other parts' in step. Every part has
/// rows by construction (shards split only the rows there are, and a run's ranks are checked
/// against its batches before the first step); this makes a break of that an error, not NaN.
pub fn gradients(
    shards: Option<&Shards>,
    model: &Vae,
    part: Batch,
    loss: (Reconstruction, Objective, f64),
    batch: usize,
) -> Result<(GradientsParams, Tensor<1>)> {
    let [rows, _] = part.x.dims();
    if rows == 0 {
        return Err(Error::Bug(format!(
            "a part of a batch of {batch} images has no rows; every shard and MPI rank needs at least one"
        )));
    }
    let Some(shards) = shards else {
        return Ok(shard_gradients(model, part, loss, batch));
    };
    let results = shards.run_together(rows, |rows| {
        shard_gradients(model, part.narrow(rows), loss, batch)
    })?;
    let mut results = results.into_iter();
    let (mut grads, mut losses) = results.next().expect("at least one shard");
    for (g, l) in results {
        super::gradients::add_into(model, &mut grads, g);
        losses = losses + l;
    }
    Ok((grads, losses))
}

fn shard_gradients(
    model: &Vae,
    Batch { x, condition, eps }: Batch,
    loss: (Reconstruction, Objective, f64),
    batch: usize,
) -> (GradientsParams, Tensor<1>) {
    // A copy whose weights are new leaves of the autodiff graph (same parameter ids), so the
    // shards' graphs stay apart and each backward pass sees only its own shard.
    let copy = model.clone().map(&mut NewLeaves);
    let loss = training_loss(&copy, x, condition, eps, loss, batch);
    let grads = GradientsParams::from_grads(loss.total.clone().backward(), &copy);
    (grads, loss.map(|v| v.inner()).values())
}

struct NewLeaves;

impl ModuleMapper for NewLeaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.detach().require_grad())
    }
}

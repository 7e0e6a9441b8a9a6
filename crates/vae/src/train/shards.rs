//! Data-parallel training on the CPU: each shard ([`crate::parallel::Shards`]) runs the
//! forward and backward pass of its part of the batch, and the gradients are summed. A
//! VampPrior's components, which every row is scored against, are computed once per step and
//! shared by the shards, and their gradient is taken back through the encoder once.

use crate::error::{Error, Result};
use crate::model::loss::{Objective, Reconstruction, training_loss};
use crate::model::{Components, Vae, VampPrior};
use crate::parallel::Shards;
use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use std::ops::Range;

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
        let pass = shard_gradients(model, None, part, loss, batch)?;
        return Ok((pass.grads, pass.losses));
    };
    let pseudo = match &model.prior {
        Some(vamp) => Some(PseudoInputs::encode(shards, model, vamp)?),
        None => None,
    };
    let components = pseudo.as_ref().map(|p| &p.components);
    let passes = shards.run_together(rows, |rows| {
        shard_gradients(model, components, part.narrow(rows), loss, batch)
    })?;
    let mut passes = passes.into_iter().collect::<Result<Vec<_>>>()?.into_iter();
    let first = passes.next().expect("at least one shard");
    let (mut grads, mut losses, mut components_grad) =
        (first.grads, first.losses, first.components_grad);
    for pass in passes {
        super::gradients::add_into(model, &mut grads, pass.grads);
        losses = losses + pass.losses;
        components_grad = match (components_grad, pass.components_grad) {
            (Some((m, v)), Some((dm, dv))) => Some((m + dm, v + dv)),
            (none, _) => none,
        };
    }
    if let (Some(pseudo), Some(upstream)) = (pseudo, components_grad) {
        for g in pseudo.gradients(shards, &upstream)? {
            super::gradients::add_into(model, &mut grads, g);
        }
    }
    Ok((grads, losses))
}

/// One shard's pass: the gradients of the model's weights, the loss parts, and with shared
/// VampPrior components, the gradients of their `z_mean` and `z_log_var`.
struct ShardPass {
    grads: GradientsParams,
    losses: Tensor<1>,
    components_grad: Option<(Tensor<2>, Tensor<2>)>,
}

/// One shard's forward and backward pass. With `shared` (a VampPrior's components, outside any
/// graph) the components enter this shard's graph as leaves, and their gradients come back;
/// without, a VampPrior's components are computed in the pass from the pseudo-inputs.
fn shard_gradients(
    model: &Vae,
    shared: Option<&(Tensor<2>, Tensor<2>)>,
    Batch { x, condition, eps }: Batch,
    loss: (Reconstruction, Objective, f64),
    batch: usize,
) -> Result<ShardPass> {
    // A copy whose weights are new leaves of the autodiff graph (same parameter ids), so the
    // shards' graphs stay apart and each backward pass sees only its own shard.
    let copy = model.clone().map(&mut NewLeaves);
    let leaves = shared.map(|(z_mean, z_log_var)| {
        let leaf = |t: &Tensor<2>| t.clone().autodiff().require_grad();
        (leaf(z_mean), leaf(z_log_var))
    });
    let components = match &leaves {
        Some((z_mean, z_log_var)) => Some(Components::new(z_mean.clone(), z_log_var.clone())),
        None => copy.prior_components(),
    };
    let loss = training_loss(&copy, components.as_ref(), x, condition, eps, loss, batch);
    let mut backward = loss.total.clone().backward();
    let components_grad = match leaves {
        Some((z_mean, z_log_var)) => {
            let missing = || Error::Bug("a VampPrior component got no gradient".into());
            Some((
                z_mean.grad_remove(&mut backward).ok_or_else(missing)?,
                z_log_var.grad_remove(&mut backward).ok_or_else(missing)?,
            ))
        }
        None => None,
    };
    Ok(ShardPass {
        grads: GradientsParams::from_grads(backward, &copy),
        losses: loss.map(|v| v.inner()).values(),
        components_grad,
    })
}

/// The VampPrior's components for one step, computed once for all shards (each would otherwise
/// encode every pseudo-input, forward and backward): the pseudo-inputs split between the
/// shards, each part encoded in a graph of its own that is kept until the components' gradient
/// is known ([`PseudoInputs::gradients`]).
struct PseudoInputs {
    /// Each shard's part: its rows, the model copy whose weights lead its graph, and the
    /// posteriors of its pseudo-inputs in that graph.
    parts: Vec<PseudoPart>,
    /// `z_mean` and `z_log_var` of all pseudo-inputs, outside any graph.
    components: (Tensor<2>, Tensor<2>),
}

struct PseudoPart {
    rows: Range<usize>,
    copy: Vae,
    z_mean: Tensor<2>,
    z_log_var: Tensor<2>,
}

impl PseudoInputs {
    fn encode(shards: &Shards, model: &Vae, vamp: &VampPrior) -> Result<Self> {
        let parts = shards.run(vamp.count(), |rows| {
            let copy = model.clone().map(&mut NewLeaves);
            let prior = copy.prior.as_ref().expect("the model's own VampPrior");
            let (z_mean, z_log_var) =
                prior.posteriors(rows.clone(), |u| copy.encoder.forward(u, None));
            PseudoPart {
                rows,
                copy,
                z_mean,
                z_log_var,
            }
        })?;
        let outside = |t: fn(&PseudoPart) -> &Tensor<2>| {
            Tensor::cat(parts.iter().map(|p| t(p).clone().inner()).collect(), 0)
        };
        let components = (outside(|p| &p.z_mean), outside(|p| &p.z_log_var));
        Ok(PseudoInputs { parts, components })
    }

    /// The gradients of the pseudo-inputs and the encoder's weights through the components,
    /// from the components' summed `upstream` gradients: each shard takes the gradient of
    /// `sum(z_mean * dz_mean) + sum(z_log_var * dz_log_var)` over its part's graph, which is
    /// the chain rule's product.
    fn gradients(
        self,
        shards: &Shards,
        (dz_mean, dz_log_var): &(Tensor<2>, Tensor<2>),
    ) -> Result<Vec<GradientsParams>> {
        let parts = &self.parts;
        let results = shards.run(self.components.0.dims()[0], |rows| {
            let Some(part) = parts.iter().find(|p| p.rows == rows) else {
                return Err(Error::Bug(format!(
                    "no pseudo-inputs were encoded for rows {rows:?}"
                )));
            };
            let cut = |t: &Tensor<2>| t.clone().narrow(0, rows.start, rows.len());
            let surrogate = (part.z_mean.clone() * cut(dz_mean)).sum()
                + (part.z_log_var.clone() * cut(dz_log_var)).sum();
            Ok(GradientsParams::from_grads(
                surrogate.backward(),
                &part.copy,
            ))
        })?;
        results.into_iter().collect()
    }
}

struct NewLeaves;

impl ModuleMapper for NewLeaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.detach().require_grad())
    }
}

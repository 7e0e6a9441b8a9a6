//! Batch norm over the whole batch when the batch is computed in parts (CPU shards, MPI ranks):
//! SyncBatchNorm. Each part sums its per-channel statistics, [`sum_over_batch`] adds the parts'
//! sums, and the backward pass adds the parts' gradients of those sums the same way, so every
//! part normalises, and differentiates, exactly as one pass over the whole batch would.
//!
//! Burn's `BatchNorm` module keeps the weights and running statistics (so saved runs keep
//! their layout) and runs inference; training runs [`batch_norm`] here. Burn has no
//! cross-thread or cross-process batch norm, and an op whose backward meets the other parts
//! needs a hand-written autodiff step: [`SyncBackend::sum_gradients_over_batch`].

use crate::batch_parts::{batch_is_split, is_first_part, sum_over_batch};
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::TensorData;

/// The identity forward, whose gradient is summed over every part of the batch.
#[backend_extension(Autodiff, Flex, Cube: cfg(any(feature = "cuda", feature = "wgpu")))]
pub trait SyncBackend: Backend {
    /// `x` as it is; its gradient becomes the sum of the gradients that every part of the
    /// batch computed for its own `x`.
    fn sum_gradients_over_batch(x: FloatTensor<Self>) -> FloatTensor<Self> {
        x
    }
}

impl SyncBackend for burn::backend::Flex {}

#[cfg(any(feature = "cuda", feature = "wgpu"))]
impl SyncBackend for burn::backend::Cube {}

impl<B: Backend + SyncBackend, C: CheckpointStrategy> SyncBackend for Autodiff<B, C> {
    fn sum_gradients_over_batch(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SumOverBatch;

        impl<B: Backend> Backward<B, 1> for SumOverBatch {
            type State = ();

            fn backward(self, ops: Ops<(), 1>, grads: &mut Gradients, _: &mut Checkpointer) {
                let [parent] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let Some(parent) = parent else { return };
                let device = grad.device();
                let shape = grad.shape();
                let data = burn::tensor::try_read_sync(B::float_into_data(grad))
                    .and_then(|r| r.ok())
                    .expect("a gradient of batch-norm statistics is readable");
                let values = data.try_to_vec::<f32>().expect("f32 statistics");
                let summed = TensorData::new(sum_over_batch(values), shape);
                grads.register::<B>(parent.id, B::float_from_data(summed, &device));
            }
        }

        SumOverBatch
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateless(x.into_primitive())
    }
}

/// `local` (per-channel sums of this part) summed over every part of the batch, in value and in
/// gradient. The value is exactly the summed vector, the same bits in every part.
fn sum_statistics(local: Tensor<1>) -> Tensor<1> {
    let device = local.device();
    let values = local.to_data().try_to_vec::<f32>().expect("f32 statistics");
    let shape = [values.len()];
    let total = Tensor::<1>::from_data(TensorData::new(sum_over_batch(values), shape), &device);
    let tracked = Tensor::<1>::from_dispatch(<Dispatch as SyncBackend>::sum_gradients_over_batch(
        local.clone().into_dispatch(),
    ));
    // tracked - local is exactly zero and carries the summed gradient; + total gives the value.
    tracked - local.detach() + total
}

/// Per-channel sums of `x` (channels in dimension 1).
fn channel_sums<const D: usize>(x: Tensor<D>) -> Tensor<1> {
    let channels = x.dims()[1];
    x.swap_dims(0, 1)
        .reshape([channels as i64, -1])
        .sum_dim(1)
        .reshape([channels])
}

/// `x` reshaped to broadcast per channel against a rank-`D` tensor.
fn per_channel<const D: usize>(v: Tensor<1>) -> Tensor<D> {
    let mut shape = [1i64; D];
    shape[1] = -1;
    v.reshape(shape)
}

/// Batch norm of `x` (channels in dimension 1) with `norm`'s weights: statistics over the whole
/// batch while training (summed over parts), the running statistics otherwise. A batch in one
/// piece (one thread, or a GPU) takes Burn's own batch norm. Updates the running statistics
/// ([`update_running`]).
pub fn batch_norm<const D: usize>(norm: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    if !(x.device().is_autodiff() && norm.training.is_enabled() && batch_is_split()) {
        return norm.forward(x);
    }
    let dims = x.dims();
    let local_count = (dims.iter().product::<usize>() / dims[1]) as f32;
    let count = sum_over_batch(vec![local_count])[0];

    let mean = sum_statistics(channel_sums(x.clone())).div_scalar(count);
    let centered = x - per_channel::<D>(mean.clone());
    let variance = sum_statistics(channel_sums(centered.clone().square())).div_scalar(count);
    let normalized = centered / per_channel::<D>(variance.clone().add_scalar(norm.epsilon).sqrt());
    let output =
        normalized * per_channel::<D>(norm.gamma.val()) + per_channel::<D>(norm.beta.val());

    update_running(norm, mean, variance);
    output
}

/// Moves `norm`'s running statistics towards a batch's `mean` and biased `variance`, as Burn's
/// `BatchNorm` does (its momentum), from the first part of a split batch only: the parts'
/// statistics are equal, and Burn would average the updates of several threads, in whatever
/// order they come.
pub(super) fn update_running(norm: &BatchNorm, mean: Tensor<1>, variance: Tensor<1>) {
    if !is_first_part() {
        return;
    }
    let momentum = norm.momentum;
    for (state, batch) in [(&norm.running_mean, mean), (&norm.running_var, variance)] {
        let batch = batch.detach();
        let updated = state
            .value_sync()
            .to_device(&batch.device())
            .mul_scalar(1.0 - momentum)
            .add(batch.mul_scalar(momentum));
        state.update(updated.detach());
    }
}

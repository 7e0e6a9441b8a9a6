//! Batch norm then leaky ReLU over channels-last rows `[rows, channels]`, as one burn-flex
//! kernel each way, for the conv stacks' training passes on the CPU.
//!
//! Composed of Burn's ops ([`super::batch_norm::batch_norm`], then `leaky_relu`), the pair
//! made about 14 passes over the activations forward and more backward, two of them
//! transposes of the whole activation for the per-channel sums, and leaky ReLU a `mask_where`:
//! about a sixth of the CelebA model's training step (docs/benchmarks.md). Here the forward pass
//! reads the rows three times (sum, centred squares, output) and the backward pass twice
//! (sums, input gradient), per-channel sums in f64. The statistics and the backward pass's two
//! sums are summed over every part of the batch ([`sum_over_batch`]), as SyncBatchNorm does,
//! so a batch split over shards and MPI ranks trains exactly as one pass would. No crate offers
//! this for Burn; it is a backend extension with its backward pass written out.

use super::batch_norm::update_running;
use super::flex::{flex_tensor, values};
use super::product::dims;
use crate::batch_parts::sum_over_batch;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::BatchNorm;
use burn::prelude::*;

/// `leaky_relu(batch_norm(x), slope)` (channels in dimension 1): the conv stacks' nonlinearity.
/// On burn-flex over channels-last rows it runs as one kernel ([`batch_norm_leaky_rows`]
/// while training, [`batch_norm_leaky_rows_inference`] without autodiff); everything else
/// composes [`batch_norm`] and Burn's leaky ReLU.
pub fn batch_norm_leaky_relu<const D: usize>(
    norm: &BatchNorm,
    x: Tensor<D>,
    slope: f64,
) -> Tensor<D> {
    let device = x.device();
    if D != 2 || !crate::is_cpu_device(&device) {
        return burn::tensor::activation::leaky_relu(super::batch_norm::batch_norm(norm, x), slope);
    }
    let dims = x.dims();
    let rows = x.reshape([dims[0], dims[1]]);
    let y = match (device.is_autodiff(), norm.training.is_enabled()) {
        (true, true) => batch_norm_leaky_rows(norm, rows, slope),
        (false, _) => batch_norm_leaky_rows_inference(norm, rows, slope),
        // A frozen batch norm inside a graph: Burn's, which passes gradients through it.
        (true, false) => burn::tensor::activation::leaky_relu(norm.forward(rows), slope),
    };
    y.reshape(dims)
}

/// `leaky_relu(batch_norm(x), slope)` of `[rows, channels]` rows with `norm`'s weights and the
/// statistics of the whole batch, the running statistics updated as Burn's `BatchNorm` does.
/// Only for training on burn-flex with autodiff.
pub fn batch_norm_leaky_rows(norm: &BatchNorm, x: Tensor<2>, slope: f64) -> Tensor<2> {
    let (y, mean, variance) = <Dispatch as FusedBatchNorm>::batch_norm_leaky_rows(
        x.into_dispatch(),
        norm.gamma.val().into_dispatch(),
        norm.beta.val().into_dispatch(),
        norm.epsilon as f32,
        slope as f32,
    );
    update_running(
        norm,
        Tensor::from_dispatch(mean),
        Tensor::from_dispatch(variance),
    );
    Tensor::from_dispatch(y)
}

/// The fused pair as backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait FusedBatchNorm: Backend {
    /// `(output, batch mean, batch variance)`: the variance biased, as batch norm divides by.
    fn batch_norm_leaky_rows(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
        slope: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// `(dx, dgamma, dbeta)` from the output's gradient `dy`: `dgamma` and `dbeta` of this
    /// part's rows (the trainer sums the parts' weight gradients), `dx` through the statistics
    /// of the whole batch.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_leaky_rows_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        epsilon: f32,
        slope: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Panics unless every per-channel vector (weights, statistics) has one value a channel.
fn check_channels(channels: usize, per_channel: &[&[f32]]) {
    let lengths: Vec<usize> = per_channel.iter().map(|v| v.len()).collect();
    assert!(
        lengths.iter().all(|&l| l == channels),
        "batch norm over {channels} channels was given per-channel values of lengths {lengths:?}"
    );
}

/// Per-channel sums of `f(row value, channel)` over `[rows, channels]` values, in f64.
fn channel_sums(x: &[f32], channels: usize, f: impl Fn(f32, usize) -> f64) -> Vec<f64> {
    let mut sums = vec![0f64; channels];
    for row in x.chunks_exact(channels) {
        for (c, (sum, &v)) in sums.iter_mut().zip(row).enumerate() {
            *sum += f(v, c);
        }
    }
    sums
}

/// `values` summed over every part of the batch (f32 on the way, as the parts exchange them).
fn over_batch(values: Vec<f64>) -> Vec<f64> {
    sum_over_batch(values.into_iter().map(|v| v as f32).collect())
        .into_iter()
        .map(f64::from)
        .collect()
}

/// Per channel, `1 / sqrt(variance + epsilon)` and the factor and offset of the normalised
/// output `z = x * scale + shift`: what every kernel here computes its output from.
struct Affine {
    inv_std: Vec<f32>,
    scale: Vec<f32>,
    shift: Vec<f32>,
}

impl Affine {
    fn new(gamma: &[f32], beta: &[f32], mean: &[f32], variance: &[f32], epsilon: f32) -> Self {
        let inv_std: Vec<f32> = variance
            .iter()
            .map(|v| 1.0 / (v + epsilon).sqrt())
            .collect();
        let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, i)| g * i).collect();
        let shift = beta
            .iter()
            .zip(mean)
            .zip(&scale)
            .map(|((&b, &m), &s)| b - m * s)
            .collect();
        Affine {
            inv_std,
            scale,
            shift,
        }
    }

    /// `y = leaky_relu(x * scale + shift)` over rows of `[rows, channels]` values.
    fn leaky_rows(&self, x: &[f32], slope: f32) -> Vec<f32> {
        let channels = self.scale.len();
        let mut y = vec![0f32; x.len()];
        for (y, x) in y.chunks_exact_mut(channels).zip(x.chunks_exact(channels)) {
            for (((y, &x), &s), &t) in y.iter_mut().zip(x).zip(&self.scale).zip(&self.shift) {
                let z = x * s + t;
                *y = if z > 0.0 { z } else { z * slope };
            }
        }
        y
    }
}

impl FusedBatchNorm for Flex {
    fn batch_norm_leaky_rows(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f32,
        slope: f32,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [rows, channels] = dims(&x);
        let shape = vec![rows, channels];
        let (x, gamma, beta) = (values(&x), values(&gamma), values(&beta));
        check_channels(channels, &[&gamma, &beta]);
        let mut first = channel_sums(&x, channels, |v, _| v as f64);
        first.push(rows as f64);
        let first = over_batch(first);
        let count = first[channels];
        let mean: Vec<f32> = first[..channels]
            .iter()
            .map(|s| (s / count) as f32)
            .collect();
        let squares = over_batch(channel_sums(&x, channels, |v, c| {
            let d = (v - mean[c]) as f64;
            d * d
        }));
        let variance: Vec<f32> = squares.iter().map(|s| (s / count) as f32).collect();
        let y = Affine::new(&gamma, &beta, &mean, &variance, epsilon).leaky_rows(&x, slope);
        (
            flex_tensor(y, shape),
            flex_tensor(mean, vec![channels]),
            flex_tensor(variance, vec![channels]),
        )
    }

    fn batch_norm_leaky_rows_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        dy: FlexTensor,
        epsilon: f32,
        slope: f32,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [rows, channels] = dims(&x);
        let shape = vec![rows, channels];
        assert_eq!(dims(&dy), [rows, channels], "batch norm's output gradient");
        let (x, dy) = (values(&x), values(&dy));
        let (gamma, beta) = (values(&gamma), values(&beta));
        let (mean, variance) = (values(&mean), values(&variance));
        check_channels(channels, &[&gamma, &beta, &mean, &variance]);
        let Affine {
            inv_std,
            scale,
            shift,
        } = Affine::new(&gamma, &beta, &mean, &variance, epsilon);
        // The gradient at the normalised output (through the leaky ReLU, whose side the
        // forward pass's arithmetic decides), and this part's sums of it and of it times the
        // normalised input: the gradients of beta and gamma. The row count rides along.
        let mut dz = vec![0f32; x.len()];
        let mut sums = vec![0f64; 2 * channels + 1];
        sums[2 * channels] = rows as f64;
        for ((dz, x), dy) in dz
            .chunks_exact_mut(channels)
            .zip(x.chunks_exact(channels))
            .zip(dy.chunks_exact(channels))
        {
            for c in 0..channels {
                let d = if x[c] * scale[c] + shift[c] > 0.0 {
                    dy[c]
                } else {
                    dy[c] * slope
                };
                dz[c] = d;
                sums[c] += d as f64;
                sums[channels + c] += (d * ((x[c] - mean[c]) * inv_std[c])) as f64;
            }
        }
        let dbeta: Vec<f32> = sums[..channels].iter().map(|&s| s as f32).collect();
        let dgamma: Vec<f32> = sums[channels..2 * channels]
            .iter()
            .map(|&s| s as f32)
            .collect();
        let whole = over_batch(sums);
        let count = whole[2 * channels];
        let mean_dz: Vec<f32> = whole[..channels]
            .iter()
            .map(|s| (s / count) as f32)
            .collect();
        let mean_dz_x_hat: Vec<f32> = whole[channels..2 * channels]
            .iter()
            .map(|s| (s / count) as f32)
            .collect();
        for (dz, x) in dz.chunks_exact_mut(channels).zip(x.chunks_exact(channels)) {
            for c in 0..channels {
                let x_hat = (x[c] - mean[c]) * inv_std[c];
                dz[c] = gamma[c] * inv_std[c] * (dz[c] - mean_dz[c] - x_hat * mean_dz_x_hat[c]);
            }
        }
        (
            flex_tensor(dz, shape),
            flex_tensor(dgamma, vec![channels]),
            flex_tensor(dbeta, vec![channels]),
        )
    }
}

/// Burn's autodiff around the fused pair: `x`, `gamma` and `beta` get their gradients from
/// [`FusedBatchNorm::batch_norm_leaky_rows_backward`]; the statistics are not differentiated
/// through as outputs (the running statistics take them detached).
impl<B: Backend + FusedBatchNorm, C: CheckpointStrategy> FusedBatchNorm for Autodiff<B, C> {
    fn batch_norm_leaky_rows(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f32,
        slope: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct BatchNormLeaky {
            epsilon: f32,
            slope: f32,
        }

        type State<B> = [FloatTensor<B>; 5];

        impl<B: Backend + FusedBatchNorm> Backward<B, 3> for BatchNormLeaky {
            type State = State<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [x, gamma, beta, mean, variance] = ops.state;
                let dy = grads.consume::<B>(&ops.node);
                let (dx, dgamma, dbeta) = B::batch_norm_leaky_rows_backward(
                    x,
                    gamma,
                    beta,
                    mean,
                    variance,
                    dy,
                    self.epsilon,
                    self.slope,
                );
                let [px, pgamma, pbeta] = ops.parents;
                for (parent, grad) in [(px, dx), (pgamma, dgamma), (pbeta, dbeta)] {
                    if let Some(parent) = parent {
                        grads.register::<B>(parent.id, grad);
                    }
                }
            }
        }

        let prep = BatchNormLeaky { epsilon, slope }
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        let (y, mean, variance) =
            B::batch_norm_leaky_rows(x.clone(), gamma.clone(), beta.clone(), epsilon, slope);
        let untracked = |t: FloatTensor<B>| FloatTensor::<Self>::new(t);
        let (mean_out, variance_out) = (untracked(mean.clone()), untracked(variance.clone()));
        let y = match prep {
            OpsKind::Tracked(prep) => prep.finish([x, gamma, beta, mean, variance], y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (y, mean_out, variance_out)
    }

    fn batch_norm_leaky_rows_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        epsilon: f32,
        slope: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (dx, dgamma, dbeta) = B::batch_norm_leaky_rows_backward(
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            mean.into_primitive(),
            variance.into_primitive(),
            dy.into_primitive(),
            epsilon,
            slope,
        );
        let wrap = |t: FloatTensor<B>| FloatTensor::<Self>::new(t);
        (wrap(dx), wrap(dgamma), wrap(dbeta))
    }
}

/// `leaky_relu(batch_norm(x), slope)` of `[rows, channels]` rows with `norm`'s running
/// statistics, without autodiff: inference (decoding, the explorer). One pass instead of Burn's
/// batch norm and leaky ReLU, about six.
pub fn batch_norm_leaky_rows_inference(norm: &BatchNorm, x: Tensor<2>, slope: f64) -> Tensor<2> {
    let device = x.device();
    let running = |state: &burn::module::RunningState<Tensor<1>>| {
        state.value().to_device(&device).into_dispatch()
    };
    Tensor::from_dispatch(
        <Dispatch as BatchNormLeakyInference>::batch_norm_leaky_rows_inference(
            x.into_dispatch(),
            norm.gamma.val().into_dispatch(),
            norm.beta.val().into_dispatch(),
            running(&norm.running_mean),
            running(&norm.running_var),
            norm.epsilon as f32,
            slope as f32,
        ),
    )
}

/// Batch norm with fixed statistics, then leaky ReLU, as a backend operation (no autodiff).
#[backend_extension(Flex)]
pub trait BatchNormLeakyInference: Backend {
    /// `leaky_relu(batch_norm(x))` of `[rows, channels]` rows with the given statistics.
    fn batch_norm_leaky_rows_inference(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f32,
        slope: f32,
    ) -> FloatTensor<Self>;
}

impl BatchNormLeakyInference for Flex {
    fn batch_norm_leaky_rows_inference(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f32,
        slope: f32,
    ) -> FlexTensor {
        let [rows, channels] = dims(&x);
        let shape = vec![rows, channels];
        let (gamma, beta) = (values(&gamma), values(&beta));
        let (mean, variance) = (values(&mean), values(&variance));
        check_channels(channels, &[&gamma, &beta, &mean, &variance]);
        let y =
            Affine::new(&gamma, &beta, &mean, &variance, epsilon).leaky_rows(&values(&x), slope);
        flex_tensor(y, shape)
    }
}

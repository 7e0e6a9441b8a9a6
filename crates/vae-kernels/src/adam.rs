//! Adam's step as one pass over each weight tensor on burn-flex, split across the threads.
//!
//! Burn's Adam composes the step out of about 14 element-wise tensor ops (scale, add, square,
//! sqrt, divide, ...), each a pass over the weights, all on the main thread while the shards
//! wait: 16% of an MLP step in round two's profile. Worse, the first moment of a weight whose
//! gradient is zero for a while (a pixel that is rarely on) decays by 0.9 a step into the
//! subnormal range, where every multiply takes a microcode assist: from the third epoch on the
//! MLP trained at a third of its first epoch's speed, 38% of its time in Burn's `scalar_op`.
//! Here one pass computes both moments and the update in place, flushes moments that became
//! subnormal to zero (they are below 1.2e-38; PyTorch's `set_flush_denormal` does the same for
//! all arithmetic), and runs on the widest vectors of the CPU ([`super::simd`]).
//!
//! The optimizer state is Burn's own [`AdamState`], so checkpoints are read and written as
//! before; GPUs keep Burn's Adam.

use super::simd::{Isa, multiversion};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::prelude::*;
use rayon::prelude::*;

/// Adam with PyTorch's constants (beta 0.9 and 0.999, epsilon 1e-8; Burn's default epsilon is
/// 1e-5), fused on the CPU.
pub fn adam() -> ModuleOptimizer {
    ModuleOptimizer::from(FusedAdam::default())
}

/// Adam whose step on burn-flex is [`FusedAdamOps::adam_step`]; elsewhere Burn's.
#[derive(Clone)]
pub struct FusedAdam {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    burn: Adam,
}

impl Default for FusedAdam {
    fn default() -> Self {
        let (beta_1, beta_2, epsilon) = (0.9, 0.999, 1e-8);
        FusedAdam {
            beta_1,
            beta_2,
            epsilon,
            burn: AdamConfig::new()
                .with_beta_1(beta_1)
                .with_beta_2(beta_2)
                .with_epsilon(epsilon)
                .build(),
        }
    }
}

/// The scalars of one step: the moments' decay and the update's factors, as Burn's Adam
/// computes them (bias corrections folded into `step_size` and `epsilon`).
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    pub beta_1: f32,
    pub beta_2: f32,
    /// `sqrt(1 - beta_2^t) / (1 - beta_1^t)`.
    pub step_size: f32,
    /// `epsilon * sqrt(1 - beta_2^t)`.
    pub epsilon: f32,
    pub lr: f32,
}

impl FusedAdam {
    /// The factors of step `time` (1-based), in f32 as Burn computes them.
    fn coefficients(&self, time: usize, lr: LearningRate) -> AdamStep {
        let t = time as i32;
        let bias_correction_2 = (1.0 - self.beta_2.powi(t)).sqrt();
        AdamStep {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            step_size: bias_correction_2 / (1.0 - self.beta_1.powi(t)),
            epsilon: self.epsilon * bias_correction_2,
            lr: lr as f32,
        }
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamState<D>>,
    ) -> (Tensor<D>, Option<AdamState<D>>) {
        if !crate::is_cpu_device(&tensor.device()) {
            return self.burn.step(lr, tensor, grad, state);
        }
        // A first step from zero moments is Burn's first step.
        let (time, moment_1, moment_2) = match state {
            Some(AdamState { momentum }) => (momentum.time, momentum.moment_1, momentum.moment_2),
            None => (0, grad.zeros_like(), grad.zeros_like()),
        };
        let time = time + 1;
        let (tensor, moment_1, moment_2) = <Dispatch as FusedAdamOps>::adam_step(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
            self.coefficients(time, lr),
        );
        let momentum = AdaptiveMomentumState::new(
            time,
            Tensor::from_dispatch(moment_1),
            Tensor::from_dispatch(moment_2),
        );
        (
            Tensor::from_dispatch(tensor),
            Some(AdamState::new(momentum)),
        )
    }

    fn to_device<const D: usize>(state: AdamState<D>, device: &Device) -> AdamState<D> {
        Adam::to_device(state, device)
    }
}

/// Adam's step as a backend operation.
#[backend_extension(Flex)]
pub trait FusedAdamOps: Backend {
    /// The weights, gradient and both moments after one step: `(weights, moment_1, moment_2)`.
    fn adam_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// A tensor whose storage is exactly its elements, in order, owned by nobody else (a copy
/// otherwise): what an in-place update may write.
fn owned(tensor: FlexTensor) -> FlexTensor {
    let exact = tensor.is_contiguous()
        && tensor.layout().contiguous_offsets() == Some((0, tensor.layout().num_elements()))
        && tensor.bytes().len() == tensor.layout().num_elements() * 4;
    if exact {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

/// Elements per task: large enough that splitting pays, small enough that every thread has one.
const CHUNK: usize = 1 << 15;

impl FusedAdamOps for Flex {
    fn adam_step(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        step: AdamStep,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (mut param, mut moment_1, mut moment_2) =
            (owned(param), owned(moment_1), owned(moment_2));
        let grad = owned(grad);
        let shapes = [&param, &grad, &moment_1, &moment_2].map(|t| t.layout().shape().clone());
        assert!(
            shapes.iter().all(|s| *s == shapes[0]),
            "an Adam step over weights, gradient and moments of shapes {shapes:?}"
        );
        let g = grad.storage::<f32>();
        let (p, m, v) = (
            param.storage_mut::<f32>(),
            moment_1.storage_mut::<f32>(),
            moment_2.storage_mut::<f32>(),
        );
        let (threads, isa) = (rayon::current_num_threads().max(1), Isa::current());
        let chunk = p.len().div_ceil(threads).max(CHUNK);
        p.par_chunks_mut(chunk)
            .zip(m.par_chunks_mut(chunk))
            .zip(v.par_chunks_mut(chunk))
            .zip(g.par_chunks(chunk))
            .for_each(|(((p, m), v), g)| adam_update(isa, p, m, v, g, step));
        (param, moment_1, moment_2)
    }
}

/// One Adam step over matching runs of weights, moments and gradient, in the order of
/// operations of Burn's Adam (so the weights agree with it to the last bit while no moment
/// is subnormal).
/// Panics unless the four runs are of one length.
pub fn adam_update(isa: Isa, p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: AdamStep) {
    assert!(
        p.len() == m.len() && p.len() == v.len() && p.len() == g.len(),
        "an Adam step over {} weights with moments of {} and {} and a gradient of {} values",
        p.len(),
        m.len(),
        v.len(),
        g.len()
    );
    adam_update_on(isa, p, m, v, g, s)
}

multiversion! {
    /// [`adam_update`] compiled for `isa`.
    fn adam_update_on(p: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], s: AdamStep) {
        let (decay_1, decay_2) = (1.0 - s.beta_1, 1.0 - s.beta_2);
        for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
            let m1 = *m * s.beta_1 + g * decay_1;
            let m2 = *v * s.beta_2 + g * g * decay_2;
            // Subnormal moments to zero: see the module's comment.
            let m1 = if m1.abs() < f32::MIN_POSITIVE {
                0.0
            } else {
                m1
            };
            let m2 = if m2 < f32::MIN_POSITIVE { 0.0 } else { m2 };
            *p -= m1 * s.step_size / (m2.sqrt() + s.epsilon) * s.lr;
            *m = m1;
            *v = m2;
        }
    }
}

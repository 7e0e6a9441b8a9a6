//! The optimiser step of every fit in `vae`, written once: Adam with PyTorch's epsilon, the
//! joint gradient norm, and optional clipping of it. Training reads nothing back in its step
//! ([`step_deferred`]: the norm is read later with the loss, many steps at once, so a GPU never
//! waits for the host); the small fits (the second stage, the feature classifier of sample
//! quality, the linear probe) read the loss and norm together and check them first ([`step`]).
//!
//! Burn's own clipping scales each tensor by its own norm; PyTorch's `clip_grad_norm_`, which
//! users expect, scales all gradients by their joint norm, so that needs every gradient at once
//! and is written here.

use crate::device::to_host;
use crate::error::Result;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

/// Adam as PyTorch sets it up (epsilon 1e-8; Burn's default is 1e-5), one fused pass per
/// weight tensor on the CPU ([`vae_kernels::adam`]).
pub fn adam() -> ModuleOptimizer {
    vae_kernels::adam()
}

/// What one step measured: the loss values it was given (read back) and the joint gradient
/// norm before clipping.
#[derive(Debug, Clone, PartialEq)]
pub struct Stepped {
    pub values: Vec<f32>,
    pub grad_norm: f64,
}

/// What stopped being finite in a step, which then changes nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum NotFinite {
    /// The loss values given, one or more not finite; the last is the total.
    Loss(Vec<f32>),
    /// A gradient (NaN or infinite somewhere).
    Gradient,
}

impl std::fmt::Display for NotFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotFinite::Loss(values) => {
                write!(
                    f,
                    "the loss became {}",
                    values.last().copied().unwrap_or(f32::NAN)
                )
            }
            NotFinite::Gradient => f.write_str("a gradient became NaN or infinite"),
        }
    }
}

/// One Adam step of `model` along `grads` at learning rate `lr`. `values` (the loss, or its
/// parts) are read back with the joint gradient norm in one read; when either is not finite the
/// model is handed back unchanged with what broke. The outer error is a failed read.
#[allow(clippy::type_complexity)]
pub fn step<M: Module>(
    optimizer: &mut ModuleOptimizer,
    lr: f64,
    model: M,
    grads: GradientsParams,
    values: Tensor<1>,
) -> Result<std::result::Result<(M, Stepped), (M, NotFinite)>> {
    let device = values.device();
    let grad_sq = squared_norm(&model, &grads).unwrap_or_else(|| Tensor::zeros([1], &device));
    let count = values.dims()[0];
    let read = to_host(Tensor::cat(vec![values, grad_sq], 0))?;
    if read[..count].iter().any(|v| !v.is_finite()) {
        return Ok(Err((model, NotFinite::Loss(read[..count].to_vec()))));
    }
    if !read[count].is_finite() {
        return Ok(Err((model, NotFinite::Gradient)));
    }
    let model = optimizer.step(lr, model, grads);
    Ok(Ok((
        model,
        Stepped {
            values: read[..count].to_vec(),
            grad_norm: (read[count] as f64).sqrt(),
        },
    )))
}

/// One Adam step that reads nothing back: the square of the joint gradient norm before
/// clipping is returned as a `[1]` tensor on `device`, for the caller to read later together
/// with other steps' values. With `clip` the gradients are first scaled on the device by
/// `min(1, clip / norm)`. A non-finite loss or gradient is applied like any other; the caller
/// finds it in what it reads and throws the epoch away (training rolls back to a checkpoint).
pub fn step_deferred<M: Module>(
    optimizer: &mut ModuleOptimizer,
    lr: f64,
    model: M,
    mut grads: GradientsParams,
    clip: Option<f64>,
    device: &Device,
) -> (M, Tensor<1>) {
    let grad_sq = squared_norm(&model, &grads).unwrap_or_else(|| Tensor::zeros([1], device));
    if let Some(max_norm) = clip {
        clip_to_norm(&model, &mut grads, grad_sq.clone(), max_norm);
    }
    (optimizer.step(lr, model, grads), grad_sq)
}

/// [`step`] down the gradient of a scalar `loss` (`[1]`) of `model`, without clipping: the
/// small fits (the second stage, the feature classifier, the probe). The loss value comes back
/// in [`Stepped::values`].
#[allow(clippy::type_complexity)]
pub fn minimise<M: Module>(
    optimizer: &mut ModuleOptimizer,
    lr: f64,
    model: M,
    loss: Tensor<1>,
) -> Result<std::result::Result<(M, Stepped), (M, NotFinite)>> {
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    step(optimizer, lr, model, grads, loss.inner())
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = vae_kernels::squared_sum(g);
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

/// Sum of squares of all gradients of `module`, as a one-element tensor, left on the device
/// (read it together with the loss). NaN or Inf anywhere makes it non-finite.
pub fn squared_norm<M: Module>(module: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    let mut visitor = SquaredNorm { grads, sum: None };
    module.visit(&mut visitor);
    visitor.sum
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: Tensor<1>,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let factor = self.factor.clone().reshape([1; D]);
            self.grads.register(param.id, g.mul(factor));
        }
    }
}

/// Scales all gradients so that their joint norm is at most `max_norm`, given the square of
/// that norm (`[1]`, from [`squared_norm`]), without reading it back: every gradient is
/// multiplied by `min(1, max_norm / norm)` on the device (exactly 1 below the limit, which
/// leaves the gradients unchanged), as PyTorch's `clip_grad_norm_` does to avoid a sync.
pub fn clip_to_norm<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    grad_sq: Tensor<1>,
    max_norm: f64,
) {
    let limit = Tensor::<1>::full([1], max_norm as f32, &grad_sq.device());
    let factor = limit.div(grad_sq.sqrt()).clamp_max(1.0);
    module.visit(&mut Scale { grads, factor });
}

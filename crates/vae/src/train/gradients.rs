//! Global gradient norm, for divergence detection and clipping, and the sum of two sets of
//! gradients (data-parallel shards).
//!
//! Burn's own clipping scales each tensor by its own norm; PyTorch's `clip_grad_norm_`, which
//! users expect, scales all gradients by their joint norm, so that needs every gradient at once
//! and is written here.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(acc) => acc + s,
                None => s,
            });
        }
    }
}

/// Sum of squares of all gradients of `module`, as a one-element tensor (read it together with
/// the loss, so a step costs one device sync). NaN or Inf anywhere makes it non-finite.
pub fn squared_norm<M: Module>(module: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    let mut visitor = SquaredNorm { grads, sum: None };
    module.visit(&mut visitor);
    visitor.sum
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.factor));
        }
    }
}

/// Scales all gradients so that their joint norm is at most `max_norm`.
pub fn clip_to_norm<M: Module>(module: &M, grads: &mut GradientsParams, norm: f64, max_norm: f64) {
    if norm > max_norm {
        let factor = (max_norm / norm) as f32;
        module.visit(&mut Scale { grads, factor });
    }
}

struct AddGradients<'a> {
    into: &'a mut GradientsParams,
    from: GradientsParams,
}

impl ModuleVisitor for AddGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.from.remove::<D>(param.id) {
            let sum = match self.into.remove::<D>(param.id) {
                Some(acc) => acc + g,
                None => g,
            };
            self.into.register(param.id, sum);
        }
    }
}

/// Adds every gradient of `from` to `into`, parameter by parameter.
pub fn add_into<M: Module>(module: &M, into: &mut GradientsParams, from: GradientsParams) {
    module.visit(&mut AddGradients { into, from });
}

//! The sum of two sets of gradients (data-parallel shards), and all gradients as one flat
//! vector (MPI ranks). The norm, clipping and the step itself are [`crate::optim`]'s.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorData;

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

/// Every gradient of a module in one flat vector, in the module's parameter order: what the MPI
/// ranks sum in one call per step ([`super::epoch`]).
pub struct Layout {
    len: usize,
}

struct CountParams(usize);

/// Weights have gradients; batch norm's running statistics, also visited, do not.
fn is_weight<const D: usize>(param: &Param<Tensor<D>>) -> bool {
    param.val().is_require_grad()
}

impl ModuleVisitor for CountParams {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if is_weight(param) {
            self.0 += param.shape().num_elements();
        }
    }
}

struct Flatten<'a> {
    grads: &'a GradientsParams,
    device: &'a Device,
    parts: Vec<Tensor<1>>,
}

impl ModuleVisitor for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !is_weight(param) {
            return;
        }
        let n = param.shape().num_elements();
        self.parts.push(match self.grads.get::<D>(param.id) {
            Some(g) => g.reshape([n]),
            None => Tensor::zeros([n], self.device),
        });
    }
}

struct Unflatten<'a> {
    values: &'a [f32],
    offset: usize,
    device: &'a Device,
    grads: GradientsParams,
}

impl ModuleVisitor for Unflatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !is_weight(param) {
            return;
        }
        let shape = param.shape();
        let n = shape.num_elements();
        let values = self.values[self.offset..self.offset + n].to_vec();
        self.offset += n;
        let grad = Tensor::<D>::from_data(TensorData::new(values, shape), self.device);
        self.grads.register(param.id, grad);
    }
}

impl Layout {
    pub fn of<M: Module>(module: &M) -> Self {
        let mut count = CountParams(0);
        module.visit(&mut count);
        Layout { len: count.0 }
    }

    /// Number of values: the module's weight count.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The gradients as one vector (zeros for a parameter without one).
    pub fn flatten<M: Module>(
        &self,
        module: &M,
        grads: &GradientsParams,
        device: &Device,
    ) -> Tensor<1> {
        let mut visitor = Flatten {
            grads,
            device,
            parts: Vec::new(),
        };
        module.visit(&mut visitor);
        Tensor::cat(visitor.parts, 0)
    }

    /// The gradients of a vector made by [`Layout::flatten`].
    pub fn unflatten<M: Module>(
        &self,
        module: &M,
        values: &[f32],
        device: &Device,
    ) -> GradientsParams {
        let mut visitor = Unflatten {
            values,
            offset: 0,
            device,
            grads: GradientsParams::new(),
        };
        module.visit(&mut visitor);
        visitor.grads
    }
}

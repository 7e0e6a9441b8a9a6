//! The sum of squares of a gradient in one pass, for the joint gradient norm of every step.
//!
//! Burn's `square().sum()` writes the squares into a new tensor and then sums it: a pass, an
//! allocation of the gradient's size and a second pass, for every weight tensor at every step,
//! on the main thread while the shards wait (about 7% of an MLP step). Here burn-flex reads the
//! gradient once, on the widest vectors of the CPU; GPUs keep Burn's ops.

use super::flex::{flex_tensor, values};
use super::simd::{self, Isa, multiversion};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;

/// `sum(t^2)` as a one-element tensor on `t`'s device (no autodiff).
pub fn squared_sum<const D: usize>(t: Tensor<D>) -> Tensor<1> {
    if !crate::is_cpu_device(&t.device()) || t.device().is_autodiff() {
        return t.square().sum();
    }
    Tensor::from_dispatch(<Dispatch as SquaredSum>::squared_sum(t.into_dispatch()))
}

/// The sum of squares as a backend operation.
#[backend_extension(Flex)]
pub trait SquaredSum: Backend {
    /// `sum(x^2)` over all elements, `[1]`.
    fn squared_sum(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl SquaredSum for Flex {
    fn squared_sum(x: FlexTensor) -> FlexTensor {
        flex_tensor(vec![sum_of_squares(Isa::current(), &values(&x))], vec![1])
    }
}

multiversion! {
    /// `sum(x^2)`, compiled for `isa`.
    pub fn sum_of_squares(x: &[f32]) -> f32 {
        simd::sum(x, x, |v, _| v * v)
    }
}

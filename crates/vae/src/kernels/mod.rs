//! Kernels of our own under Burn, apart from the models that call them: what Burn does not do,
//! or does too slowly on the CPU, written as Burn backend extensions with hand-written backward
//! passes where autodiff cannot derive them. The models see only this face; each kernel is
//! tested against Burn's plain computation (`tests/library/kernels.rs`).
//!
//! - [`ConvStack`] and [`DeconvStack`]: the conv models' stride-2 layers, as window passes
//!   (`windows`: gathers, scatter-adds) and matrix products on channels-last rows on burn-flex
//!   (`im2col`), run together a few images at a time with their backward pass
//!   (`window_product`), or Burn's own convolutions ([`ConvPath`]). The window passes are public
//!   ([`window_pass`]) for the test that holds each to its definition and its adjoint.
//! - [`batch_norm`]: batch norm over a batch split between shards and MPI ranks
//!   (SyncBatchNorm), its statistics and their gradients summed over the parts;
//!   [`batch_norm_leaky_rows`], the same followed by leaky ReLU as one burn-flex kernel each way.
//! - [`bce_with_logits_rows`]: the Bernoulli reconstruction loss as one fused burn-flex kernel
//!   with its backward pass, and [`bce_with_logits_sum`] on the host.
//! - [`linear`]: a dense layer whose backward pass multiplies without copying the transposed
//!   weight and allocates without zero-filling (`product`: gemm on burn-flex's storage); its
//!   input gradient is turned from columns to rows 8 x 8 values at a time ([`transpose`]).
//! - [`adam`]: Adam's step as one pass over each weight tensor, split across the threads, and
//!   [`squared_sum`], a gradient's sum of squares in one pass (the joint gradient norm).
//!
//! The element-wise kernels run on the widest vectors of the CPU, picked at run time (`simd`).

mod adam;
mod batch_norm;
mod batch_norm_leaky;
mod blocks;
mod conv_stack;
mod flex;
mod fused;
mod im2col;
mod linear;
mod norm;
mod product;
mod simd;
mod transpose;
mod window_product;
mod windows;

pub use adam::{AdamStep, FusedAdam, FusedAdamOps, adam, adam_update};
pub use batch_norm::{SyncBackend, batch_norm, batch_norm_leaky_relu};
pub use batch_norm_leaky::{
    BatchNormLeakyInference, FusedBatchNorm, batch_norm_leaky_rows, batch_norm_leaky_rows_inference,
};
pub use conv_stack::{ConvPath, ConvStack, DeconvStack, LEAKY_SLOPE, StackPlan, padded_size};
pub use fused::{
    FusedBce, bce_with_logits_gradient, bce_with_logits_rows, bce_with_logits_sum,
    bce_with_logits_sum_on, fused_applies,
};
pub use linear::{LinearOps, linear};
pub use norm::{SquaredSum, squared_sum, sum_of_squares};
pub use simd::{Isa, isa};
pub use transpose::transpose;
pub use windows::{Grid, TAPS, Window, WindowKind, Windows, window_pass};

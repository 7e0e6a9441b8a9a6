//! `vae-kernels`: the CPU kernels under the `vae` crate's models, written as Burn backend
//! extensions on burn-flex with hand-written backward passes where autodiff cannot derive them:
//! what Burn does not do, or does too slowly on the CPU. Every other backend (the GPUs) keeps
//! Burn's own ops, which each public function here falls back to.
//!
//! The face is what the models call:
//! - [`linear`]: a dense layer whose backward pass multiplies without copying the transposed
//!   weight and allocates without zero-filling.
//! - [`ConvStack`] and [`DeconvStack`]: the conv models' stride-2 layers, as window passes and
//!   matrix products on channels-last rows run a few images at a time ([`ConvPath`]).
//! - [`batch_norm`] and [`batch_norm_leaky_relu`]: batch norm over a batch split between
//!   threads and processes (SyncBatchNorm, [`batch_parts`]).
//! - [`bce_with_logits_rows`]: the Bernoulli reconstruction loss as one kernel each way.
//! - [`adam`]: Adam's step as one pass over each weight tensor; [`squared_sum`], a gradient's
//!   sum of squares in one pass.
//! - [`tune_products`]: the one setting of gemm, the matrix products, that we choose.
//!
//! Soundness: `unsafe` is in this crate only, each block with the reason it holds. Every safe
//! function checks the shapes it is given before it reads or writes memory (a mismatch panics
//! with a message naming it, as Burn's ops do), so no input reaches memory outside a buffer or
//! values never written. The element-wise kernels run on the widest vectors of the CPU, picked
//! at run time by whole instruction-set levels and capped by `VAE_MAX_ISA` (`simd.rs`).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod adam;
mod batch_norm;
mod batch_norm_leaky;
pub mod batch_parts;
mod bernoulli_loss;
mod blocks;
mod conv_kind;
mod conv_stack;
mod convolution;
mod flex;
mod gemm_tuning;
mod linear;
mod product;
mod simd;
mod sum_of_squares;
mod transpose;
mod window_product;
mod windows;

#[cfg(test)]
mod tests;

pub use adam::{FusedAdam, adam};
pub use batch_norm::batch_norm;
pub use batch_norm_leaky::batch_norm_leaky_relu;
pub use bernoulli_loss::{bce_with_logits_rows, bce_with_logits_sum, fused_applies};
pub use conv_stack::{ConvPath, ConvStack, DeconvStack, LEAKY_SLOPE, StackPlan, padded_size};
pub use gemm_tuning::tune_products;
pub use linear::linear;
pub use sum_of_squares::squared_sum;

/// True for the CPU backend's device (burn-flex), with or without autodiff: where the kernels
/// run. Devices compare by hardware.
pub fn is_cpu_device(device: &burn::tensor::Device) -> bool {
    *device == burn::tensor::Device::flex()
}

/// Which of CUDA's libraries load here: the NVIDIA driver (`libcuda.so`) and NVRTC. cudarc loads
/// them on first use, on a thread of cubecl's, and panics there when one is missing: a caller
/// asks first. Loading a library runs its initialisers, which is `unsafe`, so it is done here.
#[cfg(feature = "cuda")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CudaLibraries {
    pub driver: bool,
    pub nvrtc: bool,
}

#[cfg(feature = "cuda")]
impl CudaLibraries {
    /// Tries to load each by its usual names (and unloads it).
    pub fn find() -> Self {
        // SAFETY: loads the NVIDIA driver by its usual names and unloads it; its initialisers
        // are the vendor's, which every CUDA program runs.
        let driver = unsafe { cudarc::driver::sys::is_culib_present() };
        // SAFETY: as above, for NVRTC.
        let nvrtc = unsafe { cudarc::nvrtc::sys::is_culib_present() };
        CudaLibraries { driver, nvrtc }
    }
}

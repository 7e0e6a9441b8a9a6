//! A convolution's window pass and matrix product as one kernel that works through the batch a
//! few images at a time, so that the windows (9 values per channel and pixel) stay in the
//! cache between the two.
//!
//! Done as two whole-batch ops (before this kernel), the product wrote every window of the
//! batch to memory and the window pass read it back: 15-18 MB per shard for the 32x32 layer of
//! the conv VAE's decoder, and the passes were 10% of a conv training step and 15% of the
//! importance-weighted bound (`perf record -g vae bench --model conv`, docs/benchmarks.md, round
//! six). Here each block of images is gathered and multiplied, or multiplied and added onto its
//! output pixels, while its windows are still in the cache, and the backward pass goes through
//! the same blocks, summing the weight's gradient over them.

use super::blocks::{Block, blocks, images_per_block, split};
use super::conv_kind::ConvKind;
use super::flex::{flex_tensor, values};
use super::linear::LinearOps;
use super::product::{Matrix, Split, dims, product_add_into, product_into};
use super::simd::{Isa, multiversion};
use super::windows::{Windows, window_pass};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;
use std::mem::MaybeUninit;

/// `kind`'s convolution of `x` (`[rows, c_in]` on its grid) with `weight` through `windows`,
/// plus `bias`, then ReLU where `relu` says. On burn-flex only (the conv stacks' channels-last path).
pub fn window_product(
    x: Tensor<2>,
    weight: Tensor<2>,
    bias: Tensor<1>,
    windows: Windows,
    kind: ConvKind,
    relu: bool,
) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as WindowProductOps>::window_product(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        windows,
        kind,
        relu,
    ))
}

/// The fused convolution as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait WindowProductOps: Backend {
    /// The bias and the ReLU are added to each block of the output while it is in the cache:
    /// as Burn's ops of their own, they were two more passes over the activations, 4% of the
    /// importance-weighted bound of the conv VAE.
    fn window_product(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        windows: Windows,
        kind: ConvKind,
        relu: bool,
    ) -> FloatTensor<Self>;
    /// The gradients of [`WindowProductOps::window_product`] with respect to `x` and to the
    /// weight for the output's gradient `grad`; a gradient not asked for comes back empty
    /// (`[0, 0]`).
    fn window_product_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        windows: Windows,
        kind: ConvKind,
        wanted: Wanted,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// Which gradients a backward pass needs: of the input, of the weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub input: bool,
    pub weight: bool,
}

/// `values` seen as places to write: gemm writes every one of them.
fn as_uninit(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: `MaybeUninit<f32>` has the layout of `f32`, and only initialised `f32`s are
    // written through the view.
    unsafe { &mut *(values as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// A block's buffer of windows or contributions, reused from block to block: each block's
/// product or window pass writes the part it reads (nothing is zero-filled).
fn scratch(len: usize) -> Box<[MaybeUninit<f32>]> {
    Box::new_uninit_slice(len)
}

/// `values` after a product or a window pass wrote them.
///
/// # Safety
/// Every value has been written.
unsafe fn written(values: &[MaybeUninit<f32>]) -> &[f32] {
    // SAFETY: the caller wrote them.
    unsafe { values.assume_init_ref() }
}

multiversion! {
    /// `out = out + bias` per row, then ReLU where `relu` says: the sums of Burn's add and
    /// ReLU (NaN stays NaN), on a block of the output while it is in the cache. Done in the
    /// window pass, pixel by pixel, it was no faster. (With the channel count fixed when
    /// compiling, LLVM unrolled the row and vectorised across rows with gathers, 3 times
    /// slower.)
    fn add_bias(bias: &[f32], relu: bool, out: &mut [f32]) {
        for row in out.chunks_exact_mut(bias.len()) {
            if relu {
                row.iter_mut().zip(bias).for_each(|(v, b)| {
                    let s = *v + b;
                    *v = if s <= 0.0 { 0.0 } else { s };
                });
            } else {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
        }
    }
}

impl WindowProductOps for Flex {
    fn window_product(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        windows: Windows,
        kind: ConvKind,
        relu: bool,
    ) -> FlexTensor {
        let ([x_rows, c_in], [k, n]) = (dims(&x), dims(&weight));
        let c_out = kind.check(windows, (x_rows, c_in), (k, n));
        let (x, bias) = (values(&x), values(&bias));
        assert_eq!(bias.len(), c_out, "a convolution of {c_out} channels' bias");
        let w = Matrix::of(&weight);
        let (x_pixels, out_pixels) = kind.pixels(windows);
        let batch = windows.input.batch;
        let (pass, isa) = (kind.window(), Isa::current());
        let block_x = |b: &Block| &x[b.first * x_pixels * c_in..][..b.images * x_pixels * c_in];
        match kind {
            ConvKind::Gathered => {
                // Windows `[out_pixels, k = 9 * c_in]` per image, then the product into the
                // output's rows of the block.
                let per_block = images_per_block(out_pixels, batch);
                let split = split(per_block, batch);
                let mut patches = scratch(per_block * out_pixels * k);
                let mut out = Vec::with_capacity(batch * out_pixels * n);
                let spare = out.spare_capacity_mut();
                for b in blocks(windows, per_block) {
                    let rows = b.images * out_pixels;
                    let patches = &mut patches[..rows * k];
                    window_pass(isa, b.windows, pass, c_in, block_x(&b), patches);
                    // SAFETY: the pass wrote every window.
                    let patches = Matrix::rows(unsafe { written(patches) }, (rows, k));
                    let dst = &mut spare[b.first * out_pixels * n..][..rows * n];
                    product_into(patches, w, dst, split);
                    // SAFETY: the product wrote every output.
                    add_bias(isa, &bias, relu, unsafe { dst.assume_init_mut() });
                }
                // SAFETY: the blocks cover every image, and each product wrote all of its rows.
                unsafe { out.set_len(batch * out_pixels * n) };
                flex_tensor(out, vec![batch * out_pixels, n])
            }
            ConvKind::Contributed | ConvKind::Transposed => {
                // Each block's contributions `[x_pixels, n = 9 * c_out]` per image, then added
                // onto the block's output pixels.
                let per_block = images_per_block(x_pixels, batch);
                let split = split(per_block, batch);
                let mut contributions = scratch(per_block * x_pixels * n);
                let mut out = Vec::with_capacity(batch * out_pixels * c_out);
                let spare = out.spare_capacity_mut();
                for b in blocks(windows, per_block) {
                    let rows = b.images * x_pixels;
                    let contributions = &mut contributions[..rows * n];
                    let x = Matrix::rows(block_x(&b), (rows, c_in));
                    product_into(x, w, contributions, split);
                    // SAFETY: the product wrote every contribution.
                    let contributions = unsafe { written(contributions) };
                    let out =
                        &mut spare[b.first * out_pixels * c_out..][..b.images * out_pixels * c_out];
                    window_pass(isa, b.windows, pass, c_out, contributions, out);
                    // SAFETY: the pass wrote every output.
                    add_bias(isa, &bias, relu, unsafe { out.assume_init_mut() });
                }
                // SAFETY: the blocks cover every image, and each pass wrote all of its pixels.
                unsafe { out.set_len(batch * out_pixels * c_out) };
                flex_tensor(out, vec![batch * out_pixels, c_out])
            }
        }
    }

    fn window_product_grads(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        windows: Windows,
        kind: ConvKind,
        wanted: Wanted,
    ) -> (FlexTensor, FlexTensor) {
        let ([x_rows, c_in], [k, n]) = (dims(&x), dims(&weight));
        let c_out = kind.check(windows, (x_rows, c_in), (k, n));
        let (_, out_pixels) = kind.pixels(windows);
        assert_eq!(
            dims(&grad),
            [windows.input.batch * out_pixels, c_out],
            "a convolution's output gradient"
        );
        let (x, grad) = (values(&x), values(&grad));
        let w_t = Matrix::of(&weight).transposed();
        let (x_pixels, out_pixels) = kind.pixels(windows);
        let batch = windows.input.batch;
        let (pass, isa) = (kind.window(), Isa::current());
        let block_x = |b: &Block| &x[b.first * x_pixels * c_in..][..b.images * x_pixels * c_in];
        let block_grad =
            |b: &Block| &grad[b.first * out_pixels * c_out..][..b.images * out_pixels * c_out];
        // The weight's gradient, summed over the blocks: the first overwrites, the others add.
        let mut grad_w = vec![0f32; if wanted.weight { k * n } else { 0 }];
        let mut add_to_grad_w = |b: &Block, a: Matrix, g: Matrix, split: Split| {
            if b.index == 0 {
                product_into(a, g, as_uninit(&mut grad_w), split);
            } else {
                product_add_into(a, g, &mut grad_w, split);
            }
        };
        let grad_x = match kind {
            ConvKind::Gathered => {
                // y = gather(x) @ w: the weight's gradient sums gather(x)^T @ grad over the
                // blocks; x's is the scatter of grad @ w^T.
                let per_block = images_per_block(out_pixels, batch);
                let split = split(per_block, batch);
                let mut patches = scratch(per_block * out_pixels * k);
                let mut grad_x = Vec::with_capacity(if wanted.input { x_rows * c_in } else { 0 });
                let spare = grad_x.spare_capacity_mut();
                for b in blocks(windows, per_block) {
                    let rows = b.images * out_pixels;
                    let patches = &mut patches[..rows * k];
                    let g = Matrix::rows(block_grad(&b), (rows, n));
                    if wanted.weight {
                        window_pass(isa, b.windows, pass, c_in, block_x(&b), patches);
                        // SAFETY: the pass wrote every window.
                        let patches = Matrix::rows(unsafe { written(patches) }, (rows, k));
                        add_to_grad_w(&b, patches.transposed(), g, split);
                    }
                    if wanted.input {
                        product_into(g, w_t, patches, split);
                        // SAFETY: the product wrote every window's gradient.
                        let patches = unsafe { written(patches) };
                        let out =
                            &mut spare[b.first * x_pixels * c_in..][..b.images * x_pixels * c_in];
                        window_pass(isa, b.windows, pass.adjoint(), c_in, patches, out);
                    }
                }
                if wanted.input {
                    // SAFETY: the blocks cover every image, and each pass wrote its pixels.
                    unsafe { grad_x.set_len(x_rows * c_in) };
                }
                grad_x
            }
            ConvKind::Contributed | ConvKind::Transposed => {
                // y = pass(x @ w): with g = the adjoint pass of grad, x's gradient is g @ w^T
                // and the weight's sums x^T @ g over the blocks.
                let per_block = images_per_block(x_pixels, batch);
                let split = split(per_block, batch);
                let mut g = scratch(per_block * x_pixels * n);
                let mut grad_x = Vec::with_capacity(if wanted.input { x_rows * c_in } else { 0 });
                let spare = grad_x.spare_capacity_mut();
                for b in blocks(windows, per_block) {
                    let rows = b.images * x_pixels;
                    let g = &mut g[..rows * n];
                    window_pass(isa, b.windows, pass.adjoint(), c_out, block_grad(&b), g);
                    // SAFETY: the pass wrote every tap's gradient.
                    let g = Matrix::rows(unsafe { written(g) }, (rows, n));
                    if wanted.input {
                        let dst = &mut spare[b.first * x_pixels * c_in..][..rows * c_in];
                        product_into(g, w_t, dst, split);
                    }
                    if wanted.weight {
                        let x = Matrix::rows(block_x(&b), (rows, c_in));
                        add_to_grad_w(&b, x.transposed(), g, split);
                    }
                }
                if wanted.input {
                    // SAFETY: the blocks cover every image, and each product wrote its rows.
                    unsafe { grad_x.set_len(x_rows * c_in) };
                }
                grad_x
            }
        };
        let shape = |wanted: bool, rows: usize, cols: usize| {
            if wanted { vec![rows, cols] } else { vec![0, 0] }
        };
        (
            flex_tensor(grad_x, shape(wanted.input, x_rows, c_in)),
            flex_tensor(grad_w, shape(wanted.weight, k, n)),
        )
    }
}

/// Burn's autodiff around the kernel: `x` and the weight are kept, and the output where the
/// ReLU's gradient needs it; the backward pass takes the ReLU's gradient, sums the bias's, and
/// computes the others asked for in the same blocks as the forward pass.
impl<B, C> WindowProductOps for Autodiff<B, C>
where
    B: Backend + WindowProductOps + LinearOps,
    C: CheckpointStrategy,
{
    fn window_product(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        windows: Windows,
        kind: ConvKind,
        relu: bool,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Adjoint {
            windows: Windows,
            kind: ConvKind,
        }

        impl<B: Backend + WindowProductOps + LinearOps> Backward<B, 3> for Adjoint {
            /// `x`, the weight, and the output after a ReLU.
            type State = (FloatTensor<B>, FloatTensor<B>, Option<FloatTensor<B>>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight, node_bias] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, weight, after_relu) = ops.state;
                let grad = match after_relu {
                    Some(y) => B::relu_backward(y, grad),
                    None => grad,
                };
                if let Some(node) = node_bias {
                    grads.register::<B>(node.id, B::dense_bias_grad(grad.clone()));
                }
                let wanted = Wanted {
                    input: node_x.is_some(),
                    weight: node_weight.is_some(),
                };
                if wanted.input || wanted.weight {
                    let (grad_x, grad_w) =
                        B::window_product_grads(x, weight, grad, self.windows, self.kind, wanted);
                    if let Some(node) = node_x {
                        grads.register::<B>(node.id, grad_x);
                    }
                    if let Some(node) = node_weight {
                        grads.register::<B>(node.id, grad_w);
                    }
                }
            }
        }

        match (Adjoint { windows, kind })
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.into_primitive(), weight.into_primitive());
                let bias = bias.into_primitive();
                let out = B::window_product(x.clone(), weight.clone(), bias, windows, kind, relu);
                prep.finish((x, weight, relu.then(|| out.clone())), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::window_product(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                windows,
                kind,
                relu,
            )),
        }
    }

    fn window_product_grads(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        windows: Windows,
        kind: ConvKind,
        wanted: Wanted,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (grad_x, grad_w) = B::window_product_grads(
            x.into_primitive(),
            weight.into_primitive(),
            grad.into_primitive(),
            windows,
            kind,
            wanted,
        );
        (
            FloatTensor::<Self>::new(grad_x),
            FloatTensor::<Self>::new(grad_w),
        )
    }
}

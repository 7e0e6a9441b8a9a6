//! The data movement of a 3x3 (transposed) convolution on channels-last rows, as burn-flex
//! kernels that compute each pixel's window from the grids: no index tables, no zeroed scatter
//! targets, no padding row.
//!
//! Composed of Burn's ops, the conv stacks gathered windows with `select` through an index
//! table of 9 `i64` per pixel (after appending a zero row to the input), and added
//! contributions with `select_assign` into a zeroed table one row too long, then sliced it:
//! 14% of a conv training step in `perf` (docs/benchmarks.md, round four), and tables larger
//! than the activations. Each [`WindowKind`] here is one pass that writes every output value once (the
//! scatter adds into one zeroed output), and the backward pass of each is its adjoint, another
//! kind. No crate offers these for Burn; they are a backend extension with the backward written
//! out. Other backends run Burn's convolutions instead (`ConvPath`).

use super::flex::{flex_tensor, values};
use super::simd::{isa, multiversion};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;

/// Spatial size of a batch of channels-last images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grid {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
}

impl Grid {
    pub fn rows(&self) -> usize {
        self.batch * self.height * self.width
    }
}

/// Where the input pixels of a 3x3 window sit: `ih = oh * stride + kh + offset[0]`, and the same
/// for widths with `offset[1]`. An offset is minus the padding, plus any crop of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub stride: usize,
    pub offset: [isize; 2],
}

/// Taps of a 3x3 window.
pub const TAPS: usize = 9;

/// The 3x3 windows of a convolution from the `input` grid to the `output` grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub input: Grid,
    pub output: Grid,
    pub window: Window,
}

impl Windows {
    /// `f(o, k, i)` for every output pixel `o` and tap `k` whose input pixel `i` is inside the
    /// input grid (taps in the padding read zeros, so they are skipped).
    #[inline(always)]
    fn each(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (input, output) = (self.input, self.output);
        let (stride, [top, left]) = (self.window.stride, self.window.offset);
        let inside = |i: isize, size: usize| (i >= 0 && (i as usize) < size).then_some(i as usize);
        for n in 0..output.batch {
            for oh in 0..output.height {
                for ow in 0..output.width {
                    let o = (n * output.height + oh) * output.width + ow;
                    for kh in 0..3 {
                        let Some(ih) = inside((oh * stride + kh) as isize + top, input.height)
                        else {
                            continue;
                        };
                        for kw in 0..3 {
                            let Some(iw) = inside((ow * stride + kw) as isize + left, input.width)
                            else {
                                continue;
                            };
                            f(o, kh * 3 + kw, (n * input.height + ih) * input.width + iw);
                        }
                    }
                }
            }
        }
    }
}

/// What moves where through the windows; `c` is a layer's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Input rows `[input, c]` to each output pixel's window `[output, 9c]` (im2col).
    Gather,
    /// The adjoint of `Gather`: window rows `[output, 9c]` added back onto the input pixels
    /// they came from, `[input, c]`. A transposed convolution's output.
    Scatter,
    /// Per input pixel, its contribution to each tap's output pixel, `[input, 9c]`, summed per
    /// output pixel, `[output, c]`: a convolution that has fewer outputs than inputs.
    TapSum,
    /// The adjoint of `TapSum`: each output pixel's `[output, c]` copied to the taps of the
    /// input pixels that reach it, `[input, 9c]`.
    TapSpread,
}

impl WindowKind {
    /// The kind whose pass is this one's backward pass.
    fn adjoint(self) -> Self {
        match self {
            WindowKind::Gather => WindowKind::Scatter,
            WindowKind::Scatter => WindowKind::Gather,
            WindowKind::TapSum => WindowKind::TapSpread,
            WindowKind::TapSpread => WindowKind::TapSum,
        }
    }
}

/// `x` moved through `windows` as `kind` says: a tensor of `[rows, columns]` to another.
pub fn window_op(x: Tensor<2>, windows: Windows, kind: WindowKind) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as WindowOps>::window_op(
        x.into_dispatch(),
        windows,
        kind,
    ))
}

/// The window passes as backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait WindowOps: Backend {
    fn window_op(x: FloatTensor<Self>, windows: Windows, kind: WindowKind) -> FloatTensor<Self>;
}

impl WindowOps for Flex {
    fn window_op(x: FlexTensor, windows: Windows, kind: WindowKind) -> FlexTensor {
        let columns = x.layout().shape()[1];
        let x = values(&x);
        let (input, output) = (windows.input.rows(), windows.output.rows());
        let (rows, c, out_columns) = match kind {
            WindowKind::Gather => (output, columns, TAPS * columns),
            WindowKind::Scatter => (input, columns / TAPS, columns / TAPS),
            WindowKind::TapSum => (output, columns / TAPS, columns / TAPS),
            WindowKind::TapSpread => (input, columns, TAPS * columns),
        };
        let mut out = vec![0f32; rows * out_columns];
        window_pass(isa(), windows, kind, c, &x, &mut out);
        flex_tensor(out, vec![rows, out_columns])
    }
}

/// `to = from`; a single value without the call to `memcpy` that `copy_from_slice` makes (the
/// image layers have one channel).
#[inline(always)]
fn copy(to: &mut [f32], from: &[f32]) {
    if let ([t], [f]) = (&mut *to, from) {
        *t = *f;
    } else {
        to.copy_from_slice(from);
    }
}

/// `to += from`, element by element: the same sums in the same order on every instruction set.
#[inline(always)]
fn add(to: &mut [f32], from: &[f32]) {
    to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
}

multiversion! {
    /// `kind`'s pass of `x` into the zeroed `out`, with `c` channels per tap.
    fn window_pass(windows: Windows, kind: WindowKind, c: usize, x: &[f32], out: &mut [f32]) {
        match kind {
            WindowKind::Gather => windows.each(|o, k, i| {
                copy(&mut out[(o * TAPS + k) * c..][..c], &x[i * c..][..c]);
            }),
            WindowKind::Scatter => windows.each(|o, k, i| {
                add(&mut out[i * c..][..c], &x[(o * TAPS + k) * c..][..c]);
            }),
            WindowKind::TapSum => windows.each(|o, k, i| {
                add(&mut out[o * c..][..c], &x[(i * TAPS + k) * c..][..c]);
            }),
            WindowKind::TapSpread => windows.each(|o, k, i| {
                copy(&mut out[(i * TAPS + k) * c..][..c], &x[o * c..][..c]);
            }),
        }
    }
}

/// Burn's autodiff around the window passes: each is linear, so its backward pass is its
/// adjoint applied to the output's gradient.
impl<B: Backend + WindowOps, C: CheckpointStrategy> WindowOps for Autodiff<B, C> {
    fn window_op(x: FloatTensor<Self>, windows: Windows, kind: WindowKind) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Adjoint {
            windows: Windows,
            kind: WindowKind,
        }

        impl<B: Backend + WindowOps> Backward<B, 1> for Adjoint {
            type State = ();

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::window_op(grad, self.windows, self.kind.adjoint())
                });
            }
        }

        let prep = Adjoint { windows, kind }
            .prepare::<C>([x.node()])
            .compute_bound();
        prep.stateless(B::window_op(x.into_primitive(), windows, kind))
    }
}

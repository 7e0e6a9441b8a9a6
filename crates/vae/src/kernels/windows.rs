//! The data movement of a 3x3 (transposed) convolution on channels-last rows: passes that
//! compute each pixel's window from the grids, with no index tables, no zeroed scatter targets
//! and no padding row.
//!
//! Composed of Burn's ops, the conv stacks gathered windows with `select` through an index
//! table of 9 `i64` per pixel (after appending a zero row to the input), and added
//! contributions with `select_assign` into a zeroed table one row too long, then sliced it:
//! 14% of a conv training step in `perf` (docs/benchmarks.md, round four), and tables larger
//! than the activations. Each [`WindowKind`] here is one pass that writes every output value
//! once (the scatter adds into one zeroed output), and each kind's adjoint is another kind,
//! which is how [`super::window_product`] runs the backward pass. No crate offers these.

use super::simd::multiversion;

/// Spatial size of a batch of channels-last images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grid {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
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
    pub fn adjoint(self) -> Self {
        match self {
            WindowKind::Gather => WindowKind::Scatter,
            WindowKind::Scatter => WindowKind::Gather,
            WindowKind::TapSum => WindowKind::TapSpread,
            WindowKind::TapSpread => WindowKind::TapSum,
        }
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
    pub fn window_pass(windows: Windows, kind: WindowKind, c: usize, x: &[f32], out: &mut [f32]) {
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

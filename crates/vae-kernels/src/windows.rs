//! The data movement of a 3x3 (transposed) convolution on channels-last rows: passes that
//! compute each pixel's window from the grids, with no index tables, no zero-filled outputs
//! and no padding row.
//!
//! Composed of Burn's ops, the conv stacks gathered windows with `select` through an index
//! table of 9 `i64` per pixel (after appending a zero row to the input), and added
//! contributions with `select_assign` into a zeroed table one row too long, then sliced it:
//! 14% of a conv training step in `perf` (docs/benchmarks.md, round four), and tables larger
//! than the activations. Each [`WindowKind`] here is one pass that writes every output value
//! once: a scatter-add sums each output pixel's terms where it adds them (no zeroed target,
//! read back term by term), and a gather writes the padding's zeros itself. Each kind's adjoint
//! is another kind, which is how [`super::window_product`] runs the backward pass. No crate
//! offers these.

use super::simd::{Isa, multiversion};
use std::mem::MaybeUninit;

/// Spatial size of a batch of channels-last images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grid {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
}

impl Grid {
    /// `batch * height * width`; panics rather than wrap.
    pub fn pixels(&self) -> usize {
        self.batch
            .checked_mul(self.height)
            .and_then(|p| p.checked_mul(self.width))
            .unwrap_or_else(|| panic!("a grid of {self:?} has more pixels than memory can hold"))
    }
}

/// `pixels * values`; panics rather than wrap.
fn values_of(pixels: usize, values: usize) -> usize {
    pixels.checked_mul(values).unwrap_or_else(|| {
        panic!("{pixels} pixels of {values} values are more than memory can hold")
    })
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

/// One position on an axis and the positions on the other grid's axis that its window's 3
/// taps along the axis pair it with.
#[derive(Debug, Clone, Copy)]
struct Taps {
    /// Per tap, its partner, if inside the other grid.
    each: [Option<usize>; 3],
    /// `(tap, partner)` for the first `len` taps that have one, by partner ascending.
    pairs: [(usize, usize); 3],
    len: usize,
}

impl Taps {
    fn new(each: [Option<usize>; 3]) -> Self {
        let mut pairs = [(0, 0); 3];
        let mut len = 0;
        for (k, partner) in each.iter().enumerate() {
            if let Some(partner) = *partner {
                pairs[len] = (k, partner);
                len += 1;
            }
        }
        pairs[..len].sort_by_key(|&(_, partner)| partner);
        Taps { each, pairs, len }
    }

    fn pairs(&self) -> &[(usize, usize)] {
        &self.pairs[..self.len]
    }
}

/// Per position on an axis, each tap's partner on the other grid's axis, if any.
type Axis = Vec<[Option<usize>; 3]>;

/// Which pixels of the other grid each pixel of a grid pairs with through the windows, axis
/// by axis, built once per pass: no division or bounds test per tap.
struct Pairing {
    grid: Grid,
    other: Grid,
    heights: Vec<Taps>,
    widths: Vec<Taps>,
}

impl Windows {
    /// Panics unless the two grids hold the same images and their pixels can be counted.
    pub fn check(&self) {
        assert_eq!(
            self.input.batch, self.output.batch,
            "the windows of a convolution take {} images to {}",
            self.input.batch, self.output.batch
        );
        self.input.pixels();
        self.output.pixels();
    }

    /// Per output position `o` on an axis of the input's `input` and the output's `output`
    /// positions, the input position each tap `k` reads: `o * stride + k + offset`, if inside.
    fn taps_read(&self, input: usize, output: usize, offset: isize) -> Axis {
        let stride = self.window.stride as isize;
        (0..output as isize)
            .map(|o| {
                std::array::from_fn(|k| {
                    let i = o * stride + k as isize + offset;
                    (0..input as isize).contains(&i).then_some(i as usize)
                })
            })
            .collect()
    }

    /// Per input position `i` on an axis, the output position whose tap `k` reads it, if any:
    /// the inverse of [`Windows::taps_read`].
    fn taps_reaching(&self, input: usize, output: usize, offset: isize) -> Axis {
        let mut axis = vec![[None; 3]; input];
        for (o, taps) in self.taps_read(input, output, offset).iter().enumerate() {
            for (k, i) in taps.iter().enumerate() {
                if let Some(i) = *i {
                    axis[i][k] = Some(o);
                }
            }
        }
        axis
    }

    /// Each output pixel's window: the input pixel each tap reads (none in the padding).
    fn by_output(&self) -> Pairing {
        self.pairing(self.output, self.input, Self::taps_read)
    }

    /// Each input pixel's reach: per tap, the output pixel whose window reads it there.
    fn by_input(&self) -> Pairing {
        self.pairing(self.input, self.output, Self::taps_reaching)
    }

    /// The pairing of `grid`'s pixels with `other`'s, axis by axis through `axis`.
    fn pairing(
        &self,
        grid: Grid,
        other: Grid,
        axis: fn(&Self, usize, usize, isize) -> Axis,
    ) -> Pairing {
        let (input, output, [top, left]) = (self.input, self.output, self.window.offset);
        let taps = |axis: Vec<_>| axis.into_iter().map(Taps::new).collect();
        Pairing {
            grid,
            other,
            heights: taps(axis(self, input.height, output.height, top)),
            widths: taps(axis(self, input.width, output.width, left)),
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
    /// How many values the pass of `windows` with `c` channels reads and writes: `(x, out)`.
    fn lengths(self, windows: Windows, c: usize) -> (usize, usize) {
        let (input, output) = (windows.input.pixels(), windows.output.pixels());
        let (per_pixel, per_tap) = (c, values_of(TAPS, c));
        match self {
            WindowKind::Gather => (values_of(input, per_pixel), values_of(output, per_tap)),
            WindowKind::Scatter => (values_of(output, per_tap), values_of(input, per_pixel)),
            WindowKind::TapSum => (values_of(input, per_tap), values_of(output, per_pixel)),
            WindowKind::TapSpread => (values_of(output, per_pixel), values_of(input, per_tap)),
        }
    }

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

/// `to = from`; a single value without the call to `memcpy` that a slice copy makes (the
/// image layers have one channel).
#[inline(always)]
fn copy(to: &mut [MaybeUninit<f32>], from: &[f32]) {
    if let ([t], [f]) = (&mut *to, from) {
        t.write(*f);
    } else {
        to.write_copy_of_slice(from);
    }
}

#[inline(always)]
fn zero(to: &mut [MaybeUninit<f32>]) {
    to.iter_mut().for_each(|t| {
        t.write(0.0);
    });
}

/// `to = 0 + from`: the first term of a sum, as it was added onto zeros.
#[inline(always)]
fn start(to: &mut [MaybeUninit<f32>], from: &[f32]) {
    to.iter_mut().zip(from).for_each(|(t, f)| {
        t.write(0.0 + f);
    });
}

/// `to += from`, element by element: the same sums in the same order on every instruction set.
///
/// # Safety
/// `to` has been written.
#[inline(always)]
unsafe fn add(to: &mut [MaybeUninit<f32>], from: &[f32]) {
    // SAFETY: the caller wrote `to`.
    let to = unsafe { to.assume_init_mut() };
    to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
}

/// Every pixel's `c` channels copied to the rows `[pixels, 9c]` of the taps that pair with it
/// (`x` is `[other pixels, c]`), zeros where none does.
#[inline(always)]
fn spread<const C: usize>(pairing: &Pairing, c: usize, x: &[f32], out: &mut [MaybeUninit<f32>]) {
    let c = channels::<C>(c);
    let Pairing { grid, other, .. } = *pairing;
    for n in 0..grid.batch {
        for (h, rows) in pairing.heights.iter().enumerate() {
            for (w, cols) in pairing.widths.iter().enumerate() {
                let p = (n * grid.height + h) * grid.width + w;
                let to = &mut out[p * TAPS * c..][..TAPS * c];
                for (kh, row) in rows.each.iter().enumerate() {
                    for (kw, col) in cols.each.iter().enumerate() {
                        let to = &mut to[(kh * 3 + kw) * c..][..c];
                        match (row, col) {
                            (Some(row), Some(col)) => {
                                let q = (n * other.height + row) * other.width + col;
                                copy(to, &x[q * c..][..c]);
                            }
                            _ => zero(to),
                        }
                    }
                }
            }
        }
    }
}

/// Every pixel's sum `[pixels, c]` of the tap rows that pair with it (`x` is `[other pixels,
/// 9c]`), zeros where none does. The terms come in the order of their partner pixels, which
/// is the order in which they were added onto a zeroed output partner by partner, before the
/// passes wrote each value once: the sums are those of then, on every instruction set.
#[inline(always)]
fn sums<const C: usize>(pairing: &Pairing, c: usize, x: &[f32], out: &mut [MaybeUninit<f32>]) {
    let c = channels::<C>(c);
    let Pairing { grid, other, .. } = *pairing;
    for n in 0..grid.batch {
        for (h, rows) in pairing.heights.iter().enumerate() {
            for (w, cols) in pairing.widths.iter().enumerate() {
                let p = (n * grid.height + h) * grid.width + w;
                if c == 1 {
                    // One channel (the output convolution's): the sum in a register, where the
                    // vector loops' set-up per tap took longer than the adds.
                    let mut sum = 0.0;
                    for &(kh, row) in rows.pairs() {
                        for &(kw, col) in cols.pairs() {
                            let q = (n * other.height + row) * other.width + col;
                            sum += x[q * TAPS + kh * 3 + kw];
                        }
                    }
                    out[p].write(sum);
                    continue;
                }
                let to = &mut out[p * c..][..c];
                let mut written = false;
                for &(kh, row) in rows.pairs() {
                    for &(kw, col) in cols.pairs() {
                        let q = (n * other.height + row) * other.width + col;
                        let from = &x[(q * TAPS + kh * 3 + kw) * c..][..c];
                        if written {
                            // SAFETY: the first term was written.
                            unsafe { add(to, from) };
                        } else {
                            start(to, from);
                            written = true;
                        }
                    }
                }
                if !written {
                    zero(to);
                }
            }
        }
    }
}

/// `C` channels, or `c` where `C` is 0: a pass compiled for a fixed channel count runs its
/// rows as whole vectors. With a count known only at run time, LLVM's loops take 64 values at a
/// time and ran rows of 32 (the conv VAE's last transposed convolution) through their 8-value
/// remainder, and the one-channel output convolution through loop set-ups per value.
#[inline(always)]
fn channels<const C: usize>(c: usize) -> usize {
    if C == 0 { c } else { C }
}

/// `pass::<C>(args)` for the channel counts of the built-in models, `pass::<0>` (any) for
/// others.
macro_rules! by_channels {
    ($pass:ident($pairing:expr, $c:expr, $($arg:expr),*)) => {
        match $c {
            1 => $pass::<1>($pairing, $c, $($arg),*),
            32 => $pass::<32>($pairing, $c, $($arg),*),
            64 => $pass::<64>($pairing, $c, $($arg),*),
            128 => $pass::<128>($pairing, $c, $($arg),*),
            _ => $pass::<0>($pairing, $c, $($arg),*),
        }
    };
}

/// `kind`'s pass of `x` into `out`, with `c` channels per tap; panics unless `x` and `out`
/// hold exactly the values of the grids ([`WindowKind::lengths`]). Every value of `out` is
/// written (taps in the padding as zeros), so it needs no zero-filling first: filling was
/// a pass of its own, 4% of the importance-weighted bound of the conv VAE.
pub fn window_pass(
    isa: Isa,
    windows: Windows,
    kind: WindowKind,
    c: usize,
    x: &[f32],
    out: &mut [MaybeUninit<f32>],
) {
    windows.check();
    let (x_len, out_len) = kind.lengths(windows, c);
    assert!(
        x.len() == x_len && out.len() == out_len,
        "a {kind:?} pass of {windows:?} with {c} channels reads {x_len} values and writes \
         {out_len}, not {} and {}",
        x.len(),
        out.len()
    );
    pass(isa, windows, kind, c, x, out)
}

multiversion! {
    /// [`window_pass`] compiled for `isa`.
    fn pass(windows: Windows, kind: WindowKind, c: usize, x: &[f32], out: &mut [MaybeUninit<f32>]) {
        match kind {
            WindowKind::Gather => by_channels!(spread(&windows.by_output(), c, x, out)),
            WindowKind::TapSpread => by_channels!(spread(&windows.by_input(), c, x, out)),
            WindowKind::Scatter => by_channels!(sums(&windows.by_input(), c, x, out)),
            WindowKind::TapSum => by_channels!(sums(&windows.by_output(), c, x, out)),
        }
    }
}

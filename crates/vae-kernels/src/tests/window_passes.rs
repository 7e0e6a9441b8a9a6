//! The window passes under the conv layers: every value written, each kind pinned to the
//! gather's definition by inner products, on every instruction set; lengths that do not fit
//! their grids refused.

use super::{panics_with, random, values};
use crate::simd::Isa;
use crate::windows::{Grid, TAPS, Window, WindowKind, Windows, window_pass};
use burn::prelude::*;
use std::mem::MaybeUninit;

/// `kind`'s window pass of `x` on `isa` into an output filled with NaN: a value the pass does
/// not write stays NaN.
fn pass_over_nan(
    isa: Isa,
    windows: Windows,
    kind: WindowKind,
    c: usize,
    x: &[f32],
    len: usize,
) -> Vec<f64> {
    let mut out = vec![MaybeUninit::new(f32::NAN); len];
    window_pass(isa, windows, kind, c, x, &mut out);
    // SAFETY: every value was initialised with NaN.
    out.iter()
        .map(|v| unsafe { v.assume_init() } as f64)
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// The window passes write every value of outputs that were never zero-filled (filled with NaN
/// here), on every instruction set alike. The gather equals its definition, `ih = oh * stride +
/// kh + offset` with zeros outside the input, and the other kinds are pinned to it by their
/// inner products: the scatter-add is its adjoint, the tap spread its transpose through the
/// same windows, and the tap sum the tap spread's adjoint. Strides 1 and 2, padding, a crop
/// (the output convolution), windows wholly in the padding and pixels no window reaches, odd
/// sizes, one channel, colour, the channel counts the passes are compiled for (32, 64, 128)
/// and counts that are no multiple of a vector (5, 12, 17), and one image.
#[test]
fn window_passes_write_every_value_and_are_adjoints_of_the_gather() {
    let cases = [
        // (batch, input height, width, output height, width, stride, offset, channels)
        (2, 7, 5, 7, 5, 1, [-1, -1], 1),
        (1, 32, 32, 28, 28, 1, [1, 1], 1),
        (3, 9, 6, 5, 3, 2, [-1, -1], 3),
        (1, 28, 28, 16, 16, 2, [-3, -3], 1),
        (2, 26, 28, 16, 16, 2, [-3, -4], 3),
        (1, 9, 8, 5, 5, 1, [1, 1], 3),
        (2, 8, 8, 4, 4, 2, [-1, -1], 32),
        (1, 6, 10, 3, 5, 2, [-1, -1], 64),
        (1, 4, 6, 2, 3, 2, [-1, -1], 128),
        (2, 5, 3, 3, 2, 2, [-1, -1], 12),
        (1, 4, 4, 2, 2, 2, [-1, -1], 17),
        (1, 5, 5, 5, 5, 1, [-1, -1], 5),
    ];
    let device = Device::flex();
    for (seed, (batch, ih, iw, oh, ow, stride, offset, c)) in cases.into_iter().enumerate() {
        let grid = |height, width| Grid {
            batch,
            height,
            width,
        };
        let windows = Windows {
            input: grid(ih, iw),
            output: grid(oh, ow),
            window: Window { stride, offset },
        };
        let (inputs, outputs) = (batch * ih * iw, batch * oh * ow);
        let what = format!("{batch}x{ih}x{iw} -> {oh}x{ow}, stride {stride}, {c} channels");
        let seed = 10 * seed as u64;
        let x = values(random(inputs, c, seed, &device));
        let y = values(random(outputs, TAPS * c, seed + 1, &device));
        let z = values(random(outputs, c, seed + 2, &device));
        let u = values(random(inputs, TAPS * c, seed + 3, &device));
        let wide = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<_>>();
        let base = Isa::Scalar;
        let gather = pass_over_nan(base, windows, WindowKind::Gather, c, &x, outputs * TAPS * c);
        let scatter = pass_over_nan(base, windows, WindowKind::Scatter, c, &y, inputs * c);
        let spread = pass_over_nan(
            base,
            windows,
            WindowKind::TapSpread,
            c,
            &z,
            inputs * TAPS * c,
        );
        let sum = pass_over_nan(base, windows, WindowKind::TapSum, c, &u, outputs * c);
        for (name, out) in [
            ("gather", &gather),
            ("scatter", &scatter),
            ("spread", &spread),
            ("sum", &sum),
        ] {
            assert!(
                out.iter().all(|v| v.is_finite()),
                "{what}: {name} left a value unwritten"
            );
        }
        let mut expected = vec![0f64; outputs * TAPS * c];
        for n in 0..batch {
            for (o_h, o_w) in (0..oh).flat_map(|h| (0..ow).map(move |w| (h, w))) {
                for (kh, kw) in (0..3).flat_map(|h| (0..3).map(move |w| (h, w))) {
                    let at = |o: usize, k: usize, offset: isize, size: usize| {
                        let i = (o * stride + k) as isize + offset;
                        (0..size as isize).contains(&i).then_some(i as usize)
                    };
                    let (Some(i_h), Some(i_w)) =
                        (at(o_h, kh, offset[0], ih), at(o_w, kw, offset[1], iw))
                    else {
                        continue;
                    };
                    let o = (n * oh + o_h) * ow + o_w;
                    let i = (n * ih + i_h) * iw + i_w;
                    for ch in 0..c {
                        expected[(o * TAPS + kh * 3 + kw) * c + ch] = x[i * c + ch] as f64;
                    }
                }
            }
        }
        assert_eq!(gather, expected, "{what}: gather");
        let close = |a: f64, b: f64, name: &str| {
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1.0),
                "{what}: {name}: {a} against {b}"
            );
        };
        close(
            dot(&gather, &wide(&y)),
            dot(&wide(&x), &scatter),
            "scatter, the gather's adjoint",
        );
        close(
            dot(&spread, &wide(&u)),
            dot(&wide(&z), &sum),
            "tap sum, the tap spread's adjoint",
        );
        // Both sum x[i] z[o] over the (o, k, i) of every tap inside the input.
        let through_gather: f64 = (0..outputs * TAPS * c)
            .map(|j| gather[j] * z[(j / (TAPS * c)) * c + j % c] as f64)
            .sum();
        let through_spread: f64 = (0..inputs * TAPS * c)
            .map(|j| spread[j] * x[(j / (TAPS * c)) * c + j % c] as f64)
            .sum();
        close(
            through_gather,
            through_spread,
            "tap spread, the gather's transpose",
        );
        for isa in Isa::supported() {
            let pass = |kind, x: &[f32], len| pass_over_nan(isa, windows, kind, c, x, len);
            assert_eq!(
                pass(WindowKind::Gather, &x, gather.len()),
                gather,
                "{what} {isa:?}"
            );
            assert_eq!(
                pass(WindowKind::Scatter, &y, scatter.len()),
                scatter,
                "{what} {isa:?}"
            );
            assert_eq!(
                pass(WindowKind::TapSpread, &z, spread.len()),
                spread,
                "{what} {isa:?}"
            );
            assert_eq!(
                pass(WindowKind::TapSum, &u, sum.len()),
                sum,
                "{what} {isa:?}"
            );
        }
    }
}

/// A pass whose buffers are not those of its grids, or whose grids hold different images, is
/// refused: the product after it would have taken values never written for outputs.
#[test]
fn window_passes_refuse_buffers_that_do_not_fit_their_grids() {
    let windows = Windows {
        input: Grid {
            batch: 2,
            height: 4,
            width: 4,
        },
        output: Grid {
            batch: 2,
            height: 2,
            width: 2,
        },
        window: Window {
            stride: 2,
            offset: [-1, -1],
        },
    };
    let c = 3;
    let x = vec![0.5; 2 * 16 * c];
    for isa in Isa::supported() {
        // A gather writes 9 values a channel for each of the 8 output pixels: one short.
        panics_with("reads 96 values and writes 216", || {
            window_pass(
                isa,
                windows,
                WindowKind::Gather,
                c,
                &x,
                &mut vec![MaybeUninit::uninit(); 215],
            );
        });
        panics_with("reads 96 values and writes 216", || {
            window_pass(
                isa,
                windows,
                WindowKind::Gather,
                c,
                &x[1..],
                &mut vec![MaybeUninit::uninit(); 216],
            );
        });
        // One too many values out: the last would be left unwritten.
        panics_with("reads 216 values and writes 96", || {
            window_pass(
                isa,
                windows,
                WindowKind::Scatter,
                c,
                &vec![0.5; 216],
                &mut vec![MaybeUninit::uninit(); 97],
            );
        });
        let other = Windows {
            output: Grid {
                batch: 1,
                ..windows.output
            },
            ..windows
        };
        panics_with("take 2 images to 1", || {
            window_pass(
                isa,
                other,
                WindowKind::Gather,
                c,
                &x,
                &mut vec![MaybeUninit::uninit(); 108],
            );
        });
    }
}

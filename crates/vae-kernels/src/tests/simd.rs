//! The element-wise kernels give the same numbers on every level the CPU runs, and agree with
//! their arithmetic in f64.

use super::{random, values};
use crate::adam::{AdamStep, adam_update};
use crate::bernoulli_loss::{bce_with_logits_gradient, bce_with_logits_sum_on};
use crate::simd::Isa;
use crate::sum_of_squares::sum_of_squares;
use burn::prelude::*;

/// Logits over the whole range (both tails, 0) and pixels in [0, 1], `len` of each.
fn logit_row(len: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let device = Device::flex();
    let mut l = values(random(1, len, seed, &device).mul_scalar(8.0));
    for (v, tail) in l.iter_mut().zip([120.0, -120.0, 0.0, -30.0]) {
        *v = tail;
    }
    let x = values(random(1, len, seed + 1, &device).abs().clamp_max(1.0));
    (l, x)
}

/// The kernels dispatched at run time give the same numbers on every instruction set this CPU
/// runs (the baseline copy is what a CPU without AVX2 runs), and the loss kernels agree with
/// the same arithmetic in f64: `exp` and `ln_1p` are our own polynomials.
#[test]
fn simd_kernels_agree_on_every_instruction_set_and_with_f64() {
    let isas = Isa::supported();
    assert_eq!(isas[0], Isa::Scalar);
    // One pixel of value 0 at a time: softplus(l) itself, to a few ulps, from logits whose
    // softplus is 1.8e-35 (exp(-80)) to those where ln(1 + exp(-|l|)) vanishes against l.
    for i in 0..=3600 {
        let l = i as f32 / 20.0 - 80.0;
        let exact = (l as f64).max(0.0) + (-(l as f64).abs()).exp().ln_1p();
        let ours = bce_with_logits_sum_on(Isa::Scalar, &[l], &[0.0]) as f64;
        assert!(
            (ours - exact).abs() <= 4e-7 * exact.abs(),
            "logit {l}: {ours} against {exact}"
        );
    }
    // Rows of one logit: the vectors' path, which multiplies `1 + exp(-|l|)` per lane and moves
    // the product's exponent out every 16 vectors (3 times here, plus a tail of 3 pixels), from
    // factors that round to 1 to factors of 2 and logits where the factor is lost against `l`.
    // Each factor rounds once, about 6e-8 of its `ln` a pixel, and the f32 sum of `max(l, 0)`
    // rounds to about 1e-6 of the row.
    let n = 787;
    for i in 0..=1800 {
        let l = i as f32 / 10.0 - 80.0;
        let exact = n as f64 * ((l as f64).max(0.0) + (-(l as f64).abs()).exp().ln_1p());
        let ours = bce_with_logits_sum_on(Isa::Scalar, &vec![l; n], &vec![0.0; n]) as f64;
        let error = (ours - exact).abs() / (n as f64 * 1e-7 + exact * 2e-6);
        assert!(error <= 1.0, "{n} logits {l}: {ours} against {exact}");
    }
    for len in [1, 15, 16, 17, 100, 787] {
        let (l, x) = logit_row(len, len as u64);
        let exact: f64 = l
            .iter()
            .zip(&x)
            .map(|(&l, &x)| {
                let (l, x) = (l as f64, x as f64);
                l.max(0.0) + (-l.abs()).exp().ln_1p() - l * x
            })
            .sum();
        let base = bce_with_logits_sum_on(Isa::Scalar, &l, &x);
        assert!(
            (base as f64 - exact).abs() <= 1e-5 * exact.abs().max(1.0),
            "{len} pixels: {base} against {exact}"
        );
        let gradient = |isa| {
            let mut out = vec![f32::NAN; len];
            bce_with_logits_gradient(isa, &l, &x, 0.75, &mut out);
            out
        };
        let base_gradient = gradient(Isa::Scalar);
        for ((&g, &l), &x) in base_gradient.iter().zip(&l).zip(&x) {
            let exact = (1.0 / (1.0 + (-l as f64).exp()) - x as f64) * 0.75;
            assert!(
                (g as f64 - exact).abs() <= 1e-6,
                "logit {l}: {g} against {exact}"
            );
        }
        let step = AdamStep {
            beta_1: 0.9,
            beta_2: 0.999,
            step_size: 0.3,
            epsilon: 1e-9,
            lr: 1e-3,
        };
        let adam = |isa| {
            let (mut p, mut m, mut v) = (x.clone(), l.clone(), x.clone());
            adam_update(isa, &mut p, &mut m, &mut v, &l, step);
            [p, m, v]
        };
        let base_adam = adam(Isa::Scalar);
        let squares = sum_of_squares(Isa::Scalar, &l);
        let exact: f64 = l.iter().map(|&v| (v as f64).powi(2)).sum();
        assert!(
            (squares as f64 - exact).abs() <= 1e-6 * exact,
            "{squares} against {exact}"
        );
        for &isa in &isas {
            assert_eq!(sum_of_squares(isa, &l), squares, "{isa:?}");
            assert_eq!(bce_with_logits_sum_on(isa, &l, &x), base, "{isa:?}");
            assert_eq!(gradient(isa), base_gradient, "{isa:?}");
            assert_eq!(adam(isa), base_adam, "{isa:?}");
        }
    }
}

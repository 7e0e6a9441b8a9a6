//! The Bernoulli reconstruction loss as one fused kernel on burn-flex, with its own backward pass.
//!
//! Burn composes BCE from logits (`model::loss::bce_with_logits`) out of `log_sigmoid`, `neg`,
//! `mul`, `sub` and `sum_dim`: five passes over the pixels forward and as many backward, and
//! burn-flex's `log_sigmoid` calls scalar `exp` and `log1p` for every pixel (15% of an MLP
//! training step, docs/benchmarks.md). Here the forward pass is one pass per row (softplus on the
//! widest vectors of the CPU, [`super::simd`], summed) and the backward pass one pass, `(sigmoid(l) - x) * grad_row`. No
//! crate offers this for Burn, so it is a Burn backend extension: burn-flex computes it directly,
//! Burn's autodiff records it with the backward below, and the other backends (GPUs) keep Burn's
//! composition ([`fused_applies`]), which their kernel fusion handles.

use super::flex::{flex_tensor, values};
use super::product::dims;
use super::simd::{self, Isa, multiversion};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::prelude::*;

/// Whether `logits` live where the fused kernel runs (burn-flex, with or without autodiff).
pub fn fused_applies(logits: &Tensor<2>) -> bool {
    crate::is_cpu_device(&logits.device())
}

/// Per image, `sum_j softplus(l_j) - l_j x_j` over the pixels of `[rows, pixels]` logits: the
/// Bernoulli reconstruction loss, `[rows]`. Only where [`fused_applies`]. Panics when the
/// pixels are not of the logits' shape.
pub fn bce_with_logits_rows(logits: Tensor<2>, x: Tensor<2>) -> Tensor<1> {
    assert_eq!(
        logits.dims(),
        x.dims(),
        "the Bernoulli loss takes logits and pixels of one shape"
    );
    Tensor::from_dispatch(<Dispatch as FusedBce>::bce_with_logits_rows(
        logits.into_dispatch(),
        x.into_dispatch(),
    ))
}

/// The fused loss and its gradient, as backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait FusedBce: Backend {
    /// `[rows, pixels]` logits and pixels to the per-row loss `[rows]`.
    fn bce_with_logits_rows(logits: FloatTensor<Self>, x: FloatTensor<Self>) -> FloatTensor<Self>;
    /// The gradient with respect to the logits, `(sigmoid(l) - x) * grad[row]`, `[rows, pixels]`.
    fn bce_with_logits_rows_backward(
        logits: FloatTensor<Self>,
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

impl FusedBce for Flex {
    fn bce_with_logits_rows(logits: FlexTensor, x: FlexTensor) -> FlexTensor {
        let [rows, pixels] = dims(&logits);
        assert_eq!(dims(&x), [rows, pixels], "the Bernoulli loss's pixels");
        let (l, x) = (values(&logits), values(&x));
        // An empty batch (an empty shard) gives an empty loss; images of no pixels, zeros.
        let loss = match pixels {
            0 => vec![0.0; rows],
            _ => l
                .chunks_exact(pixels)
                .zip(x.chunks_exact(pixels))
                .map(|(l, x)| bce_with_logits_sum(l, x))
                .collect(),
        };
        flex_tensor(loss, vec![rows])
    }

    fn bce_with_logits_rows_backward(
        logits: FlexTensor,
        x: FlexTensor,
        grad: FlexTensor,
    ) -> FlexTensor {
        let [rows, pixels] = dims(&logits);
        assert_eq!(dims(&x), [rows, pixels], "the Bernoulli loss's pixels");
        let (l, x, grad) = (values(&logits), values(&x), values(&grad));
        assert_eq!(
            grad.len(),
            rows,
            "the Bernoulli loss's gradient, one value a row"
        );
        let isa = Isa::current();
        let mut out = vec![0f32; l.len()];
        if pixels > 0 {
            for (((out, l), x), &g) in out
                .chunks_exact_mut(pixels)
                .zip(l.chunks_exact(pixels))
                .zip(x.chunks_exact(pixels))
                .zip(grad.iter())
            {
                bce_with_logits_gradient(isa, l, x, g, out);
            }
        }
        flex_tensor(out, vec![rows, pixels])
    }
}

/// Burn's autodiff around the fused kernel: the pixels are data (no gradient flows to them), the
/// logits get `(sigmoid(l) - x) * grad_row`.
impl<B: Backend + FusedBce, C: CheckpointStrategy> FusedBce for Autodiff<B, C> {
    fn bce_with_logits_rows(logits: FloatTensor<Self>, x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct BceRows;

        impl<B: Backend + FusedBce> Backward<B, 1> for BceRows {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let (logits, x) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::bce_with_logits_rows_backward(logits, x, grad)
                });
            }
        }

        let x = x.into_primitive();
        match BceRows
            .prepare::<C>([logits.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let logits = logits.into_primitive();
                let loss = B::bce_with_logits_rows(logits.clone(), x.clone());
                prep.finish((logits, x), loss)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::bce_with_logits_rows(logits.into_primitive(), x))
            }
        }
    }

    fn bce_with_logits_rows_backward(
        logits: FloatTensor<Self>,
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::bce_with_logits_rows_backward(
            logits.into_primitive(),
            x.into_primitive(),
            grad.into_primitive(),
        ))
    }
}

/// `sum(softplus(l) - l x)` over one image, with `softplus(l) = max(l, 0) + ln(1 + exp(-|l|))`:
/// never the exp of a large number. Panics unless `logits` and `x` are of one length.
pub fn bce_with_logits_sum(logits: &[f32], x: &[f32]) -> f32 {
    bce_with_logits_sum_on(Isa::current(), logits, x)
}

/// One pixel's term, for the pixels past the last whole vector.
#[inline(always)]
fn bce_term(l: f32, x: f32) -> f32 {
    l.max(0.0) + simd::ln_1p(simd::exp(-l.abs())) - l * x
}

/// Vectors of [`simd::LANES`] pixels whose factors `1 + exp(-|l|)`, each in (1, 2], one lane
/// multiplies before its exponent is moved out: their product stays below 2^17.
const FACTORS: usize = 16;

/// [`bce_with_logits_sum`] compiled for `isa`. The logarithms are summed as the logarithm of
/// a product: each lane multiplies its factors `1 + exp(-|l|)` and takes one `ln` at the
/// end, where a `ln` a pixel cost a division and a degree-6 polynomial. 784 pixels took
/// 0.47 ns a pixel instead of 0.79 on AVX-512 (0.72 and 1.30 on AVX2; the IWAE bound of the
/// MLP spends 5-10% of its time here). As exact: a factor rounds once (6e-8 of its `ln`),
/// and the f32 sums of `max(l, 0) - l x` still dominate the error against f64.
pub fn bce_with_logits_sum_on(isa: Isa, logits: &[f32], x: &[f32]) -> f32 {
    assert_eq!(
        logits.len(),
        x.len(),
        "the Bernoulli loss of {} logits and {} pixels",
        logits.len(),
        x.len()
    );
    bce_sum_on(isa, logits, x)
}

multiversion! {
    /// [`bce_with_logits_sum_on`] compiled for `isa`.
    fn bce_sum_on(logits: &[f32], x: &[f32]) -> f32 {
        const LANES: usize = simd::LANES;
        let whole = logits.len() / LANES * LANES;
        let rest: f32 = logits[whole..]
            .iter()
            .zip(&x[whole..])
            .map(|(&l, &x)| bce_term(l, x))
            .sum();
        // Per lane: `max(l, 0) - l x` summed, and `prod (1 + exp(-|l|)) = product * 2^exponent`.
        let mut linear = [0f32; LANES];
        let mut product = [1f32; LANES];
        let mut exponent = [0i32; LANES];
        let block = LANES * FACTORS;
        for (l, x) in logits[..whole].chunks(block).zip(x[..whole].chunks(block)) {
            for (l, x) in l.chunks_exact(LANES).zip(x.chunks_exact(LANES)) {
                for i in 0..LANES {
                    linear[i] += l[i].max(0.0) - l[i] * x[i];
                    product[i] *= 1.0 + simd::exp(-l[i].abs());
                }
            }
            // Move each product's exponent out, leaving its mantissa in [1, 2): exact.
            for (p, e) in product.iter_mut().zip(&mut exponent) {
                let bits = p.to_bits();
                *e += (bits >> 23) as i32 - 127;
                *p = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
            }
        }
        let mut logs = [0f32; LANES];
        for i in 0..LANES {
            logs[i] = simd::ln_1p(product[i] - 1.0);
        }
        let logs = logs.iter().map(|&v| v as f64).sum::<f64>()
            + exponent.iter().sum::<i32>() as f64 * std::f64::consts::LN_2;
        (linear.iter().sum::<f32>() as f64 + logs + rest as f64) as f32
    }
}

/// `out = (sigmoid(l) - x) * grad` over one image.
pub fn bce_with_logits_gradient(isa: Isa, logits: &[f32], x: &[f32], grad: f32, out: &mut [f32]) {
    assert!(
        logits.len() == x.len() && x.len() == out.len(),
        "the Bernoulli loss's gradient of {} logits, {} pixels into {} values",
        logits.len(),
        x.len(),
        out.len()
    );
    bce_gradient_on(isa, logits, x, grad, out)
}

multiversion! {
    /// [`bce_with_logits_gradient`] compiled for `isa`.
    fn bce_gradient_on(logits: &[f32], x: &[f32], grad: f32, out: &mut [f32]) {
        for ((o, &l), &x) in out.iter_mut().zip(logits).zip(x) {
            *o = (1.0 / (1.0 + simd::exp(-l)) - x) * grad;
        }
    }
}

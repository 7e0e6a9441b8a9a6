//! A dense layer, `x @ weight + bias`, on burn-flex with its own backward pass.
//!
//! Burn's dense layer on burn-flex costs three things our MLP's shards pay at every step
//! (`perf record -g vae bench --model mlp`, docs/benchmarks.md, round five):
//! - the input gradient `grad @ weight^T` is a product with a transposed weight, which gemm
//!   copies into panels at every call (784x400 for the decoder's output layer): 484 us for
//!   64 rows against 372 us when the product is written column-major instead and turned
//!   afterwards, as here ([`super::transpose`]);
//! - every output, the weight gradients included (1.25 MB each), is allocated zeroed before the
//!   product overwrites it: `memset` was 4% of a shard's time. Here outputs are allocated
//!   without the fill.
//!
//! No crate offers a dense layer for Burn with a different backward, so it is a backend
//! extension, as the fused loss is; the other backends (GPUs) keep Burn's layer.

use super::flex::{flex_tensor, values};
use super::product::{Matrix, Order, dims, product};
use super::simd::Isa;
use super::transpose::transpose;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::Linear;
use burn::prelude::*;

/// `layer` applied to `x` (`[rows, inputs]`): this kernel on the CPU for a layer with a bias,
/// Burn's `Linear::forward` elsewhere. Panics, as Burn's matrix product does, when the rows of
/// `x` are not as wide as the layer's inputs.
pub fn linear(layer: &Linear, x: Tensor<2>) -> Tensor<2> {
    let ([_, width], [inputs, _]) = (x.dims(), layer.weight.dims());
    assert_eq!(
        width, inputs,
        "a dense layer of {inputs} inputs was given rows of {width} values"
    );
    match &layer.bias {
        Some(bias) if crate::is_cpu_device(&x.device()) => {
            Tensor::from_dispatch(<Dispatch as LinearOps>::dense(
                x.into_dispatch(),
                layer.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
            ))
        }
        _ => layer.forward(x),
    }
}

/// The dense layer and the three gradients of its backward pass, as backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait LinearOps: Backend {
    /// `x @ weight + bias`: `[rows, inputs]`, `[inputs, outputs]` and `[outputs]` to
    /// `[rows, outputs]`.
    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
    /// The gradient with respect to `x`: `grad @ weight^T`.
    fn dense_input_grad(weight: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self>;
    /// The gradient with respect to the weight: `x^T @ grad`.
    fn dense_weight_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self>;
    /// The gradient with respect to the bias: `grad` summed over the rows.
    fn dense_bias_grad(grad: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl LinearOps for Flex {
    fn dense(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        let ([rows, _], [_, outputs]) = (dims(&x), dims(&weight));
        let bias = values(&bias);
        assert_eq!(
            bias.len(),
            outputs,
            "a dense layer of {outputs} outputs' bias"
        );
        // The product checks that the rows are as wide as the layer's inputs.
        let mut out = product(Matrix::of(&x), Matrix::of(&weight), Order::RowMajor);
        // The bias after the product, as Burn adds it: a row's values do not depend on the
        // other rows of the batch, which gemm's product starting from the bias would not keep
        // to the last bit (it sums in blocks of the inputs, and a single row takes another path).
        for row in out.chunks_exact_mut(outputs.max(1)) {
            for (o, b) in row.iter_mut().zip(bias.iter()) {
                *o += b;
            }
        }
        flex_tensor(out, vec![rows, outputs])
    }

    fn dense_input_grad(weight: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let ([inputs, _], [rows, _]) = (dims(&weight), dims(&grad));
        let (g, w_t) = (Matrix::of(&grad), Matrix::of(&weight).transposed());
        // `grad @ weight^T`, written column-major (so gemm reads a row-major weight in place
        // and packs only `grad`), then turned to rows.
        let by_column = product(g, w_t, Order::ColumnMajor);
        let mut out = Vec::with_capacity(by_column.len());
        transpose(
            Isa::current(),
            &by_column,
            (inputs, rows),
            &mut out.spare_capacity_mut()[..by_column.len()],
        );
        // SAFETY: the transpose wrote every one of the `rows * inputs` values of its output.
        unsafe { out.set_len(by_column.len()) };
        flex_tensor(out, vec![rows, inputs])
    }

    fn dense_weight_grad(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let ([_, inputs], [_, outputs]) = (dims(&x), dims(&grad));
        let (x_t, g) = (Matrix::of(&x).transposed(), Matrix::of(&grad));
        let out = product(x_t, g, Order::RowMajor);
        flex_tensor(out, vec![inputs, outputs])
    }

    fn dense_bias_grad(grad: FlexTensor) -> FlexTensor {
        let [_, outputs] = dims(&grad);
        let g = values(&grad);
        let mut sum = vec![0f32; outputs];
        for row in g.chunks_exact(outputs.max(1)) {
            for (s, v) in sum.iter_mut().zip(row) {
                *s += v;
            }
        }
        flex_tensor(sum, vec![outputs])
    }
}

/// Burn's autodiff around the kernel: each of `x`, the weight and the bias gets its gradient
/// when it is tracked, and only what those need is kept (`x` for the weight's, the weight for
/// `x`'s).
impl<B: Backend + LinearOps, C: CheckpointStrategy> LinearOps for Autodiff<B, C> {
    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Dense;

        impl<B: Backend + LinearOps> Backward<B, 3> for Dense {
            type State = (Option<FloatTensor<B>>, Option<FloatTensor<B>>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_weight, node_bias] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, weight) = ops.state;
                if let (Some(node), Some(weight)) = (node_x, weight) {
                    grads.register::<B>(node.id, B::dense_input_grad(weight, grad.clone()));
                }
                if let (Some(node), Some(x)) = (node_weight, x) {
                    grads.register::<B>(node.id, B::dense_weight_grad(x, grad.clone()));
                }
                if let Some(node) = node_bias {
                    grads.register::<B>(node.id, B::dense_bias_grad(grad));
                }
            }
        }

        let (x_tracked, weight_tracked) = (x.is_tracked(), weight.is_tracked());
        match Dense
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.into_primitive(), weight.into_primitive());
                let out = B::dense(x.clone(), weight.clone(), bias.into_primitive());
                prep.finish(
                    (weight_tracked.then_some(x), x_tracked.then_some(weight)),
                    out,
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::dense(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )),
        }
    }

    fn dense_input_grad(weight: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::dense_input_grad(
            weight.into_primitive(),
            grad.into_primitive(),
        ))
    }

    fn dense_weight_grad(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::dense_weight_grad(
            x.into_primitive(),
            grad.into_primitive(),
        ))
    }

    fn dense_bias_grad(grad: FloatTensor<Self>) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::dense_bias_grad(grad.into_primitive()))
    }
}

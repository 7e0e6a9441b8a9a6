//! The fast path of the conv stacks on burn-flex: 3x3 convolutions and transposed convolutions
//! as one matrix multiplication each, on channels-last activations held as rows
//! `[batch * height * width, channels]`.
//!
//! Burn's own `Conv2d`/`ConvTranspose2d` compute the same thing, but on the CPU backend their
//! backward passes run as convolutions with the batch as channels and the output gradient as a
//! 16x16 dilated kernel, and the transposed convolution scatters in a scalar loop: together 4x
//! the time of the matrix products (docs/benchmarks.md). Here each layer is a window pass
//! ([`super::windows`]: a gather, a scatter-add, or their per-tap forms) and a well-shaped matrix
//! product, run together a few images at a time ([`super::window_product`]). The layers keep
//! Burn's modules and weight layout, and the result equals Burn's convolution (tested, values
//! and gradients).

use super::conv_kind::ConvKind;
use super::window_product::window_product;
use super::windows::{TAPS, Windows};
use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

/// How a convolution moves its windows: gathered when there are at least as many outputs as
/// inputs, contributions summed per tap when there are fewer, so the intermediate holds
/// `9 * min(c_in, c_out)` values per pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Window,
    Contribution,
}

/// How [`conv2d`] runs a convolution from `c_in` to `c_out` channels.
fn conv2d_route(c_in: usize, c_out: usize) -> Route {
    if c_out >= c_in {
        Route::Window
    } else {
        Route::Contribution
    }
}

/// `conv` (3x3, no groups or dilation) applied to `x` `[input rows, c_in]` through `windows`,
/// giving `[output rows, c_out]`, as [`conv2d_route`] says: each output pixel's 3x3 window
/// gathered into a row of `9 * c_in` values and multiplied by the weights as a `[9 * c_in,
/// c_out]` matrix, or each input pixel's contributions to its 9 output pixels as one row of the
/// product with `[c_in, 9 * c_out]` weights, summed per output pixel. Plus the bias, then ReLU
/// where `relu` says.
pub fn conv2d(conv: &Conv2d, x: Tensor<2>, windows: Windows, relu: bool) -> Tensor<2> {
    let [_, c_in] = x.dims();
    let [c_out, ..] = conv.weight.dims();
    let bias = bias(conv.bias.as_ref(), c_out, &x.device());
    match conv2d_route(c_in, c_out) {
        Route::Window => {
            // [c_out, c_in, kh, kw] -> [kh, kw, c_in, c_out], the order of a patch row.
            let weight = conv
                .weight
                .val()
                .permute([2, 3, 1, 0])
                .reshape([TAPS * c_in, c_out]);
            window_product(x, weight, bias, windows, ConvKind::Gathered, relu)
        }
        Route::Contribution => {
            // [c_out, c_in, kh, kw] -> [c_in, kh, kw, c_out].
            let weight = conv
                .weight
                .val()
                .permute([1, 2, 3, 0])
                .reshape([c_in, TAPS * c_out]);
            window_product(x, weight, bias, windows, ConvKind::Contributed, relu)
        }
    }
}

/// `deconv` (3x3, no groups or dilation) applied to `x` `[input rows, c_in]`, giving
/// `[output rows, c_out]`: each input pixel's contribution to its 3x3 output window is one row
/// of the product with the `[c_in, 9 * c_out]` weights, then added onto the output pixels.
/// `windows` are those of the matching forward convolution (from this layer's output grid to
/// its input grid), which is how a transposed convolution is defined: the adjoint of that
/// convolution's gather. Plus the bias, then ReLU where `relu` says.
pub fn conv_transpose2d(
    deconv: &ConvTranspose2d,
    x: Tensor<2>,
    windows: Windows,
    relu: bool,
) -> Tensor<2> {
    let [c_in, c_out, ..] = deconv.weight.dims();
    let bias = bias(deconv.bias.as_ref(), c_out, &x.device());
    // [c_in, c_out, kh, kw] -> [c_in, kh, kw, c_out].
    let weight = deconv
        .weight
        .val()
        .permute([0, 2, 3, 1])
        .reshape([c_in, TAPS * c_out]);
    window_product(x, weight, bias, windows, ConvKind::Transposed, relu)
}

/// A layer's bias, or zeros for a layer without one.
fn bias(bias: Option<&Param<Tensor<1>>>, c_out: usize, device: &Device) -> Tensor<1> {
    match bias {
        Some(b) => b.val(),
        None => Tensor::zeros([c_out], device),
    }
}

//! The fast path of the conv stacks on burn-flex: 3x3 convolutions and transposed convolutions
//! as one matrix multiplication each, on channels-last activations held as rows
//! `[batch * height * width, channels]`.
//!
//! Burn's own `Conv2d`/`ConvTranspose2d` compute the same thing, but on the CPU backend their
//! backward passes run as convolutions with the batch as channels and the output gradient as a
//! 16x16 dilated kernel, and the transposed convolution scatters in a scalar loop: together 4x
//! the time of the matrix products (docs/benchmarks.md). Here every step is a row gather
//! (`select`), a row scatter-add (`select_assign`) or a well-shaped matrix product, and Burn's
//! autodiff derives the backward pass from those: a gather's gradient is a scatter-add and vice
//! versa. The layers keep Burn's modules and weight layout, and the result equals Burn's
//! convolution (tested, values and gradients). The index tables are made here and kept by the
//! layers that use them (`conv_stack`).

use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::{IndexingUpdateOp, Int, TensorData};

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
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub stride: usize,
    pub offset: [isize; 2],
}

const KERNEL: usize = 3;

/// For each output pixel and kernel tap (row-major over batch, oh, ow, kh, kw), the input row it
/// reads, or `input.rows()` (a zero row) where the tap falls in the padding.
fn window_rows(input: Grid, output: Grid, window: Window) -> Vec<i64> {
    let mut rows = Vec::with_capacity(output.rows() * KERNEL * KERNEL);
    let pad_row = input.rows() as i64;
    for n in 0..output.batch {
        for oh in 0..output.height {
            for ow in 0..output.width {
                for kh in 0..KERNEL {
                    let ih = (oh * window.stride + kh) as isize + window.offset[0];
                    for kw in 0..KERNEL {
                        let iw = (ow * window.stride + kw) as isize + window.offset[1];
                        let inside = (0..input.height as isize).contains(&ih)
                            && (0..input.width as isize).contains(&iw);
                        rows.push(if inside {
                            ((n * input.height + ih as usize) * input.width + iw as usize) as i64
                        } else {
                            pad_row
                        });
                    }
                }
            }
        }
    }
    rows
}

/// For each input pixel and kernel tap (row-major over batch, ih, iw, kh, kw), the output row
/// it contributes to, or `output.rows()` (a scratch row) where no output pixel uses it.
fn contribution_rows(input: Grid, output: Grid, window: Window) -> Vec<i64> {
    let mut rows = Vec::with_capacity(input.rows() * KERNEL * KERNEL);
    let scratch = output.rows() as i64;
    let target = |i: usize, k: usize, offset: isize, size: usize| {
        let scaled = i as isize - k as isize - offset;
        let s = window.stride as isize;
        (scaled >= 0 && scaled % s == 0 && ((scaled / s) as usize) < size)
            .then(|| (scaled / s) as usize)
    };
    for n in 0..input.batch {
        for ih in 0..input.height {
            for iw in 0..input.width {
                for kh in 0..KERNEL {
                    let oh = target(ih, kh, window.offset[0], output.height);
                    for kw in 0..KERNEL {
                        let ow = target(iw, kw, window.offset[1], output.width);
                        rows.push(match (oh, ow) {
                            (Some(oh), Some(ow)) => {
                                ((n * output.height + oh) * output.width + ow) as i64
                            }
                            _ => scratch,
                        });
                    }
                }
            }
        }
    }
    rows
}

/// Which index table a layer needs: a window gather or a contribution scatter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Window,
    Contribution,
}

/// The table of one layer between two grids, as an index tensor on `device`.
pub fn index_table(
    table: Table,
    input: Grid,
    output: Grid,
    window: Window,
    device: &Device,
) -> Tensor<1, Int> {
    let rows = match table {
        Table::Window => window_rows(input, output, window),
        Table::Contribution => contribution_rows(input, output, window),
    };
    let n = rows.len();
    Tensor::<1, Int>::from_data(TensorData::new(rows, [n]), device)
}

/// The table [`conv2d`] reads for a convolution from `c_in` to `c_out` channels: windows are
/// gathered when there are at least as many outputs as inputs, contributions scattered when
/// there are fewer, so the intermediate holds `9 * min(c_in, c_out)` values per pixel.
pub fn conv2d_table(c_in: usize, c_out: usize) -> Table {
    if c_out >= c_in {
        Table::Window
    } else {
        Table::Contribution
    }
}

/// `table[rows[i]]` for every i: `[rows.len(), width]`. Single-column tables go through Burn's
/// 1-d select, which copies elements in parallel instead of one row at a time.
fn gather_rows(table: Tensor<2>, rows: Tensor<1, Int>) -> Tensor<2> {
    let [len, width] = table.dims();
    let n = rows.dims()[0];
    if width == 1 {
        table.reshape([len]).select(0, rows).reshape([n, 1])
    } else {
        table.select(0, rows)
    }
}

/// Sums the rows of `values` into a `[len + 1, width]` table at `rows` (the last row is the
/// scratch row) and returns the first `len` rows.
fn scatter_add_rows(values: Tensor<2>, rows: Tensor<1, Int>, len: usize) -> Tensor<2> {
    let device = values.device();
    let [n, width] = values.dims();
    if width == 1 {
        let summed = Tensor::<1>::zeros([len + 1], &device).select_assign(
            0,
            rows,
            values.reshape([n]),
            IndexingUpdateOp::Add,
        );
        summed.narrow(0, 0, len).reshape([len, 1])
    } else {
        let summed = Tensor::<2>::zeros([len + 1, width], &device).select_assign(
            0,
            rows,
            values,
            IndexingUpdateOp::Add,
        );
        summed.slice([0..len, 0..width])
    }
}

/// `conv` (3x3, no groups or dilation) applied to `x` `[input rows, c_in]`, giving
/// `[output_rows, c_out]`, through `rows`, the table of [`conv2d_table`]. With a window table,
/// each output pixel's 3x3 window is gathered into a row of `9 * c_in` values and multiplied by
/// the weights as a `[9 * c_in, c_out]` matrix; with a contribution table, each input pixel's
/// contributions to its 9 output pixels are one row of the product with `[c_in, 9 * c_out]`
/// weights, added into place.
pub fn conv2d(conv: &Conv2d, x: Tensor<2>, rows: Tensor<1, Int>, output_rows: usize) -> Tensor<2> {
    let device = x.device();
    let [_, c_in] = x.dims();
    let [c_out, ..] = conv.weight.dims();
    let y = match conv2d_table(c_in, c_out) {
        Table::Window => {
            let padded = Tensor::cat(vec![x, Tensor::zeros([1, c_in], &device)], 0);
            let patches = gather_rows(padded, rows).reshape([output_rows, KERNEL * KERNEL * c_in]);
            // [c_out, c_in, kh, kw] -> [kh, kw, c_in, c_out], the order of a patch row.
            let weight = conv
                .weight
                .val()
                .permute([2, 3, 1, 0])
                .reshape([KERNEL * KERNEL * c_in, c_out]);
            patches.matmul(weight)
        }
        Table::Contribution => {
            // [c_out, c_in, kh, kw] -> [c_in, kh, kw, c_out].
            let weight = conv
                .weight
                .val()
                .permute([1, 2, 3, 0])
                .reshape([c_in, KERNEL * KERNEL * c_out]);
            add_contributions(x, weight, rows, output_rows)
        }
    };
    with_bias(y, conv.bias.as_ref().map(|b| b.val()))
}

/// `deconv` (3x3, no groups or dilation) applied to `x` `[input rows, c_in]`, giving
/// `[output_rows, c_out]`: each input pixel's contribution to its 3x3 output window is one row
/// of the product with the `[c_in, 9 * c_out]` weights; the rows are then added into place.
/// `rows` is the window table of the matching forward convolution (from the output grid to the
/// input grid), which is how a transposed convolution is defined: it says, for each tap, which
/// output row a contribution lands on; taps that fall outside go to the scratch row.
pub fn conv_transpose2d(
    deconv: &ConvTranspose2d,
    x: Tensor<2>,
    rows: Tensor<1, Int>,
    output_rows: usize,
) -> Tensor<2> {
    let [c_in, c_out, ..] = deconv.weight.dims();
    // [c_in, c_out, kh, kw] -> [c_in, kh, kw, c_out].
    let weight = deconv
        .weight
        .val()
        .permute([0, 2, 3, 1])
        .reshape([c_in, KERNEL * KERNEL * c_out]);
    with_bias(
        add_contributions(x, weight, rows, output_rows),
        deconv.bias.as_ref().map(|b| b.val()),
    )
}

/// `x @ weight`, with `weight` `[c_in, 9 * c_out]`, gives each input pixel's contributions to
/// its 9 output pixels; they are summed into the `len` output rows that `rows` names.
fn add_contributions(
    x: Tensor<2>,
    weight: Tensor<2>,
    rows: Tensor<1, Int>,
    len: usize,
) -> Tensor<2> {
    let [pixels, _] = x.dims();
    let [_, columns] = weight.dims();
    let taps = KERNEL * KERNEL;
    let contributions = x.matmul(weight).reshape([pixels * taps, columns / taps]);
    scatter_add_rows(contributions, rows, len)
}

fn with_bias(y: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<2> {
    match bias {
        Some(b) => y + b.unsqueeze_dim(0),
        None => y,
    }
}

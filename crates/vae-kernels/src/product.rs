//! Matrix products on burn-flex's storage, through gemm as burn-flex's matmul calls it, but
//! reading operands where they lie and writing into buffers that were never zero-filled (or
//! into part of a larger one): the one place the kernels call gemm.
//!
//! gemm takes raw pointers and strides. A [`Matrix`] is the safe side of that: the values it
//! borrows, its shape and its strides, checked once when it is made to reach no value outside
//! the borrow, so that a product of any two matrices whose shapes agree reads only inside them
//! and writes only inside its output.

use burn::backend::flex::FlexTensor;
use std::mem::MaybeUninit;

/// Whether a product may be split across the pool (inside a shard the pool is one thread, so a
/// shard's products stay on it whatever this says).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// From 192^3 multiply-adds on: burn-flex's rule.
    BySize,
    /// Never: a lone product between other work, as a conv layer's on one block. The pool's
    /// other threads have gone to sleep by then, and waking them cost more than the split
    /// saved: decoding one celeba picture took 1.31-1.35 ms split and 1.13 without (2 threads,
    /// AVX-512), where 256 pictures, many blocks a layer back to back, gained from it (1.00-1.04
    /// ms a picture against 1.13-1.14).
    Never,
}

impl Split {
    fn parallelism(self, m: usize, n: usize, k: usize) -> gemm::Parallelism {
        match self {
            Split::BySize if m.saturating_mul(n).saturating_mul(k) >= 192 * 192 * 192 => {
                gemm::Parallelism::Rayon(0)
            }
            Split::BySize | Split::Never => gemm::Parallelism::None,
        }
    }
}

/// An f32 matrix inside the values it borrows: value `(i, j)` is
/// `values[start + i * row + j * col]`, and every such index is inside `values` (checked when
/// it is made).
#[derive(Clone, Copy)]
pub struct Matrix<'a> {
    values: &'a [f32],
    start: usize,
    shape: (usize, usize),
    row: isize,
    col: isize,
}

impl<'a> Matrix<'a> {
    /// The `rows` x `cols` matrix of `values` from `start` with the steps `row` and `col`
    /// (negative ones too). Panics when any of its values would lie outside `values`.
    pub fn new(
        values: &'a [f32],
        start: usize,
        (rows, cols): (usize, usize),
        (row, col): (isize, isize),
    ) -> Self {
        assert!(
            reaches_only(values.len(), start, (rows, cols), (row, col)),
            "a {rows} x {cols} matrix from value {start} with steps ({row}, {col}) reaches past \
             the {} values it is in",
            values.len()
        );
        Matrix {
            values,
            start,
            shape: (rows, cols),
            row,
            col,
        }
    }

    /// The 2-d `tensor` where it lies, with its own strides: transposed and sliced views are
    /// read in place, as burn-flex's matmul reads them.
    pub fn of(tensor: &'a FlexTensor) -> Self {
        let layout = tensor.layout();
        let [rows, cols] = dims(tensor);
        let strides = layout.strides();
        Matrix::new(
            tensor.storage::<f32>(),
            layout.start_offset(),
            (rows, cols),
            (strides[0], strides[1]),
        )
    }

    /// Row-major `values`, `rows` x `cols`.
    pub fn rows(values: &'a [f32], (rows, cols): (usize, usize)) -> Self {
        Matrix::new(values, 0, (rows, cols), (to_isize(cols), 1))
    }

    /// The transpose, in place.
    pub fn transposed(self) -> Self {
        Matrix {
            shape: (self.shape.1, self.shape.0),
            row: self.col,
            col: self.row,
            ..self
        }
    }

    /// Where value `(0, 0)` is, derived from the whole borrow so that negative steps stay in it.
    fn origin(&self) -> *const f32 {
        self.values.as_ptr().wrapping_add(self.start)
    }
}

/// Whether every index `start + i * row + j * col`, `i < rows`, `j < cols`, is below `len`
/// (and not negative), computed in i128 so that nothing wraps. An empty matrix reaches nothing.
fn reaches_only(
    len: usize,
    start: usize,
    (rows, cols): (usize, usize),
    (row, col): (isize, isize),
) -> bool {
    if rows == 0 || cols == 0 {
        return start <= len;
    }
    let last_row = (rows as i128 - 1) * row as i128;
    let last_col = (cols as i128 - 1) * col as i128;
    let start = start as i128;
    let lowest = start + last_row.min(0) + last_col.min(0);
    let highest = start + last_row.max(0) + last_col.max(0);
    lowest >= 0 && highest < len as i128
}

fn to_isize(n: usize) -> isize {
    isize::try_from(n).expect("a matrix dimension fits in isize")
}

/// `m * n`, the values of an `m` x `n` output; panics rather than wrap.
fn count(m: usize, n: usize) -> usize {
    m.checked_mul(n)
        .unwrap_or_else(|| panic!("a {m} x {n} product has more values than memory can hold"))
}

/// The shape `(m, n, k)` of `a @ b`; panics when `a`'s columns are not `b`'s rows.
fn product_shape(a: &Matrix, b: &Matrix) -> (usize, usize, usize) {
    let ((m, k), (k_b, n)) = (a.shape, b.shape);
    assert_eq!(
        k, k_b,
        "a product of a {m} x {k} matrix by a {k_b} x {n} one: the inner dimensions differ"
    );
    (m, n, k)
}

/// How a new product's values are laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Order {
    RowMajor,
    ColumnMajor,
}

/// `a @ b` into a new buffer of `m * n` values laid out in `order`, never zero-filled first.
pub fn product(a: Matrix, b: Matrix, order: Order) -> Vec<f32> {
    let (m, n, k) = product_shape(&a, &b);
    let len = count(m, n);
    let steps = match order {
        Order::RowMajor => (to_isize(n), 1),
        Order::ColumnMajor => (1, to_isize(m)),
    };
    let mut out = Vec::with_capacity(len);
    // SAFETY: `a` and `b` reach only their values (`Matrix::new`) and agree in shape; `out` has
    // room for the `m * n` values at the dense steps of `order`; it borrows neither operand.
    // gemm writes every output without reading it when told to overwrite (pinned version,
    // tested over NaN-filled outputs), so all `m * n` are written before `set_len`.
    unsafe {
        gemm_into(
            (m, n, k),
            a,
            b,
            out.as_mut_ptr(),
            steps,
            Accumulate::Overwrite,
            Split::BySize,
        );
        out.set_len(len);
    }
    out
}

/// `a @ b` written over `dst`, row-major `[m, n]`: every value of `dst` is written. Panics
/// unless `dst` holds exactly `m * n` values.
pub fn product_into(a: Matrix, b: Matrix, dst: &mut [MaybeUninit<f32>], split: Split) {
    let (m, n, k) = product_shape(&a, &b);
    assert_eq!(dst.len(), count(m, n), "a {m} x {n} product's output");
    // SAFETY: the operands reach only their values and agree in shape; `dst` is a unique
    // borrow (no operand overlaps it) of exactly `m * n` values at the row-major steps given.
    unsafe {
        gemm_into(
            (m, n, k),
            a,
            b,
            dst.as_mut_ptr().cast(),
            (to_isize(n), 1),
            Accumulate::Overwrite,
            split,
        )
    }
}

/// `dst += a @ b`, row-major `[m, n]`: a product summed over blocks of its inner dimension.
/// Panics unless `dst` holds exactly `m * n` values.
pub fn product_add_into(a: Matrix, b: Matrix, dst: &mut [f32], split: Split) {
    let (m, n, k) = product_shape(&a, &b);
    assert_eq!(dst.len(), count(m, n), "a {m} x {n} product's output");
    // SAFETY: as in `product_into`, and `dst`'s values are initialised, as adding reads them.
    unsafe {
        gemm_into(
            (m, n, k),
            a,
            b,
            dst.as_mut_ptr(),
            (to_isize(n), 1),
            Accumulate::Add,
            split,
        )
    }
}

/// Whether gemm overwrites its output or adds to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Accumulate {
    Overwrite,
    Add,
}

/// # Safety
/// `a` is `m` x `k` and `b` is `k` x `n` (each reaching only its own values), and `dst` is
/// valid for writes of `m * n` values at `dst_row` and `dst_col`, overlapping neither. To
/// overwrite, gemm writes every output without reading it; to add, the outputs must be
/// initialised.
unsafe fn gemm_into(
    (m, n, k): (usize, usize, usize),
    a: Matrix,
    b: Matrix,
    dst: *mut f32,
    (dst_row, dst_col): (isize, isize),
    accumulate: Accumulate,
    split: Split,
) {
    debug_assert!(a.shape == (m, k) && b.shape == (k, n));
    let add = accumulate == Accumulate::Add;
    // SAFETY: the caller's contract, and gemm reads `a` and `b` only at the indices their
    // shapes and steps give, which `Matrix::new` checked to lie inside their values.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_col,
            dst_row,
            add,
            a.origin(),
            a.col,
            a.row,
            b.origin(),
            b.col,
            b.row,
            if add { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            split.parallelism(m, n, k),
        )
    }
}

/// The two dimensions of a matrix; panics for a tensor that is not one.
pub fn dims(t: &FlexTensor) -> [usize; 2] {
    let shape: &[usize] = t.layout().shape();
    match *shape {
        [rows, cols] => [rows, cols],
        _ => panic!("a kernel expected a matrix, got a tensor of shape {shape:?}"),
    }
}

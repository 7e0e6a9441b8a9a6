//! Matrix products on burn-flex's storage, through gemm as burn-flex's matmul calls it, but
//! reading operands where they lie and writing into buffers that were never zero-filled (or
//! into part of a larger one): the one place our kernels call gemm.

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

/// A strided f32 matrix for [`product`]: a pointer and the steps between rows and columns.
#[derive(Clone, Copy)]
pub struct Strided {
    ptr: *const f32,
    row: isize,
    col: isize,
}

impl Strided {
    /// The 2-d `tensor` where it lies, with its own strides: transposed and sliced views are
    /// read in place, as burn-flex's matmul reads them.
    pub fn of(tensor: &FlexTensor) -> Self {
        let layout = tensor.layout();
        let (strides, storage) = (layout.strides(), tensor.storage::<f32>());
        Strided {
            ptr: storage[layout.start_offset()..].as_ptr(),
            row: strides[0],
            col: strides[1],
        }
    }

    /// Row-major `values` with `cols` columns.
    pub fn rows(values: &[f32], cols: usize) -> Self {
        Strided {
            ptr: values.as_ptr(),
            row: cols as isize,
            col: 1,
        }
    }

    /// The transpose, in place.
    pub fn transposed(self) -> Self {
        Strided {
            ptr: self.ptr,
            row: self.col,
            col: self.row,
        }
    }
}

/// `a @ b` (`[m, k]` by `[k, n]`, as `a` and `b` say they are laid out) into a new buffer of
/// `m * n` values laid out densely as `dst_row` and `dst_col` say, never zero-filled first.
pub fn product(
    (m, n, k): (usize, usize, usize),
    a: Strided,
    b: Strided,
    (dst_row, dst_col): (isize, isize),
) -> Vec<f32> {
    let mut out = Vec::with_capacity(m * n);
    // SAFETY: `out` has room for the `m * n` values at the dense strides the callers pass, and
    // gemm writes every one of them without reading it, so all are written before `set_len`.
    unsafe {
        gemm_into(
            (m, n, k),
            a,
            b,
            out.as_mut_ptr(),
            (dst_row, dst_col),
            Accumulate::Overwrite,
            Split::BySize,
        );
        out.set_len(m * n);
    }
    out
}

/// `a @ b` written over `dst`, row-major `[m, n]`.
pub fn product_into(
    (m, n, k): (usize, usize, usize),
    a: Strided,
    b: Strided,
    dst: &mut [MaybeUninit<f32>],
    split: Split,
) {
    assert!(dst.len() >= m * n, "a product's output holds m * n values");
    // SAFETY: `dst` holds the `m * n` values at the row-major strides given.
    unsafe {
        gemm_into(
            (m, n, k),
            a,
            b,
            dst.as_mut_ptr().cast(),
            (n as isize, 1),
            Accumulate::Overwrite,
            split,
        )
    }
}

/// `dst += a @ b`, row-major `[m, n]`: a product summed over blocks of its inner dimension.
pub fn product_add_into(
    (m, n, k): (usize, usize, usize),
    a: Strided,
    b: Strided,
    dst: &mut [f32],
    split: Split,
) {
    assert!(dst.len() >= m * n, "a product's output holds m * n values");
    // SAFETY: `dst` holds the `m * n` values, initialised, at the row-major strides given.
    unsafe {
        gemm_into(
            (m, n, k),
            a,
            b,
            dst.as_mut_ptr(),
            (n as isize, 1),
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
/// `a` and `b` point at live matrices of the shapes and strides given, and `dst` has room for
/// `m * n` values at `dst_row` and `dst_col`. To overwrite, gemm writes every output without
/// reading it; to add, the outputs must be initialised.
unsafe fn gemm_into(
    (m, n, k): (usize, usize, usize),
    a: Strided,
    b: Strided,
    dst: *mut f32,
    (dst_row, dst_col): (isize, isize),
    accumulate: Accumulate,
    split: Split,
) {
    let add = accumulate == Accumulate::Add;
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_col,
            dst_row,
            add,
            a.ptr,
            a.col,
            a.row,
            b.ptr,
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

/// The two dimensions of a matrix.
pub fn dims(t: &FlexTensor) -> [usize; 2] {
    let shape = t.layout().shape();
    [shape[0], shape[1]]
}

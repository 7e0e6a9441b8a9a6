//! The products through gemm: every output written without being read (the contract the
//! kernels' uninitialised outputs rest on, which gemm's documentation does not state), strided
//! and reversed operands read in place, and operands or outputs that do not fit refused.

use super::panics_with;
use crate::product::{Matrix, Order, Split, product, product_add_into, product_into};
use std::mem::MaybeUninit;

/// `a @ b` in f64, row-major.
fn reference(a: &[f32], b: &[f32], (m, n, k): (usize, usize, usize)) -> Vec<f64> {
    let mut out = vec![0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k)
                .map(|l| a[i * k + l] as f64 * b[l * n + j] as f64)
                .sum();
        }
    }
    out
}

fn ramp(len: usize, scale: f32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) * scale)
        .collect()
}

fn assert_close(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "{what}: value {i} is {g}, not {w}"
        );
    }
}

/// gemm, told to overwrite, writes every output and never reads one: over outputs filled with
/// NaN (which any read would carry into the result), every shape gemm treats apart (empty, an
/// inner dimension of 0, one row, one column, matrix-vector, blocked, and split across the
/// pool) comes out exact, in both layouts of [`product`] too.
#[test]
fn gemm_writes_every_output_without_reading_it() {
    let shapes = [
        (0, 3, 2),
        (3, 0, 2),
        (3, 4, 0),
        (1, 1, 1),
        (1, 17, 5),
        (17, 1, 5),
        (5, 7, 1),
        (13, 9, 300),
        (48, 64, 33),
        (64, 400, 784),
        (256, 256, 256),
    ];
    for (m, n, k) in shapes {
        let (a, b) = (ramp(m * k, 0.01), ramp(k * n, 0.02));
        let want = reference(&a, &b, (m, n, k));
        let what = format!("{m} x {k} by {k} x {n}");
        for split in [Split::Never, Split::BySize] {
            let mut dst = vec![MaybeUninit::new(f32::NAN); m * n];
            product_into(
                Matrix::rows(&a, (m, k)),
                Matrix::rows(&b, (k, n)),
                &mut dst,
                split,
            );
            // SAFETY: every value was initialised, with NaN.
            let got: Vec<f32> = dst.iter().map(|v| unsafe { v.assume_init() }).collect();
            assert_close(&got, &want, &what);
            let mut sum = got.clone();
            product_add_into(
                Matrix::rows(&a, (m, k)),
                Matrix::rows(&b, (k, n)),
                &mut sum,
                split,
            );
            let twice: Vec<f64> = want.iter().map(|w| 2.0 * w).collect();
            assert_close(&sum, &twice, &format!("{what}, added"));
        }
        let rows = product(
            Matrix::rows(&a, (m, k)),
            Matrix::rows(&b, (k, n)),
            Order::RowMajor,
        );
        assert_close(&rows, &want, &what);
        let columns = product(
            Matrix::rows(&a, (m, k)),
            Matrix::rows(&b, (k, n)),
            Order::ColumnMajor,
        );
        let turned: Vec<f32> = (0..m * n).map(|i| columns[(i % n) * m + i / n]).collect();
        assert_close(&turned, &want, &format!("{what}, column-major"));
    }
}

/// Transposed, sliced and reversed operands are read where they lie: `a^T` of a stored
/// `[k, m]`, and `b` stored backwards (negative steps from its last value).
#[test]
fn strided_and_reversed_operands_are_read_in_place() {
    let (m, n, k) = (5, 6, 7);
    let (a, b) = (ramp(m * k, 0.1), ramp(k * n, 0.05));
    let want = reference(&a, &b, (m, n, k));
    let a_stored_transposed: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
    let b_reversed: Vec<f32> = b.iter().rev().copied().collect();
    let a_t = Matrix::rows(&a_stored_transposed, (k, m)).transposed();
    let b_back = Matrix::new(&b_reversed, k * n - 1, (k, n), (-(n as isize), -1));
    let got = product(a_t, b_back, Order::RowMajor);
    assert_close(&got, &want, "strided");
}

/// A matrix that would reach a value outside the ones it borrows is refused when it is made:
/// past the end, before the start through negative steps, and through sizes whose extent
/// wraps around.
#[test]
fn a_matrix_reaches_only_the_values_it_borrows() {
    let v = vec![1.0; 12];
    Matrix::new(&v, 0, (3, 4), (4, 1));
    Matrix::new(&v, 11, (3, 4), (-4, -1));
    Matrix::new(&v, 12, (0, 4), (4, 1));
    panics_with("reaches past the 12 values", || {
        Matrix::rows(&v, (3, 5));
    });
    panics_with("reaches past the 12 values", || {
        Matrix::new(&v, 1, (3, 4), (4, 1));
    });
    panics_with("reaches past the 12 values", || {
        Matrix::new(&v, 10, (3, 4), (-4, -1));
    });
    panics_with("reaches past the 12 values", || {
        Matrix::new(&v, 0, (usize::MAX / 2, 3), (isize::MAX / 2, 1));
    });
    panics_with("reaches past the 12 values", || {
        Matrix::new(&v, 13, (0, 4), (4, 1));
    });
}

/// Operands whose inner dimensions differ, and outputs of another size, are refused before
/// gemm runs.
#[test]
fn products_refuse_shapes_that_do_not_agree() {
    let (a, b) = (vec![1.0; 6], vec![1.0; 8]);
    panics_with("inner dimensions differ", || {
        product(
            Matrix::rows(&a, (2, 3)),
            Matrix::rows(&b, (4, 2)),
            Order::RowMajor,
        );
    });
    let (a2, b2) = (Matrix::rows(&a, (2, 3)), Matrix::rows(&b[..6], (3, 2)));
    panics_with("a 2 x 2 product's output", || {
        product_into(a2, b2, &mut [MaybeUninit::uninit(); 3], Split::Never);
    });
    panics_with("a 2 x 2 product's output", || {
        product_add_into(a2, b2, &mut [0.0; 5], Split::Never);
    });
}

//! The transpose under the dense layer's input gradient.

use super::panics_with;
use crate::simd::Isa;
use crate::transpose::transpose;
use std::mem::MaybeUninit;

/// Whole tiles, edges, one row, one column and empty matrices, into outputs filled with NaN.
#[test]
fn transpose_writes_every_value_on_every_instruction_set() {
    // Whole 8 x 8 tiles, edges on either side and both, single rows and columns, and an empty
    // matrix.
    for (rows, cols) in [
        (8, 8),
        (16, 24),
        (9, 8),
        (8, 9),
        (13, 21),
        (1, 17),
        (17, 1),
        (64, 400),
        (0, 5),
    ] {
        let src: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
        for isa in Isa::supported() {
            let mut dst = vec![MaybeUninit::new(f32::NAN); rows * cols];
            transpose(isa, &src, (rows, cols), &mut dst);
            for r in 0..rows {
                for c in 0..cols {
                    // SAFETY: every value was initialised (NaN), and NaN is what a value the
                    // transpose missed still holds.
                    let got = unsafe { dst[c * rows + r].assume_init() };
                    assert_eq!(
                        got,
                        src[r * cols + c],
                        "{rows}x{cols} on {isa:?}: row {r}, column {c}"
                    );
                }
            }
        }
    }
}

/// Buffers of another length, and sizes whose product wraps around (to 0 here), are refused
/// before a value is read: the tiles would have read far past both buffers.
#[test]
fn transpose_refuses_buffers_that_do_not_hold_the_matrix() {
    let src = vec![1.0; 12];
    for isa in Isa::supported() {
        panics_with("3 x 4 transpose", || {
            transpose(isa, &src, (3, 4), &mut [MaybeUninit::uninit(); 11]);
        });
        panics_with("3 x 5 transpose", || {
            transpose(isa, &src, (3, 5), &mut [MaybeUninit::uninit(); 15]);
        });
        let wraps = (1usize << (usize::BITS - 1), 2);
        panics_with("transpose reads and writes", || {
            transpose(isa, &[], wraps, &mut []);
        });
    }
}

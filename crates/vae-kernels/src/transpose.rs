//! The transpose of a row-major matrix, 8 x 8 values at a time.
//!
//! The dense layer's input gradient comes out of gemm column-major (so that gemm reads the
//! weight in place instead of copying it into panels) and is turned to rows here. Read one
//! value at a time down the columns, every read was a new cache line: 2% of an MLP step on
//! each shard. An 8 x 8 tile is eight row reads, a transpose in registers (AVX2's shuffles, as
//! compilers emit for `_MM_TRANSPOSE8_PS`) and eight row writes. No crate transposes into
//! storage we hand it: burn-flex's tiled copy moves one value at a time.

use super::simd::Isa;
use std::mem::MaybeUninit;

const TILE: usize = 8;

/// `dst[c * rows + r] = src[r * cols + c]`: the row-major `[cols, rows]` transpose of the
/// row-major `[rows, cols]` `src`, every value of `dst` written. Panics unless `src` and `dst`
/// hold exactly `rows * cols` values.
pub fn transpose(
    isa: Isa,
    src: &[f32],
    (rows, cols): (usize, usize),
    dst: &mut [MaybeUninit<f32>],
) {
    let len = rows.checked_mul(cols);
    assert!(
        len == Some(src.len()) && len == Some(dst.len()),
        "a {rows} x {cols} transpose reads and writes {rows} * {cols} values, not {} and {}",
        src.len(),
        dst.len()
    );
    let done = tiles(isa, src, (rows, cols), dst);
    edges(src, (rows, cols), dst, done);
}

/// The whole 8 x 8 tiles on AVX2 or wider: how many rows and columns they cover.
#[cfg(target_arch = "x86_64")]
fn tiles(
    isa: Isa,
    src: &[f32],
    (rows, cols): (usize, usize),
    dst: &mut [MaybeUninit<f32>],
) -> (usize, usize) {
    // The tiles' copy is compiled for AVX2 alone, which every level from `Avx2` on has.
    if isa.min(Isa::current()) < Isa::Avx2 {
        return (0, 0);
    }
    let (full_rows, full_cols) = (rows / TILE * TILE, cols / TILE * TILE);
    for r in (0..full_rows).step_by(TILE) {
        for c in (0..full_cols).step_by(TILE) {
            // SAFETY: AVX2 is on this CPU (`Isa::current` saw its whole level), and the tile's
            // rows `r..r + 8` and columns `c..c + 8` lie inside both matrices, which hold
            // exactly `rows * cols` values (checked by `transpose`).
            unsafe { tile_avx2(src, cols, dst, rows, r, c) };
        }
    }
    (full_rows, full_cols)
}

#[cfg(not(target_arch = "x86_64"))]
fn tiles(_: Isa, _: &[f32], _: (usize, usize), _: &mut [MaybeUninit<f32>]) -> (usize, usize) {
    (0, 0)
}

/// The values outside the tiles already written: rows from `done_rows` on, and columns from
/// `done_cols` on in the rows before.
fn edges(
    src: &[f32],
    (rows, cols): (usize, usize),
    dst: &mut [MaybeUninit<f32>],
    (done_rows, done_cols): (usize, usize),
) {
    let mut copy = |r: usize, c: usize| {
        dst[c * rows + r].write(src[r * cols + c]);
    };
    // Tiles by columns first, so that the reads of a tile stay in a few cache lines.
    for r0 in (0..done_rows).step_by(TILE) {
        for c in done_cols..cols {
            (r0..r0 + TILE).for_each(|r| copy(r, c));
        }
    }
    for c0 in (0..cols).step_by(TILE) {
        for r in done_rows..rows {
            (c0..(c0 + TILE).min(cols)).for_each(|c| copy(r, c));
        }
    }
}

/// One 8 x 8 tile with its top-left value at row `r`, column `c` of `src`.
///
/// # Safety
/// AVX2 is available, and rows `r..r + 8`, columns `c..c + 8` lie inside `src` (`cols` values a
/// row) and their transpose inside `dst` (`rows` values a row).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2(
    src: &[f32],
    cols: usize,
    dst: &mut [MaybeUninit<f32>],
    rows: usize,
    r: usize,
    c: usize,
) {
    use std::arch::x86_64::*;
    // SAFETY: the caller's contract: AVX2 is here, and every load reads 8 values of a row
    // `r + i` from column `c` and every store writes 8 values of a row `c + j` of `dst` from
    // column `r`, all inside the two matrices.
    unsafe {
        let at = |i: usize| _mm256_loadu_ps(src.as_ptr().add((r + i) * cols + c));
        let (r0, r1, r2, r3) = (at(0), at(1), at(2), at(3));
        let (r4, r5, r6, r7) = (at(4), at(5), at(6), at(7));
        // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves swapped.
        let unpack = |a, b| (_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
        let shuffle = |a, b| {
            (
                _mm256_shuffle_ps::<0x44>(a, b),
                _mm256_shuffle_ps::<0xEE>(a, b),
            )
        };
        let ((t0, t1), (t2, t3)) = (unpack(r0, r1), unpack(r2, r3));
        let ((t4, t5), (t6, t7)) = (unpack(r4, r5), unpack(r6, r7));
        let ((s0, s1), (s2, s3)) = (shuffle(t0, t2), shuffle(t1, t3));
        let ((s4, s5), (s6, s7)) = (shuffle(t4, t6), shuffle(t5, t7));
        let out = dst.as_mut_ptr().cast::<f32>();
        let put = |j: usize, v: __m256| _mm256_storeu_ps(out.add((c + j) * rows + r), v);
        put(0, _mm256_permute2f128_ps::<0x20>(s0, s4));
        put(1, _mm256_permute2f128_ps::<0x20>(s1, s5));
        put(2, _mm256_permute2f128_ps::<0x20>(s2, s6));
        put(3, _mm256_permute2f128_ps::<0x20>(s3, s7));
        put(4, _mm256_permute2f128_ps::<0x31>(s0, s4));
        put(5, _mm256_permute2f128_ps::<0x31>(s1, s5));
        put(6, _mm256_permute2f128_ps::<0x31>(s2, s6));
        put(7, _mm256_permute2f128_ps::<0x31>(s3, s7));
    }
}

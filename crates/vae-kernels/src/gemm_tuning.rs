//! The one setting of burn-flex's matrix products (the `gemm` crate) that we choose.
//!
//! Before its microkernels run, gemm copies ("packs") the weight side of `x @ w` into panels
//! once the batch has more than 8 x 6 rows, so that the panels are read from contiguous memory
//! by every 6-row tile. With its AVX-512 microkernels on a Zen 4 core the copy costs more than
//! it saves up to several hundred rows: 64 x 784 x 400 took 383 us packed and 353 us unpacked,
//! 256 rows 1,461 and 1,419 us, and only at 1,000 rows did packing win (5,572 against 6,091 us
//! for 1,000 x 400 x 784). Our shards multiply 50-256 rows at a time. With the AVX2
//! microkernels packing was faster at every size tried (64 rows: 396 against 425 us), so there
//! gemm keeps its default. Measured with a loop over `gemm::gemm` as burn-flex calls it;
//! docs/benchmarks.md, round five, has the whole-model effect.

/// gemm packs the weights of a single-threaded product with more than this many 6-row tiles
/// (its default is 8: 48 rows) on AVX-512.
#[cfg(target_arch = "x86_64")]
const PACK_AFTER_TILES_AVX512: usize = 64;

/// Sets gemm's packing threshold for this CPU. Process-wide and idempotent: call it before
/// training or inference on the CPU.
pub fn tune_products() {
    // gemm runs its AVX-512 microkernels where pulp finds the whole x86-64-v4 level.
    #[cfg(target_arch = "x86_64")]
    if pulp::x86::V4::is_available() {
        gemm::set_lhs_packing_threshold_single_thread(PACK_AFTER_TILES_AVX512);
    }
}

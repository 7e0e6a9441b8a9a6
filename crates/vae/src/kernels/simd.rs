//! Run-time dispatch of our element-wise kernels to the widest vectors the CPU has.
//!
//! The build targets any x86-64 (SSE2), so a kernel compiled plainly runs 4 lanes even on an
//! AVX-512 machine, and a build flag for a newer CPU would break older ones. [`multiversion!`]
//! compiles one plain, branch-free loop body three times, for AVX-512, for AVX2 with FMA and
//! for the baseline, and picks one at run time, as gemm's microkernels do; LLVM vectorises each
//! copy to its width. No crate does this for us without its own SIMD types (`wide` picks its
//! width at compile time; `pulp` and `macerator` would need the kernels written in theirs).

/// The instruction sets a [`multiversion!`] kernel is compiled for, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    Baseline,
    Avx2,
    Avx512,
}

impl Isa {
    /// Every instruction set this CPU runs, narrowest first (the tests run each kernel on all).
    pub fn supported() -> Vec<Isa> {
        [Isa::Baseline, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|i| *i <= isa())
            .collect()
    }
}

/// What this CPU runs (detected once; `is_x86_feature_detected!` caches it).
pub fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// `multiversion! { pub fn name(args) -> T { body } }` defines `name(isa, args)`, which runs
/// one of three copies of `body` compiled for AVX-512, AVX2 + FMA and the baseline: the one
/// for `isa`, or the widest this CPU has if it lacks `isa` (pass [`isa()`] for the fastest).
/// The body must not `return`.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $out:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name(isa: $crate::kernels::simd::Isa, $($arg: $ty),*) $(-> $out)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $out)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            fn avx512($($arg: $ty),*) $(-> $out)? {
                body($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) $(-> $out)? {
                body($($arg),*)
            }

            match isa.min($crate::kernels::simd::isa()) {
                // SAFETY: `isa` saw these features on this CPU.
                #[cfg(target_arch = "x86_64")]
                $crate::kernels::simd::Isa::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                $crate::kernels::simd::Isa::Avx2 => unsafe { avx2($($arg),*) },
                #[cfg(not(target_arch = "x86_64"))]
                $crate::kernels::simd::Isa::Avx512 | $crate::kernels::simd::Isa::Avx2 => body($($arg),*),
                $crate::kernels::simd::Isa::Baseline => body($($arg),*),
            }
        }
    };
}
pub(crate) use multiversion;

/// Terms summed at once by [`sum`] and by the BCE loss's lanes: 16 independent sums that LLVM
/// keeps in one AVX-512 register (two of AVX2, four of SSE2); one running sum would be a chain
/// it may not reorder.
pub const LANES: usize = 16;

/// `sum(term(a[i], b[i]))` over two runs of equal length, in [`LANES`] independent sums so that
/// the loop vectorises (call it from a [`multiversion!`] body).
#[inline(always)]
pub fn sum(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
    let (a16, b16) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest: f32 = a16
        .remainder()
        .iter()
        .zip(b16.remainder())
        .map(|(&a, &b)| term(a, b))
        .sum();
    let mut sums = [0f32; LANES];
    for (a, b) in a16.zip(b16) {
        for ((sum, &a), &b) in sums.iter_mut().zip(a).zip(b) {
            *sum += term(a, b);
        }
    }
    sums.iter().sum::<f32>() + rest
}

/// `exp(x)` without branches or calls, so that loops over it vectorise: Cephes' `expf` (range
/// reduction by ln 2, a degree-6 polynomial, about 1 ulp), `x` clamped to [-86, 87]: a result
/// below 4.5e-38 comes back as about 4.5e-38, and neither it nor its reciprocal is subnormal
/// or infinite.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // 1.5 * 2^23: adding it rounds to an integer (to nearest) without `round`, which baseline
    // x86-64 has no vector instruction for, and leaves the integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-86.0, 87.0);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_2e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let p = p * (r * r) + r + 1.0;
    let n = t.to_bits() as i32 - ROUND.to_bits() as i32;
    p * f32::from_bits(((n + 127) << 23) as u32)
}

/// `ln(1 + u)` for `u` in [0, 1], without branches or calls: `2 atanh(s)` with `s = u / (2 + u)`
/// in [0, 1/3], by its odd series to `s^13` (truncated at 1.5e-8 relative; 1.9e-7 at most
/// against f64, as Cephes' `logf` of `1 + u`), where `logf` splits the exponent and runs a
/// longer polynomial.
#[inline(always)]
pub fn ln_1p(u: f32) -> f32 {
    let s = u / (2.0 + u);
    let t = s * s;
    let p = 2.0 / 13.0;
    let p = p * t + 2.0 / 11.0;
    let p = p * t + 2.0 / 9.0;
    let p = p * t + 2.0 / 7.0;
    let p = p * t + 2.0 / 5.0;
    let p = p * t + 2.0 / 3.0;
    let p = p * t + 2.0;
    p * s
}

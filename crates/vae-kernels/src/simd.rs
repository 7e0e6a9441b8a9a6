//! Run-time dispatch of the element-wise kernels to the widest vectors the CPU has, and the
//! branch-free maths their loops share.
//!
//! The build targets any x86-64 (SSE2), so a kernel compiled plainly runs 4 lanes even on an
//! AVX-512 machine, and a build flag for a newer CPU would break older ones. [`multiversion!`]
//! compiles a kernel's plain loop once per level, each copy with a whole level's features
//! (x86-64-v3: AVX2, FMA and the rest; x86-64-v4: AVX-512 F, BW, CD, DQ and VL), and picks one
//! at run time; LLVM vectorises each copy to its width. `pulp`, the crate gemm dispatches with,
//! detects the levels: a copy runs only where pulp found every feature it enables (the lists in
//! the macro are pulp's `V3` and `V4`), so a CPU or VM with part of a level (AVX-512F without
//! VL, say) runs the level below. pulp's own `vectorize`, which runs a closure in such a copy,
//! made the window passes slower (in `perf` of the IWAE bound of the conv VAE on AVX2: 11.6% of
//! the samples, against 7.3% for the same loops in these functions; docs/benchmarks.md). On aarch64 the plain copy is the NEON one: NEON is
//! part of that target's baseline, so LLVM vectorises it with no level to pick.

use std::sync::OnceLock;

/// The levels a kernel runs on, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// The target's baseline: SSE2 on x86-64, NEON on aarch64.
    Scalar,
    /// x86-64-v3: AVX2 with FMA.
    Avx2,
    /// x86-64-v4: AVX-512 F, BW, CD, DQ and VL.
    Avx512,
}

/// The environment variable that caps the level every kernel runs on (`scalar`, `avx2` or
/// `avx512`): the tests run each level the CPU has, and a benchmark can stand in for a
/// narrower CPU. gemm's matrix products pick their own microkernels.
pub const MAX_ISA_VARIABLE: &str = "VAE_MAX_ISA";

impl Isa {
    const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512];

    /// The name `VAE_MAX_ISA` takes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The level `VAE_MAX_ISA` names.
    pub fn parse(name: &str) -> Result<Isa, String> {
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name() == name.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                format!("{MAX_ISA_VARIABLE}={name:?} is not a level: use scalar, avx2 or avx512")
            })
    }

    /// The level the kernels run on: the widest this CPU has, capped by `VAE_MAX_ISA`
    /// (detected once). A cap that names no level is reported once on stderr and ignored.
    pub fn current() -> Isa {
        static CURRENT: OnceLock<Isa> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            let cap = match std::env::var(MAX_ISA_VARIABLE) {
                Ok(name) => Isa::parse(&name).unwrap_or_else(|message| {
                    eprintln!("warning: {message}; ignored");
                    Isa::Avx512
                }),
                Err(_) => Isa::Avx512,
            };
            detected().min(cap)
        })
    }

    /// Every level the kernels may run on here, narrowest first: the tests run each kernel on
    /// all of them.
    #[cfg(test)]
    pub fn supported() -> Vec<Isa> {
        Isa::ALL
            .into_iter()
            .filter(|isa| *isa <= Isa::current())
            .collect()
    }
}

/// The widest level this CPU has, every feature of it.
fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if pulp::x86::V4::is_available() {
            return Isa::Avx512;
        }
        if pulp::x86::V3::is_available() {
            return Isa::Avx2;
        }
    }
    Isa::Scalar
}

/// `multiversion! { fn name(args) -> T { body } }` defines `name(isa, args)`, which runs one of
/// three copies of `body`: compiled with x86-64-v4's features, with x86-64-v3's, or plainly; the
/// one for `isa`, or the widest below it that [`Isa::current`] allows. The body must not
/// `return`. The feature lists are pulp's `V3` and `V4`, which [`Isa::current`] detects.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $out:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name(isa: $crate::simd::Isa, $($arg: $ty),*) $(-> $out)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $out)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "fxsr,sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,bmi1,bmi2,fma,lzcnt,avx512f,avx512bw,avx512cd,avx512dq,avx512vl")]
            fn avx512($($arg: $ty),*) $(-> $out)? {
                body($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "fxsr,sse3,ssse3,sse4.1,sse4.2,popcnt,avx,avx2,bmi1,bmi2,fma,lzcnt")]
            fn avx2($($arg: $ty),*) $(-> $out)? {
                body($($arg),*)
            }

            match isa.min($crate::simd::Isa::current()) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Avx512` only where pulp's `V4` found every feature this copy enables.
                $crate::simd::Isa::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Avx2` or above only where pulp's `V3` found every feature of this copy.
                $crate::simd::Isa::Avx2 => unsafe { avx2($($arg),*) },
                #[cfg(not(target_arch = "x86_64"))]
                $crate::simd::Isa::Avx512 | $crate::simd::Isa::Avx2 => body($($arg),*),
                $crate::simd::Isa::Scalar => body($($arg),*),
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

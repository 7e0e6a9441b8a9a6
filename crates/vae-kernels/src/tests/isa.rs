//! The instruction-set levels: what the CPU has decides, capped by `VAE_MAX_ISA`.

use crate::simd::{Isa, MAX_ISA_VARIABLE};

/// A level is picked only when the CPU has every feature its copy is compiled with (pulp's
/// x86-64-v3 and -v4 levels): a CPU or VM with AVX-512F but not VL runs the AVX2 copy. The
/// features are read here with the standard library's own detection.
#[test]
fn a_level_is_picked_only_with_every_feature_of_its_copy() {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if Isa::current() >= Isa::Avx2 {
            let v3 = [
                has!("avx"),
                has!("avx2"),
                has!("fma"),
                has!("bmi1"),
                has!("bmi2"),
                has!("lzcnt"),
                has!("popcnt"),
                has!("sse4.2"),
            ];
            assert!(
                v3.iter().all(|&f| f),
                "{:?} without all of x86-64-v3",
                Isa::current()
            );
        }
        if Isa::current() == Isa::Avx512 {
            let v4 = [
                has!("avx512f"),
                has!("avx512bw"),
                has!("avx512cd"),
                has!("avx512dq"),
                has!("avx512vl"),
            ];
            assert!(
                v4.iter().all(|&f| f),
                "AVX-512 picked without all of x86-64-v4"
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    assert_eq!(Isa::current(), Isa::Scalar);
}

/// Every level can be asked for, on any CPU: one it lacks runs the widest it has, with the same
/// result; `VAE_MAX_ISA` caps the level, and names no other.
#[test]
fn every_level_runs_anywhere_and_the_cap_is_kept() {
    let x: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5).collect();
    let sum = |isa: Isa| crate::sum_of_squares::sum_of_squares(isa, &x);
    let scalar = sum(Isa::Scalar);
    for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
        assert_eq!(sum(isa), scalar, "{isa:?}");
        assert_eq!(Isa::parse(isa.name()), Ok(isa));
    }
    assert_eq!(Isa::parse(" AVX2 "), Ok(Isa::Avx2));
    let refused = Isa::parse("sse9").unwrap_err();
    assert!(refused.contains("use scalar, avx2 or avx512"), "{refused}");
    if let Ok(cap) = std::env::var(MAX_ISA_VARIABLE) {
        assert!(Isa::current() <= Isa::parse(&cap).unwrap(), "{cap}");
    }
    assert_eq!(Isa::supported().first(), Some(&Isa::Scalar));
    assert_eq!(Isa::supported().last(), Some(&Isa::current()));
}

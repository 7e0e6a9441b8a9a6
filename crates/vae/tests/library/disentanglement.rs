//! The disentanglement metrics on synthetic representations whose answers are known: the
//! factors themselves score 1, so does any permutation and rescaling of them, a rotation that
//! mixes two factors loses their share, and noise scores at chance.

use vae::eval::disentanglement::{
    Disentanglement, MetricOptions, discretize, evaluate, mutual_information,
};
use vae::{Error, Result};

/// A constant factor (like dSprites' colour) and four variable ones; the two of size 8 are the
/// ones the rotation mixes, so that nothing but their mixing tells them apart.
const SIZES: [usize; 5] = [1, 3, 8, 8, 5];
const NAMES: [&str; 5] = ["color", "shape", "a", "b", "c"];

fn options() -> MetricOptions {
    MetricOptions {
        mig_points: 10_000,
        batch: 64,
        train_points: 400,
        eval_points: 400,
        variance_points: 5_000,
        seed: 7,
    }
}

/// The variable factors' classes scaled into [0, 1].
fn factors(row: &[usize]) -> Vec<f64> {
    row.iter()
        .zip(SIZES)
        .filter(|(_, s)| *s > 1)
        .map(|(&c, s)| c as f64 / (s - 1) as f64)
        .collect()
}

fn score(mut f: impl FnMut(&[usize]) -> Vec<f64>) -> Disentanglement {
    let mut represent =
        |rows: &[Vec<usize>]| -> Result<Vec<Vec<f64>>> { Ok(rows.iter().map(|r| f(r)).collect()) };
    evaluate(&NAMES, &SIZES, &mut represent, options()).unwrap()
}

#[test]
fn the_factors_themselves_are_perfectly_disentangled() {
    let d = score(factors);
    assert_eq!(d.factors, ["shape", "a", "b", "c"]);
    assert!(d.mig.score > 0.97, "MIG {}", d.mig.score);
    assert!(d.beta_vae.eval > 0.99, "beta-VAE {:?}", d.beta_vae);
    assert!(d.factor_vae.eval > 0.99, "FactorVAE {:?}", d.factor_vae);
    assert_eq!(d.factor_vae_active_dims, 4);
}

#[test]
fn permuting_and_rescaling_dimensions_changes_nothing() {
    // Reversed order, each dimension scaled and shifted differently, plus a constant dimension
    // (which cannot vote: its normalised variance is 0 / 0).
    let d = score(|row| {
        let f = factors(row);
        vec![
            5.0 * f[3] - 2.0,
            0.0,
            -3.0 * f[2],
            10.0 * f[1] + 1.0,
            f[0] * 2.0,
        ]
    });
    assert!(d.mig.score > 0.97, "MIG {}", d.mig.score);
    assert!(d.beta_vae.eval > 0.99, "beta-VAE {:?}", d.beta_vae);
    assert!(d.factor_vae.eval > 0.99, "FactorVAE {:?}", d.factor_vae);
    assert_eq!(
        d.factor_vae_active_dims, 4,
        "the constant dimension must not vote"
    );
}

/// As in disentanglement_lib, a dimension of tiny but nonzero variance votes: only exactly
/// constant codes are left out.
#[test]
fn factor_vae_lets_every_varying_dimension_vote() {
    let d = score(|row| {
        let f = factors(row);
        vec![f[0], f[1], f[2], f[3], 0.001 * f[0]]
    });
    assert_eq!(d.factor_vae_active_dims, 5);
    assert!(d.factor_vae.eval > 0.99, "FactorVAE {:?}", d.factor_vae);
}

#[test]
fn a_rotation_mixing_two_factors_loses_their_share() {
    let s = std::f64::consts::FRAC_1_SQRT_2;
    let d = score(|row| {
        let f = factors(row);
        vec![f[0], s * (f[1] + f[2]), s * (f[1] - f[2]), f[3]]
    });
    // The two mixed factors have no single dimension of their own: their gaps vanish.
    assert!(
        d.mig.gaps[1] < 0.2 && d.mig.gaps[2] < 0.2,
        "{:?}",
        d.mig.gaps
    );
    assert!(
        d.mig.gaps[0] > 0.97 && d.mig.gaps[3] > 0.97,
        "{:?}",
        d.mig.gaps
    );
    assert!((0.35..0.65).contains(&d.mig.score), "MIG {}", d.mig.score);
    // Telling the two mixed factors apart is a coin toss: about 3/4 overall.
    for (name, acc) in [
        ("beta-VAE", d.beta_vae.eval),
        ("FactorVAE", d.factor_vae.eval),
    ] {
        assert!((0.6..0.9).contains(&acc), "{name} {acc}");
    }
}

#[test]
fn noise_scores_at_chance() {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let d = score(|_| (0..4).map(|_| StandardNormal.sample(&mut rng)).collect());
    assert!(d.mig.score < 0.05, "MIG {}", d.mig.score);
    // Four factors: chance is 1/4.
    assert!(d.beta_vae.eval < 0.4, "beta-VAE {:?}", d.beta_vae);
    assert!(d.factor_vae.eval < 0.4, "FactorVAE {:?}", d.factor_vae);
}

#[test]
fn mutual_information_matches_hand_computed_values() {
    // Identical fair coins: MI = ln 2. Independent: 0.
    let a = [0, 1, 0, 1, 0, 1, 0, 1];
    assert!((mutual_information(&a, &a) - 2f64.ln()).abs() < 1e-12);
    let b = [0, 0, 1, 1, 0, 0, 1, 1];
    assert!(mutual_information(&a, &b).abs() < 1e-12);
    // numpy.histogram edges: the maximum falls into the last bin.
    assert_eq!(discretize(&[0.0, 0.5, 1.0, 0.99], 2), [0, 1, 1, 1]);
    assert_eq!(discretize(&[3.0, 3.0], 20), [0, 0]);
}

#[test]
fn bad_representations_and_options_are_errors() {
    let mut nan = |rows: &[Vec<usize>]| -> Result<Vec<Vec<f64>>> {
        Ok(rows.iter().map(|_| vec![f64::NAN]).collect())
    };
    let e = evaluate(&NAMES, &SIZES, &mut nan, options()).unwrap_err();
    assert!(
        matches!(e, Error::Numerical(_)) && e.to_string().contains("NaN"),
        "{e}"
    );
    let mut fine = |rows: &[Vec<usize>]| -> Result<Vec<Vec<f64>>> {
        Ok(rows.iter().map(|r| factors(r)).collect())
    };
    let zero = MetricOptions {
        train_points: 0,
        ..options()
    };
    let e = evaluate(&NAMES, &SIZES, &mut fine, zero).unwrap_err();
    assert!(e.to_string().contains("at least"), "{e}");
    // The FactorVAE metric takes a variance over each point's observations.
    let single = MetricOptions {
        batch: 1,
        ..options()
    };
    let e = evaluate(&NAMES, &SIZES, &mut fine, single).unwrap_err();
    assert!(e.to_string().contains("at least 2"), "{e}");
}

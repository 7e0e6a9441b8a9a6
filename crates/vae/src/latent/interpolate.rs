//! Paths through latent space between two latents: straight, or along the great circle.

use serde::{Deserialize, Serialize};

/// The shape of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    Linear,
    Slerp,
}

/// Straight line from `a` to `b` at fraction `t` (exactly `a` at 0 and `b` at 1).
pub fn lerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter()
        .zip(b)
        .map(|(x, y)| (1.0 - t) * x + t * y)
        .collect()
}

/// Spherical interpolation: follows the great circle, keeping the norm that typical N(0, I)
/// samples have, where a straight line passes through the low-norm middle of the space.
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return lerp(a, b, t);
    }
    let omega = (dot / (na * nb)).clamp(-1.0, 1.0).acos();
    if omega.abs() < 1e-4 {
        return lerp(a, b, t);
    }
    let (sa, sb) = (
        ((1.0 - t) * omega).sin() / omega.sin(),
        (t * omega).sin() / omega.sin(),
    );
    a.iter().zip(b).map(|(x, y)| sa * x + sb * y).collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// `steps` latents (at least 2) from `a` to `b`, both ends included, concatenated.
pub fn path(a: &[f32], b: &[f32], steps: usize, method: Interpolation) -> Vec<f32> {
    let point = match method {
        Interpolation::Linear => lerp,
        Interpolation::Slerp => slerp,
    };
    let steps = steps.max(2);
    (0..steps)
        .flat_map(|s| point(a, b, s as f32 / (steps - 1) as f32))
        .collect()
}

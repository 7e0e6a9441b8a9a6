//! MIG (Chen et al. 2018): the mutual information gap of each factor, over its entropy.

use super::MIG_BINS;
use super::{Mig, Represent, represent_all, sample_classes, variable_factors};
use crate::error::Result;
use rand_chacha::ChaCha8Rng;

/// Entropy in nats of a discrete variable given its counts.
fn entropy(counts: &[usize]) -> f64 {
    let n: usize = counts.iter().sum();
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.ln()
        })
        .sum()
}

/// Mutual information in nats between two discrete variables given as class indices
/// (the plug-in estimate of sklearn's `mutual_info_score`).
pub fn mutual_information(a: &[usize], b: &[usize]) -> f64 {
    let (na, nb) = (
        a.iter().max().map_or(0, |m| m + 1),
        b.iter().max().map_or(0, |m| m + 1),
    );
    let mut joint = vec![0usize; na * nb];
    for (&x, &y) in a.iter().zip(b) {
        joint[x * nb + y] += 1;
    }
    let n = a.len() as f64;
    let mut pa = vec![0usize; na];
    let mut pb = vec![0usize; nb];
    for x in 0..na {
        for y in 0..nb {
            pa[x] += joint[x * nb + y];
            pb[y] += joint[x * nb + y];
        }
    }
    let mut mi = 0.0;
    for x in 0..na {
        for y in 0..nb {
            let c = joint[x * nb + y];
            if c > 0 {
                let p = c as f64 / n;
                mi += p * (c as f64 * n / (pa[x] as f64 * pb[y] as f64)).ln();
            }
        }
    }
    mi.max(0.0)
}

/// `values` put into `bins` equal-width bins between their minimum and maximum (numpy's
/// `digitize` against `histogram` edges, as disentanglement_lib discretises codes).
pub fn discretize(values: &[f64], bins: usize) -> Vec<usize> {
    let min = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let width = (max - min) / bins as f64;
    values
        .iter()
        .map(|&v| {
            if width > 0.0 {
                (((v - min) / width) as usize).min(bins - 1)
            } else {
                0
            }
        })
        .collect()
}

/// The mutual information gap over `points` observations drawn uniformly from the grid.
pub fn mig(
    sizes: &[usize],
    represent: &mut Represent,
    points: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Mig> {
    let rows: Vec<Vec<usize>> = (0..points).map(|_| sample_classes(sizes, rng)).collect();
    let codes = represent_all(represent, &rows)?;
    let dims = codes[0].len();
    let binned: Vec<Vec<usize>> = (0..dims)
        .map(|d| discretize(&codes.iter().map(|c| c[d]).collect::<Vec<_>>(), MIG_BINS))
        .collect();
    let mut gaps = Vec::new();
    let mut mutual = Vec::new();
    for f in variable_factors(sizes) {
        let factor: Vec<usize> = rows.iter().map(|r| r[f]).collect();
        let mut counts = vec![0usize; sizes[f]];
        for &c in &factor {
            counts[c] += 1;
        }
        let h = entropy(&counts);
        let mi: Vec<f64> = binned
            .iter()
            .map(|b| mutual_information(b, &factor))
            .collect();
        let mut sorted = mi.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let second = sorted.get(1).copied().unwrap_or(0.0);
        gaps.push(if h > 0.0 {
            (sorted[0] - second) / h
        } else {
            0.0
        });
        mutual.push(mi);
    }
    Ok(Mig {
        score: gaps.iter().sum::<f64>() / gaps.len().max(1) as f64,
        gaps,
        mutual_information: mutual,
    })
}

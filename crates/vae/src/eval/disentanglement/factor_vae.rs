//! The FactorVAE metric (Kim & Mnih 2018): a majority vote from the dimension of least
//! normalised variance to the fixed factor.

use super::{Accuracy, MetricOptions, Represent, represent_all, sample_classes, variable_factors};
use crate::error::Result;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Per-dimension unbiased variance (numpy's `ddof=1`, as disentanglement_lib) of rows of codes;
/// [`MetricOptions::validate`] makes sure there are at least 2.
fn variances(codes: &[Vec<f64>]) -> Vec<f64> {
    let n = codes.len() as f64;
    (0..codes[0].len())
        .map(|d| {
            let mean = codes.iter().map(|c| c[d]).sum::<f64>() / n;
            codes.iter().map(|c| (c[d] - mean).powi(2)).sum::<f64>() / (n - 1.0)
        })
        .collect()
}

/// FactorVAE-metric votes: for each point, (dimension of least normalised variance, factor).
fn factor_vae_votes(
    sizes: &[usize],
    represent: &mut Represent,
    n: usize,
    batch: usize,
    scale: &[f64],
    active: &[usize],
    rng: &mut ChaCha8Rng,
) -> Result<Vec<(usize, usize)>> {
    let factors = variable_factors(sizes);
    let labels: Vec<usize> = (0..n).map(|_| rng.random_range(0..factors.len())).collect();
    let mut rows = Vec::with_capacity(n * batch);
    for &label in &labels {
        let fixed = rng.random_range(0..sizes[factors[label]]);
        for _ in 0..batch {
            let mut row = sample_classes(sizes, rng);
            row[factors[label]] = fixed;
            rows.push(row);
        }
    }
    let codes = represent_all(represent, &rows)?;
    Ok(codes
        .chunks(batch)
        .zip(labels)
        .map(|(point, label)| {
            let local = variances(point);
            let dim = active
                .iter()
                .copied()
                .min_by(|&a, &b| (local[a] / scale[a]).total_cmp(&(local[b] / scale[b])))
                .unwrap_or(0);
            (dim, label)
        })
        .collect())
}

/// The FactorVAE metric: accuracy of the majority-vote classifier, and the number of code
/// dimensions that voted (all but exactly constant ones).
pub fn factor_vae(
    sizes: &[usize],
    represent: &mut Represent,
    options: &MetricOptions,
    rng: &mut ChaCha8Rng,
) -> Result<(Accuracy, usize)> {
    let rows: Vec<Vec<usize>> = (0..options.variance_points)
        .map(|_| sample_classes(sizes, rng))
        .collect();
    let global = variances(&represent_all(represent, &rows)?);
    let active: Vec<usize> = (0..global.len()).filter(|&d| global[d] > 0.0).collect();
    if active.is_empty() {
        return Ok((
            Accuracy {
                train: 0.0,
                eval: 0.0,
            },
            0,
        ));
    }
    let factors = variable_factors(sizes).len();
    let (batch, dims) = (options.batch, global.len());
    let train = factor_vae_votes(
        sizes,
        represent,
        options.train_points,
        batch,
        &global,
        &active,
        rng,
    )?;
    let mut votes = vec![vec![0usize; factors]; dims];
    for &(d, f) in &train {
        votes[d][f] += 1;
    }
    let classify: Vec<usize> = votes
        .iter()
        .map(|v| {
            (0..factors)
                .max_by_key(|&f| (v[f], usize::MAX - f))
                .unwrap_or(0)
        })
        .collect();
    let eval = factor_vae_votes(
        sizes,
        represent,
        options.eval_points,
        batch,
        &global,
        &active,
        rng,
    )?;
    let accuracy = |points: &[(usize, usize)]| {
        points.iter().filter(|&&(d, f)| classify[d] == f).count() as f64 / points.len() as f64
    };
    Ok((
        Accuracy {
            train: accuracy(&train),
            eval: accuracy(&eval),
        },
        active.len(),
    ))
}

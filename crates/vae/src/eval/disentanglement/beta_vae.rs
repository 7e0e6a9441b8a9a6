//! The beta-VAE metric (Higgins et al. 2017): a linear classifier tells the fixed factor from
//! the mean absolute code difference of pairs.

use super::{Accuracy, MetricOptions, Represent, represent_all, sample_classes, variable_factors};
use crate::error::Result;
use crate::eval::probe::LinearProbe;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// One beta-VAE-metric point: the mean absolute code difference of `batch` pairs sharing the
/// value of a random factor, and that factor's position among the variable factors.
fn beta_vae_points(
    sizes: &[usize],
    represent: &mut Represent,
    n: usize,
    batch: usize,
    rng: &mut ChaCha8Rng,
) -> Result<(Vec<Vec<f64>>, Vec<usize>)> {
    let factors = variable_factors(sizes);
    let labels: Vec<usize> = (0..n).map(|_| rng.random_range(0..factors.len())).collect();
    let mut rows = Vec::with_capacity(2 * n * batch);
    for &label in &labels {
        for _ in 0..batch {
            let first = sample_classes(sizes, rng);
            let mut second = sample_classes(sizes, rng);
            second[factors[label]] = first[factors[label]];
            rows.push(first);
            rows.push(second);
        }
    }
    let codes = represent_all(represent, &rows)?;
    let features = codes
        .chunks(2 * batch)
        .map(|point| {
            let mut mean = vec![0.0; point[0].len()];
            for pair in point.chunks(2) {
                for (m, (a, b)) in mean.iter_mut().zip(pair[0].iter().zip(&pair[1])) {
                    *m += (a - b).abs() / batch as f64;
                }
            }
            mean
        })
        .collect();
    Ok((features, labels))
}

/// The beta-VAE metric: accuracy of a linear classifier that predicts the fixed factor.
pub fn beta_vae(
    sizes: &[usize],
    represent: &mut Represent,
    options: &MetricOptions,
    rng: &mut ChaCha8Rng,
) -> Result<Accuracy> {
    let classes = variable_factors(sizes).len();
    let (x_train, y_train) =
        beta_vae_points(sizes, represent, options.train_points, options.batch, rng)?;
    let (x_eval, y_eval) =
        beta_vae_points(sizes, represent, options.eval_points, options.batch, rng)?;
    let probe = LinearProbe::fit(&x_train, &y_train, classes)?;
    Ok(Accuracy {
        train: probe.accuracy(&x_train, &y_train)?,
        eval: probe.accuracy(&x_eval, &y_eval)?,
    })
}

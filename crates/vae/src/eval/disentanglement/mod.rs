//! Disentanglement metrics for data sets with known factors, following the published
//! definitions as disentanglement_lib implements them (Locatello et al. 2019):
//!
//! - MIG (Chen et al. 2018): each code dimension is discretised into 20 bins; for each factor,
//!   the gap between the two largest mutual informations with a code dimension, divided by the
//!   factor's entropy, averaged over factors.
//! - beta-VAE metric (Higgins et al. 2017): pick a factor, draw pairs of observations that share
//!   its value, average |r(x1) - r(x2)| over a batch of pairs; a linear classifier must tell from
//!   that vector which factor was fixed. Score: its accuracy on held-out points.
//! - FactorVAE metric (Kim & Mnih 2018): fix one factor over a batch, divide the codes by their
//!   global standard deviation, take the dimension of least variance; a majority-vote classifier
//!   maps dimensions to factors. Score: its accuracy on held-out points. As in
//!   disentanglement_lib, every dimension votes (its `_prune_dims` threshold is 0) and variances
//!   are unbiased (`ddof=1`); the one deviation is that a dimension whose code is exactly
//!   constant is left out, where the reference would divide 0 by 0.
//!
//! Each metric is a file of its own (`mig`, `beta_vae`, `factor_vae`); this one holds what they
//! share, the report and the evaluation. A representation is any function from factor classes to codes, so the metrics are tested on
//! synthetic representations with known answers and then run on a model's encoder.

mod beta_vae;
mod factor_vae;
mod mig;

pub use beta_vae::beta_vae;
pub use factor_vae::factor_vae;
pub use mig::{discretize, mig, mutual_information};

use super::EvalOptions;
use super::metric::{Context, Measure, Section, Table};
use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::run::Run;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Histogram bins per code dimension for MIG (disentanglement_lib's default).
pub const MIG_BINS: usize = 20;
/// Rows handed to the representation at once.
const CHUNK: usize = 4096;

/// Maps rows of factor classes to rows of codes.
pub type Represent<'a> = dyn FnMut(&[Vec<usize>]) -> Result<Vec<Vec<f64>>> + 'a;

/// How many points each metric uses. disentanglement_lib uses 10,000 for MIG and 10,000 / 5,000
/// training / evaluation points of 64 observations for the other two; the defaults here are
/// smaller so that a CPU evaluates a model in seconds, and every report states them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricOptions {
    pub mig_points: usize,
    /// Observations (or pairs) per point of the beta-VAE and FactorVAE metrics.
    pub batch: usize,
    pub train_points: usize,
    pub eval_points: usize,
    /// Observations for the FactorVAE metric's global variances.
    pub variance_points: usize,
    pub seed: u64,
}

impl Default for MetricOptions {
    fn default() -> Self {
        MetricOptions {
            mig_points: 10_000,
            batch: 64,
            train_points: 1_000,
            eval_points: 500,
            variance_points: 10_000,
            seed: 0,
        }
    }
}

/// A classifier's accuracy on its training points and on held-out points (the score).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub train: f64,
    pub eval: f64,
}

/// MIG and what it is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mig {
    pub score: f64,
    /// Per factor (those with more than one value): the normalised gap.
    pub gaps: Vec<f64>,
    /// `mutual_information[factor][dim]` in nats.
    pub mutual_information: Vec<Vec<f64>>,
}

/// All three metrics and the options they ran with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Disentanglement {
    /// Names of the factors the metrics are over (those with more than one value).
    pub factors: Vec<String>,
    pub mig: Mig,
    pub beta_vae: Accuracy,
    pub factor_vae: Accuracy,
    /// Code dimensions that took part in the FactorVAE vote.
    pub factor_vae_active_dims: usize,
    pub options: MetricOptions,
}

impl MetricOptions {
    /// Rejects sizes the metrics cannot be computed with.
    pub fn validate(&self) -> Result<()> {
        if self.mig_points < 2
            || self.train_points == 0
            || self.eval_points == 0
            || self.variance_points < 2
        {
            return Err(Error::Config(
                "disentanglement metrics need at least 2 MIG points, 2 variance points and 1 point to train and evaluate on".into(),
            ));
        }
        if self.batch < 2 {
            return Err(Error::Config(format!(
                "the FactorVAE metric takes a variance over each point's observations, so a point needs at least 2 (got {}; the reference uses 64)",
                self.batch
            )));
        }
        Ok(())
    }
}

/// Runs the three metrics on `represent` over the factor grid `sizes`.
pub fn evaluate(
    names: &[&str],
    sizes: &[usize],
    represent: &mut Represent,
    options: MetricOptions,
) -> Result<Disentanglement> {
    options.validate()?;
    let mut rng = crate::rng::rng(options.seed, crate::rng::stream::METRICS);
    let mig = mig(sizes, represent, options.mig_points, &mut rng)?;
    let beta_vae = beta_vae(sizes, represent, &options, &mut rng)?;
    let (factor_vae, factor_vae_active_dims) = factor_vae(sizes, represent, &options, &mut rng)?;
    Ok(Disentanglement {
        factors: variable_factors(sizes)
            .iter()
            .map(|&f| names.get(f).map_or(f.to_string(), |n| n.to_string()))
            .collect(),
        mig,
        beta_vae,
        factor_vae,
        factor_vae_active_dims,
        options,
    })
}

/// The metrics as the lines `vae eval` prints.
impl std::fmt::Display for Disentanglement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self;
        let gaps: Vec<String> = d
            .factors
            .iter()
            .zip(&d.mig.gaps)
            .map(|(name, g)| format!("{name} {g:.2}"))
            .collect();
        let o = &d.options;
        write!(
            f,
            "MIG             {:.3} ({} points; per factor: {})\n\
         beta-VAE metric {:.3} (held-out accuracy; {} / {} points of {} pairs)\n\
         FactorVAE       {:.3} (held-out accuracy; {} / {} points of {}; {} dims voted)\n",
            d.mig.score,
            o.mig_points,
            gaps.join(", "),
            d.beta_vae.eval,
            o.train_points,
            o.eval_points,
            o.batch,
            d.factor_vae.eval,
            o.train_points,
            o.eval_points,
            o.batch,
            d.factor_vae_active_dims,
        )
    }
}

/// Factors with more than one value; a constant factor carries no information to find.
pub fn variable_factors(sizes: &[usize]) -> Vec<usize> {
    (0..sizes.len()).filter(|&f| sizes[f] > 1).collect()
}

/// Factor classes drawn uniformly from the grid.
fn sample_classes(sizes: &[usize], rng: &mut ChaCha8Rng) -> Vec<usize> {
    sizes.iter().map(|&s| rng.random_range(0..s)).collect()
}

/// The representation of many rows, handed over in chunks.
fn represent_all(represent: &mut Represent, rows: &[Vec<usize>]) -> Result<Vec<Vec<f64>>> {
    let mut codes = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(CHUNK) {
        let got = represent(chunk)?;
        if got.len() != chunk.len() || got.iter().any(|c| c.len() != got[0].len()) {
            return Err(Error::Numerical(
                "the representation returned the wrong number of codes".into(),
            ));
        }
        codes.extend(got);
    }
    if codes.iter().flatten().any(|v| !v.is_finite()) {
        return Err(Error::Numerical(
            "the representation produced NaN or infinite codes; the model is broken".into(),
        ));
    }
    Ok(codes)
}

/// The metrics above as one metric of the evaluation ([`Measure`]): computed for data sets with
/// known factors.
pub struct DisentanglementMetric;

impl Measure for DisentanglementMetric {
    type Value = Disentanglement;
    const KEY: &'static str = "disentanglement";

    fn wanted(&self, _run: &Run, test: &Dataset, _options: &EvalOptions) -> bool {
        test.factors.is_some()
    }

    fn measure(&self, context: &Context) -> Result<Disentanglement> {
        let factors = context
            .test
            .factors
            .as_ref()
            .ok_or_else(|| Error::Data("these images have no known factors".into()))?;
        super::disentanglement(
            &context.run.model,
            factors.source.as_ref(),
            &context.run.device,
            context.options.metrics,
        )
    }

    fn section(&self, d: &Disentanglement, _config: &TrainConfig) -> Section {
        let mut head: Vec<String> = ["MIG", "beta-VAE metric", "FactorVAE metric"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        head.extend(d.factors.iter().map(|f| format!("MIG {f}")));
        let mut row = vec![
            format!("{:.3}", d.mig.score),
            format!("{:.3}", d.beta_vae.eval),
            format!("{:.3}", d.factor_vae.eval),
        ];
        row.extend(d.mig.gaps.iter().map(|g| format!("{g:.3}")));
        let o = &d.options;
        Section {
            title: Some("Disentanglement".into()),
            tables: vec![Table {
                head,
                rows: vec![row],
            }],
            notes: vec![format!(
                "MIG over {} observations; beta-VAE and FactorVAE metrics: held-out accuracy over {} points, classifiers trained on {}, {} observations per point.",
                o.mig_points, o.eval_points, o.train_points, o.batch
            )],
        }
    }

    fn scalars(&self, d: &Disentanglement) -> Vec<(String, f64)> {
        vec![
            ("MIG".into(), d.mig.score),
            ("beta-VAE".into(), d.beta_vae.eval),
            ("FactorVAE".into(), d.factor_vae.eval),
        ]
    }
}

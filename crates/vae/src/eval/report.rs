//! [`EvalReport`]: the core of an evaluation and the results of its metrics, as `eval.json`,
//! `vae eval --json` and `vae eval`'s text hold them.

use super::{EvalOptions, METRICS, metric};
use crate::model::Prior;
use crate::model::loss::Reconstruction;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Why grey-level numbers are not likelihoods, in one line for the text output and the report.
pub const GREY_CAVEAT: &str = "grey levels under a Bernoulli are no density on [0,1]^D, so these are the ELBO's and IWAE's formulas, not bounds on log p(x); train with --binarize dynamic or --loss cb for likelihoods in nats";

/// The full evaluation of a model on a data set; all losses per image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    /// Evidence lower bound E_q[log p(x|z)] - KL in nats per image (higher is better): only for
    /// a normalised likelihood, Bernoulli on binarized pixels or the continuous Bernoulli.
    pub elbo: Option<f64>,
    /// Reconstruction term, -E_q[log p(x|z)] (or squared error for `mse`).
    pub recon: f64,
    /// KL(q(z|x) || p(z)) (0 for a plain autoencoder).
    pub kl: f64,
    /// Importance-weighted estimate of -log p(x) in nats (lower is better): only where `elbo`
    /// is given.
    pub nll_iw: Option<f64>,
    /// Bernoulli on grey levels: -(BCE + KL) per image, the ELBO's formula, which bounds no
    /// log-likelihood because the Bernoulli is no density on grey levels ([`GREY_CAVEAT`]).
    #[serde(default)]
    pub neg_bce_kl: Option<f64>,
    /// Bernoulli on grey levels: the IWAE estimator's formula, not an NLL.
    #[serde(default)]
    pub iw_bce: Option<f64>,
    /// Importance samples per image behind `nll_iw` or `iw_bce` (0: not computed).
    pub iw_samples: usize,
    /// Dimensions whose z_mean varies over the data by more than 0.01.
    pub active_units: usize,
    /// Which dimensions those are.
    #[serde(default)]
    pub active_dims: Vec<usize>,
    /// Size of z.
    #[serde(default)]
    pub latent_dim: usize,
    /// Mean KL of each latent dimension (empty for a plain autoencoder).
    pub kl_per_dim: Vec<f64>,
    /// Number of images evaluated.
    pub images: usize,
    pub loss: Reconstruction,
    /// The loss with z = z_mean instead of a sample: deterministic, what another
    /// implementation of the same weights must reproduce (see `vae import --pytorch`). Under
    /// N(0, I) `recon + beta * KL`; under the VampPrior, whose KL has no closed form,
    /// `recon + beta * (log q(z|x) - log p(z))` at z = z_mean, which is no KL.
    #[serde(default)]
    pub loss_at_mean: Option<f64>,
    /// The prior of the evaluated run, which says what `loss_at_mean` adds up.
    #[serde(default)]
    pub prior: Prior,
    /// The settings of a run's evaluation ([`evaluate_run`]), so that a saved report is reused
    /// only for the same settings.
    #[serde(default)]
    pub options: Option<EvalOptions>,
    /// The results of the metrics of [`METRICS`] that were computed, by key; in the
    /// JSON each is a key of its own beside the core numbers (`null` where not computed).
    #[serde(flatten)]
    pub metrics: BTreeMap<String, serde_json::Value>,
}

impl EvalReport {
    /// The result of metric `M`, when it was computed (and reads as this version writes it).
    pub fn metric<M: metric::Measure>(&self) -> Option<M::Value> {
        let value = self.metrics.get(M::KEY).filter(|v| !v.is_null())?;
        M::Value::deserialize(value).ok()
    }

    /// Each computed metric of the registry with its saved result, in the registry's order.
    pub fn computed(
        &self,
    ) -> impl Iterator<Item = (&'static dyn metric::Metric, &serde_json::Value)> {
        METRICS.iter().filter_map(|m| {
            let value = self.metrics.get(m.key()).filter(|v| !v.is_null())?;
            Some((*m, value))
        })
    }

    /// The numbers of the computed metrics that a table of runs puts in columns, by name
    /// ([`metric::Measure::scalars`]).
    pub fn scalars(&self) -> Vec<(String, f64)> {
        self.computed()
            .flat_map(|(metric, value)| metric.scalars(value).unwrap_or_default())
            .collect()
    }

    /// The ELBO, or on grey levels its formula (see [`EvalReport::elbo_name`]).
    pub fn elbo_or_formula(&self) -> Option<f64> {
        self.elbo.or(self.neg_bce_kl)
    }

    /// What [`EvalReport::elbo_or_formula`] is: `ELBO` (nats of a density) or `-(BCE+KL)`.
    pub fn elbo_name(&self) -> &'static str {
        if self.neg_bce_kl.is_some() {
            "-(BCE+KL)"
        } else {
            "ELBO"
        }
    }

    /// True when the numbers are formulas on grey levels, not likelihoods.
    pub fn is_grey_bce(&self) -> bool {
        self.neg_bce_kl.is_some()
    }

    /// Mean KL of the active dimensions: how much information each used dimension carries
    /// (the collapsed ones, whose KL is near 0, left out of the sum as well as the count).
    pub fn kl_per_active_dim(&self) -> Option<f64> {
        let kl: f64 = self
            .active_dims
            .iter()
            .map(|&d| self.kl_per_dim.get(d).copied())
            .sum::<Option<f64>>()?;
        (!self.active_dims.is_empty()).then(|| kl / self.active_dims.len() as f64)
    }
}

/// The table `vae eval` prints.
impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
        let split = self.options.map(|o| o.split).unwrap_or_default();
        let images = format!("{} images", split.name());
        writeln!(f, "{images:<17} {}", self.images)?;
        if self.is_grey_bce() {
            writeln!(f, "-(BCE+KL)       {} per image", opt(self.neg_bce_kl))?;
            writeln!(f, "IW BCE (K={})  {}", self.iw_samples, opt(self.iw_bce))?;
            writeln!(f, "note            {GREY_CAVEAT}")?;
        } else {
            writeln!(f, "ELBO            {} nats/image", opt(self.elbo))?;
            writeln!(f, "NLL (IWAE K={}) {}", self.iw_samples, opt(self.nll_iw))?;
        }
        writeln!(f, "reconstruction  {:.3}", self.recon)?;
        writeln!(f, "KL              {:.3}", self.kl)?;
        match self.prior {
            Prior::Standard => writeln!(f, "loss at z_mean  {}", opt(self.loss_at_mean))?,
            Prior::Vamp => writeln!(
                f,
                "loss at z_mean  {} (reconstruction + beta * (log q(z|x) - log p(z)) at z = z_mean: the VampPrior has no closed-form KL)",
                opt(self.loss_at_mean)
            )?,
        }
        writeln!(
            f,
            "active units    {} of {}",
            self.active_units, self.latent_dim
        )?;
        // Empty for a plain autoencoder and under a VampPrior, whose KL has no per-dimension form.
        if !self.kl_per_dim.is_empty() {
            let kl: Vec<String> = self.kl_per_dim.iter().map(|k| format!("{k:.2}")).collect();
            writeln!(f, "KL per dim      [{}]", kl.join(", "))?;
        }
        for (metric, value) in self.computed() {
            match metric.text(value) {
                Ok(text) => write!(f, "{text}")?,
                Err(e) => writeln!(f, "{:<15} {e}", metric.key())?,
            }
        }
        Ok(())
    }
}

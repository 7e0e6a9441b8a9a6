//! `vae eval`: its core, the test ELBO, the importance-weighted NLL bound ([`iwae`]), active
//! units and KL per latent dimension; and the metrics of [`METRICS`], each in a file of
//! its own (class in z, disentanglement on data sets with known factors, sample quality, class
//! fidelity).

pub mod class_fidelity;
pub mod class_in_z;
pub mod disentanglement;
pub mod iwae;
pub mod metric;
pub mod probe;
pub mod sample_quality;

/// Every metric beyond the core ([`metric`]), one line each, in the order `vae eval` and the
/// report show them.
pub const METRICS: &[&dyn metric::Metric] = &[
    &class_in_z::ClassInZ,
    &disentanglement::DisentanglementMetric,
    &sample_quality::SampleQualityMetric,
    &class_fidelity::ClassFidelityMetric,
];

use crate::data::Dataset;
use crate::data::Inputs;
use crate::data::factors::{FactorSource, render_grid};
use crate::device::{conditions_to_device, narrow_rows, to_device};
use crate::error::{Error, Result};
use crate::latent::{self, ENCODE_BATCH};
use crate::model::Vae;
use crate::model::loss::{Loss, Reconstruction, vae_loss};
use crate::rng::{normal_noise, rng, stream};
use crate::run::{EVAL_FILE, Run};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Test loss per image with one reparameterised sample per image, drawn from a fixed stream so
/// that the numbers of different epochs compare like with like.
pub fn test_loss(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    beta: f64,
    device: &Device,
    seed: u64,
) -> Result<Loss> {
    test_loss_with(model, data, kind, beta, device, Some(seed))
}

/// Test loss per image with z = z_mean (no sampling): deterministic, the number to compare with
/// another implementation of the same model (for a plain autoencoder it equals [`test_loss`]).
pub fn test_loss_at_mean(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    beta: f64,
    device: &Device,
) -> Result<Loss> {
    test_loss_with(model, data, kind, beta, device, None)
}

/// [`vae_loss`] over the whole data set, with z drawn from the stream of `seed`, or z = z_mean
/// without one.
fn test_loss_with(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    beta: f64,
    device: &Device,
    seed: Option<u64>,
) -> Result<Loss> {
    let mut noise_rng = seed
        .filter(|_| model.is_vae())
        .map(|s| rng(s, stream::TEST_NOISE));
    let mut sums = Loss::default();
    let pixels = data.pixels();
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(model.rows_per_pass(ENCODE_BATCH)) {
        let n = chunk.len();
        let Inputs {
            pixels: x,
            conditions,
        } = data.inputs(chunk)?;
        let x = to_device(x, n, pixels, device);
        let y = conditions_to_device(conditions, n, device);
        let eps = noise_rng.as_mut().map(|noise_rng| {
            let latent = model.latent_dim();
            to_device(normal_noise(noise_rng, n * latent), n, latent, device)
        });
        let parts = crate::parallel::over_rows(device, n, |rows| {
            let x = x.clone().narrow(0, rows.start, rows.len());
            let eps = eps.clone().map(|e| e.narrow(0, rows.start, rows.len()));
            let forward = model.forward(x.clone(), narrow_rows(&y, &rows), eps);
            vae_loss(&forward, x, kind, beta, 1).to_host()
        })?;
        for part in parts {
            sums = sums + part?;
        }
    }
    let n = data.len().max(1) as f64;
    // The parts are sums over their images; the total is recombined from the means, exactly.
    Ok(Loss::new(sums.recon / n, sums.kl / n, beta))
}

/// The class of each row of `logits` (`classes` values each): where its largest value is.
fn predictions(logits: &[f32], classes: usize) -> impl Iterator<Item = usize> + '_ {
    logits.chunks(classes).map(move |row| {
        (0..classes)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap_or(0)
    })
}

/// How many rows of `logits` (`classes` values each) have their largest value at the row's
/// label: what every classifier of the evaluation counts as right.
fn correct_predictions(
    logits: &[f32],
    classes: usize,
    labels: impl Iterator<Item = usize>,
) -> usize {
    predictions(logits, classes)
        .zip(labels)
        .filter(|(best, label)| best == label)
        .count()
}

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
    /// `recon + beta * KL` with z = z_mean instead of a sample: deterministic, what another
    /// implementation of the same weights must reproduce (see `vae import --pytorch`).
    #[serde(default)]
    pub loss_at_mean: Option<f64>,
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
        writeln!(f, "test images     {}", self.images)?;
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
        writeln!(f, "loss at z_mean  {}", opt(self.loss_at_mean))?;
        writeln!(
            f,
            "active units    {} of {}",
            self.active_units, self.latent_dim
        )?;
        let kl: Vec<String> = self.kl_per_dim.iter().map(|k| format!("{k:.2}")).collect();
        writeln!(f, "KL per dim      [{}]", kl.join(", "))?;
        for (metric, value) in self.computed() {
            match metric.text(value) {
                Ok(text) => write!(f, "{text}")?,
                Err(e) => writeln!(f, "{:<15} {e}", metric.key())?,
            }
        }
        Ok(())
    }
}

/// The disentanglement metrics of `model`'s z_mean on a factor grid: every observation the
/// metrics ask for is drawn from the grid and encoded.
pub fn disentanglement(
    model: &Vae,
    source: &dyn FactorSource,
    device: &Device,
    options: disentanglement::MetricOptions,
) -> Result<disentanglement::Disentanglement> {
    let pixels = source.height() * source.width();
    let mut represent = |rows: &[Vec<usize>]| -> Result<Vec<Vec<f64>>> {
        let indices: Vec<usize> = rows.iter().map(|r| source.index_of(r)).collect();
        let latents = latent::encode_batches(model, rows.len(), pixels, device, |chunk| {
            let grid: Vec<usize> = chunk.iter().map(|&i| indices[i]).collect();
            Ok(Inputs::images(render_grid(source, &grid)))
        })?;
        Ok((0..latents.len())
            .map(|i| latents.z_mean_of(i).iter().map(|&v| v as f64).collect())
            .collect())
    };
    disentanglement::evaluate(
        source.factor_names(),
        source.factor_sizes(),
        &mut represent,
        options,
    )
}

/// Evaluates `model` on `data`: ELBO with one sample, the IWAE bound with `iw_samples`
/// samples per image (skipped when 0), active units and KL per dimension. `density` says
/// whether the loss is a normalised likelihood of these pixels
/// ([`crate::config::TrainConfig::is_density`]); when it is not, the ELBO's and IWAE's
/// formulas are reported under names that say so.
pub fn evaluate(
    model: &Vae,
    data: &Dataset,
    kind: Reconstruction,
    density: bool,
    iw_samples: usize,
    device: &Device,
    seed: u64,
) -> Result<EvalReport> {
    let latents = latent::encode(model, data, device)?;
    core(
        model, data, &latents, kind, density, iw_samples, device, seed,
    )
}

/// [`evaluate`] with the latents of `data` already encoded.
#[allow(clippy::too_many_arguments)]
fn core(
    model: &Vae,
    data: &Dataset,
    latents: &latent::Latents,
    kind: Reconstruction,
    density: bool,
    iw_samples: usize,
    device: &Device,
    seed: u64,
) -> Result<EvalReport> {
    if data.is_empty() {
        return Err(Error::Data("no images to evaluate".into()));
    }
    let test = test_loss(model, data, kind, 1.0, device, seed)?;
    let formula = model.is_vae() && kind.has_likelihood_form();
    let iw = if formula && iw_samples > 0 {
        Some(iwae::nll(model, data, kind, iw_samples, device, seed)?)
    } else {
        None
    };
    let bound = formula.then_some(-test.total);
    let density = density && kind.has_likelihood_form();
    Ok(EvalReport {
        elbo: bound.filter(|_| density),
        recon: test.recon,
        kl: test.kl,
        nll_iw: iw.filter(|_| density),
        neg_bce_kl: bound.filter(|_| !density),
        iw_bce: iw.filter(|_| !density),
        iw_samples: if iw.is_some() { iw_samples } else { 0 },
        active_units: latents.active_units(),
        active_dims: latents.active_dims(),
        latent_dim: latents.latent_dim,
        kl_per_dim: latents.kl_per_dim().unwrap_or_default(),
        images: data.len(),
        loss: kind,
        loss_at_mean: None,
        options: None,
        metrics: BTreeMap::new(),
    })
}

/// What `vae eval` measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// Importance samples per image for the NLL bound (0 skips it).
    pub iw_samples: usize,
    /// Evaluate the first N test images only.
    pub limit: Option<usize>,
    /// Points of the disentanglement metrics (factor data sets only).
    pub metrics: disentanglement::MetricOptions,
    /// Samples for the sample-quality scores (`None` skips them).
    #[serde(default)]
    pub quality_samples: Option<usize>,
    /// Samples per class for a conditional run's class fidelity (`None` skips it).
    #[serde(default)]
    pub fidelity_samples: Option<usize>,
}

/// Evaluates a trained run on its test split: the core, then every metric of
/// [`METRICS`] that applies and was asked for; saves the report as the run's
/// `eval.json`.
pub fn evaluate_run(run: &Run, options: EvalOptions) -> Result<EvalReport> {
    if options.limit == Some(0) {
        return Err(Error::Config("--limit must be at least 1 image".into()));
    }
    for metric in METRICS {
        metric.check(run, &options)?;
    }
    let mut test = run.test_data()?;
    if let Some(n) = options.limit {
        test.truncate(n);
    }
    let latents = latent::encode(&run.model, &test, &run.device)?;
    let mut report = core(
        &run.model,
        &test,
        &latents,
        run.config.loss,
        run.config.is_density(),
        options.iw_samples,
        &run.device,
        run.config.seed,
    )?;
    report.loss_at_mean = Some(
        test_loss_at_mean(
            &run.model,
            &test,
            run.config.loss,
            run.config.beta,
            &run.device,
        )?
        .total,
    );
    let context = metric::Context::new(run, &test, &latents, &options);
    for metric in METRICS {
        if metric.wanted(run, &test, &options) {
            report
                .metrics
                .insert(metric.key().to_string(), metric.measure(&context)?);
        }
    }
    report.options = Some(options);
    let text = serde_json::to_string(&report).expect("report serialises");
    crate::fsutil::write_atomic(&run.path(EVAL_FILE), text.as_bytes())?;
    Ok(report)
}

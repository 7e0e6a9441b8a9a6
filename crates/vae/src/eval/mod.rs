//! `vae eval`: its core, the test ELBO, the importance-weighted NLL bound ([`iwae`]), active
//! units and KL per latent dimension; and the metrics of [`METRICS`], each in a file of
//! its own (class in z, disentanglement on data sets with known factors, sample quality, class
//! fidelity).

pub mod class_fidelity;
pub mod class_in_z;
pub mod classifier;
pub mod disentanglement;
pub mod held_out;
pub mod iwae;
pub mod loss;
pub mod metric;
pub mod probe;
pub mod report;
pub mod sample_quality;

/// Every metric beyond the core ([`metric`]), one line each, in the order `vae eval` and the
/// report show them.
pub const METRICS: &[&dyn metric::Metric] = &[
    &class_in_z::ClassInZ,
    &disentanglement::DisentanglementMetric,
    &sample_quality::SampleQualityMetric,
    &class_fidelity::ClassFidelityMetric,
];

pub use loss::{test_loss, test_loss_at_mean};
pub use report::{EvalReport, GREY_CAVEAT};

use crate::data::Dataset;
use crate::data::Inputs;
use crate::data::factors::{FactorSource, render_grid};
use crate::error::{Error, Result};
use crate::latent::{self};
use crate::model::loss::Reconstruction;
use crate::model::{Prior, Vae};
use crate::run::{EVAL_FILE, EVAL_VALIDATION_FILE, Run};
use burn::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
        prior: Prior::default(),
        options: None,
        metrics: BTreeMap::new(),
    })
}

/// Which held-out images an evaluation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// The test split: read once per final configuration.
    #[default]
    Test,
    /// The validation split the run held out (`--validation N`): where settings are chosen.
    Validation,
}

impl Split {
    /// Its name in reports: "test" or "validation".
    pub fn name(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Validation => "validation",
        }
    }
}

/// What `vae eval` measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// The images measured.
    #[serde(default)]
    pub split: Split,
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

/// Evaluates a trained run on its test split (or its validation split): the core, then every
/// metric of [`METRICS`] that applies and was asked for; saves the report as the run's
/// `eval.json` (`eval-validation.json`).
pub fn evaluate_run(run: &Run, options: EvalOptions) -> Result<EvalReport> {
    if options.limit == Some(0) {
        return Err(Error::Config("--limit must be at least 1 image".into()));
    }
    // Counts that cannot fit are refused before the data is read.
    iwae::check_samples(&run.model, options.iw_samples)?;
    for metric in METRICS {
        metric.check(run, &options)?;
    }
    let (mut test, file) = match options.split {
        Split::Test => (run.test_data()?, EVAL_FILE),
        Split::Validation => (run.validation_data()?, EVAL_VALIDATION_FILE),
    };
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
    report.prior = run.config.prior;
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
    crate::fsutil::write_atomic(&run.path(file), text.as_bytes())?;
    Ok(report)
}

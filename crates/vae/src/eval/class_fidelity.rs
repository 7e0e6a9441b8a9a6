//! Class fidelity of a conditional VAE: asked for class c, does it draw a c? Samples decoded
//! from z ~ N(0, I) (a conditional model has no other prior) with each class's one-hot
//! condition go through the feature classifier of the data set ([`FeatureClassifier`], trained
//! on the real training images); the share it labels as c is the class's fidelity. The same classifier's accuracy on the real images of
//! each class of the evaluated split (test or validation, [`HeldOut`]) is the ceiling: a
//! sampler cannot be told apart better than real data.

use super::classifier::FeatureClassifier;
use super::held_out::HeldOut;
use super::metric::{Context, Measure, Section, Table};
use super::{EvalOptions, Split};
use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{ConditionKind, Conditioning};
use crate::rng::{normal_noise, rng, stream};
use crate::run::Run;
use serde::{Deserialize, Serialize};

/// What `vae eval --class-fidelity` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassFidelity {
    /// The split whose real images give the ceiling.
    #[serde(default)]
    pub split: Split,
    /// Samples drawn per class.
    pub samples_per_class: usize,
    pub classes: Vec<String>,
    /// Per class: the share of its samples the classifier labels as that class.
    pub per_class: Vec<f64>,
    /// The mean of `per_class`.
    pub overall: f64,
    /// Per class: the classifier's accuracy on the split's real images of that class.
    pub ceiling_per_class: Vec<f64>,
    /// The classifier's accuracy on all the split's real images.
    pub ceiling: f64,
}

/// The classes of a class-conditional run; an error naming the fix for any other run.
pub fn classes_of(run: &Run) -> Result<&Conditioning> {
    match run.conditioning() {
        Some(c) if c.kind == ConditionKind::Class => Ok(c),
        Some(_) => Err(Error::Config(
            "class fidelity scores class-conditional runs; this run is conditioned on attributes, which the data set's classifier does not know".into(),
        )),
        None => Err(Error::Config(format!(
            "class fidelity needs a conditional run, and {} is not one; train one with `vae train --conditional`",
            run.dir.display()
        ))),
    }
}

/// Refuses `per_class` samples per class that cannot fit in memory: their z, drawn once, and one
/// class's decoded images (with their class) are held at once. Checked before anything is
/// drawn or loaded.
pub fn check_samples(run: &Run, per_class: usize) -> Result<()> {
    let m = &run.model_config;
    let floats = (2 * m.latent_dim + m.pixels() + m.condition_dim()) as f64;
    crate::model::memory::check_size(
        &format!("class fidelity with {per_class} samples per class"),
        per_class as f64 * (4.0 * floats + 8.0),
        "use fewer --fidelity-samples (1000 is the default)",
    )
}

/// Draws `per_class` samples of each class of a class-conditional `run` (z from the stream of
/// `seed`, the same z for every class) and scores them with `classifier`; the ceiling is its
/// accuracy on `held_out`'s split.
pub fn class_fidelity(
    run: &Run,
    held_out: &HeldOut,
    classifier: &FeatureClassifier,
    per_class: usize,
    seed: u64,
) -> Result<ClassFidelity> {
    let conditioning = classes_of(run)?;
    if per_class == 0 {
        return Err(Error::Config(
            "--fidelity-samples must be at least 1 (try 1000)".into(),
        ));
    }
    check_samples(run, per_class)?;
    let latent = run.model_config.latent_dim;
    let z = normal_noise(&mut rng(seed, stream::CLASS_FIDELITY), per_class * latent);
    let mut per_class_share = Vec::with_capacity(conditioning.dim());
    for (c, name) in conditioning.names.iter().enumerate() {
        let images = run.decode(z.clone(), Some(&conditioning.condition_of(name)?))?;
        let right = classifier
            .predict(&images)?
            .into_iter()
            .filter(|&p| p == c)
            .count();
        per_class_share.push(right as f64 / per_class as f64);
    }
    // The ceiling on the split's images as they are (grey levels, as the classifier was
    // trained).
    let real = &held_out.images;
    let predicted = {
        let all: Vec<usize> = (0..real.len()).collect();
        let mut out = Vec::with_capacity(real.len());
        for chunk in all.chunks(1000) {
            out.extend(classifier.predict(&real.gather(chunk)?)?);
        }
        out
    };
    let mut right = vec![0usize; conditioning.dim()];
    let mut count = vec![0usize; conditioning.dim()];
    for (&label, &p) in real.labels.iter().zip(&predicted) {
        let label = label as usize;
        if label < count.len() {
            count[label] += 1;
            right[label] += (p == label) as usize;
        }
    }
    let share = |r: usize, n: usize| r as f64 / n.max(1) as f64;
    Ok(ClassFidelity {
        split: held_out.split,
        samples_per_class: per_class,
        classes: conditioning.names.clone(),
        overall: per_class_share.iter().sum::<f64>() / per_class_share.len() as f64,
        per_class: per_class_share,
        ceiling_per_class: right
            .iter()
            .zip(&count)
            .map(|(&r, &n)| share(r, n))
            .collect(),
        ceiling: share(right.iter().sum(), count.iter().sum()),
    })
}

impl std::fmt::Display for ClassFidelity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "class fidelity  {:.1}% of {} samples per class drawn as the class asked for (real {} images: {:.1}%)",
            100.0 * self.overall,
            self.samples_per_class,
            self.split.name(),
            100.0 * self.ceiling
        )?;
        for ((name, s), c) in self
            .classes
            .iter()
            .zip(&self.per_class)
            .zip(&self.ceiling_per_class)
        {
            writeln!(
                f,
                "  {name:<14}{:5.1}%  (real {:5.1}%)",
                100.0 * s,
                100.0 * c
            )?;
        }
        Ok(())
    }
}

/// Class fidelity as a metric of the evaluation ([`Measure`]): with `--class-fidelity`, for
/// class-conditional runs (refused for the others).
pub struct ClassFidelityMetric;

impl Measure for ClassFidelityMetric {
    type Value = ClassFidelity;
    const KEY: &'static str = "class_fidelity";

    fn check(&self, run: &Run, options: &EvalOptions) -> Result<()> {
        if let Some(per_class) = options.fidelity_samples {
            classes_of(run)?;
            check_samples(run, per_class)?;
        }
        Ok(())
    }

    fn wanted(&self, _run: &Run, _test: &Dataset, options: &EvalOptions) -> bool {
        options.fidelity_samples.is_some()
    }

    fn measure(&self, context: &Context) -> Result<ClassFidelity> {
        let per_class = context.options.fidelity_samples.unwrap_or(0);
        class_fidelity(
            context.run,
            context.held_out()?,
            context.classifier()?,
            per_class,
            context.run.config.seed,
        )
    }

    fn section(&self, c: &ClassFidelity, _config: &TrainConfig) -> Section {
        let mut rows: Vec<Vec<String>> = c
            .classes
            .iter()
            .zip(&c.per_class)
            .zip(&c.ceiling_per_class)
            .map(|((name, s), r)| {
                vec![
                    name.clone(),
                    format!("{:.1}%", 100.0 * s),
                    format!("{:.1}%", 100.0 * r),
                ]
            })
            .collect();
        rows.push(vec![
            "all".into(),
            format!("{:.1}%", 100.0 * c.overall),
            format!("{:.1}%", 100.0 * c.ceiling),
        ]);
        let split = c.split.name();
        Section {
            title: Some("Class fidelity".into()),
            tables: vec![Table {
                head: vec![
                    "class".into(),
                    "samples drawn as the class".into(),
                    format!("real {split} images"),
                ],
                rows,
            }],
            notes: vec![format!(
                "{} samples per class from z ~ N(0, I) decoded with the class's one-hot condition (the same z for every class), labelled by \
                 the data set's feature classifier; its accuracy on the real {split} images of each class is the ceiling.",
                c.samples_per_class
            )],
        }
    }

    fn scalars(&self, c: &ClassFidelity) -> Vec<(String, f64)> {
        vec![("class fidelity".into(), c.overall)]
    }
}

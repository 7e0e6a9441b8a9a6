//! The metrics of `vae eval` beyond its core (the ELBO, the IWAE bound, how the latent
//! dimensions are used): each is a type of its own behind [`Measure`], in a file of its own,
//! and one line of [`METRICS`](super::METRICS). The evaluation computes the ones that apply and were asked for,
//! keeps each result in [`super::EvalReport::metrics`] under its key (so `eval.json` and
//! `vae eval --json` hold it there), and `vae eval`, the report and the sweep read it back
//! through the same registry: none of them names a metric.

use super::EvalOptions;
use super::classifier::FeatureClassifier;
use super::held_out::HeldOut;
use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::latent::Latents;
use crate::run::Run;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Display;
use std::sync::OnceLock;

/// One metric: when it applies, how it is measured, and how people read its result.
pub trait Measure: Sync {
    /// What it measures; `Display` is its part of `vae eval`'s text.
    type Value: Serialize + DeserializeOwned + Display;
    /// Its key in `eval.json` and in `vae eval --json`.
    const KEY: &'static str;

    /// Refuses an evaluation that asks for it where it cannot apply, before anything is
    /// computed (one line, with the fix).
    fn check(&self, _run: &Run, _options: &EvalOptions) -> Result<()> {
        Ok(())
    }

    /// Whether this evaluation computes it: asked for (by `options`), and meaningful for the
    /// run and its test images.
    fn wanted(&self, run: &Run, test: &Dataset, options: &EvalOptions) -> bool;

    /// Measures it.
    fn measure(&self, context: &Context) -> Result<Self::Value>;

    /// Its section of the report of a run with `config`.
    fn section(&self, value: &Self::Value, config: &TrainConfig) -> Section;

    /// Its numbers that a sweep puts in columns, by name.
    fn scalars(&self, _value: &Self::Value) -> Vec<(String, f64)> {
        Vec::new()
    }
}

/// What the evaluation hands a metric: the run, the images evaluated and their latents, the
/// options, and what metrics share (the split's real images and the feature classifier, read
/// and trained once).
pub struct Context<'a> {
    pub run: &'a Run,
    pub test: &'a Dataset,
    pub latents: &'a Latents,
    pub options: &'a EvalOptions,
    held_out: OnceLock<HeldOut>,
    classifier: OnceLock<FeatureClassifier>,
}

impl<'a> Context<'a> {
    pub fn new(
        run: &'a Run,
        test: &'a Dataset,
        latents: &'a Latents,
        options: &'a EvalOptions,
    ) -> Self {
        Context {
            run,
            test,
            latents,
            options,
            held_out: OnceLock::new(),
            classifier: OnceLock::new(),
        }
    }

    /// The real images of the evaluated split and the training images apart from them
    /// ([`HeldOut`]), read on first use and then shared.
    pub fn held_out(&self) -> Result<&HeldOut> {
        if let Some(h) = self.held_out.get() {
            return Ok(h);
        }
        let read = HeldOut::of(self.run, self.options.split)?;
        Ok(self.held_out.get_or_init(|| read))
    }

    /// The classifier of the evaluation ([`FeatureClassifier::of`]), trained on first use
    /// and then shared.
    pub fn classifier(&self) -> Result<&FeatureClassifier> {
        if let Some(c) = self.classifier.get() {
            return Ok(c);
        }
        let trained = FeatureClassifier::of(self.held_out()?, &self.run.device)?;
        Ok(self.classifier.get_or_init(|| trained))
    }
}

/// A metric's result as people read it, without a format: a heading, tables and notes. The
/// report draws it as HTML.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    pub title: Option<String>,
    pub tables: Vec<Table>,
    pub notes: Vec<String>,
}

/// A table: its header cells, then its rows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// [`Measure`] with the values as JSON, so that metrics of every type sit in one registry.
pub trait Metric: Sync {
    fn key(&self) -> &'static str;
    fn check(&self, run: &Run, options: &EvalOptions) -> Result<()>;
    fn wanted(&self, run: &Run, test: &Dataset, options: &EvalOptions) -> bool;
    fn measure(&self, context: &Context) -> Result<Value>;
    /// Its part of `vae eval`'s text.
    fn text(&self, value: &Value) -> Result<String>;
    fn section(&self, value: &Value, config: &TrainConfig) -> Result<Section>;
    fn scalars(&self, value: &Value) -> Result<Vec<(String, f64)>>;
}

/// A saved value of metric `key` read back as its type; an error names the metric.
fn read<T: DeserializeOwned>(key: &str, value: &Value) -> Result<T> {
    T::deserialize(value).map_err(|e| {
        Error::Config(format!(
            "the saved {key} is not what this vae writes ({e}); evaluate the run again"
        ))
    })
}

impl<M: Measure> Metric for M {
    fn key(&self) -> &'static str {
        M::KEY
    }

    fn check(&self, run: &Run, options: &EvalOptions) -> Result<()> {
        Measure::check(self, run, options)
    }

    fn wanted(&self, run: &Run, test: &Dataset, options: &EvalOptions) -> bool {
        Measure::wanted(self, run, test, options)
    }

    fn measure(&self, context: &Context) -> Result<Value> {
        Ok(
            serde_json::to_value(Measure::measure(self, context)?)
                .expect("metric values serialise"),
        )
    }

    fn text(&self, value: &Value) -> Result<String> {
        Ok(read::<M::Value>(M::KEY, value)?.to_string())
    }

    fn section(&self, value: &Value, config: &TrainConfig) -> Result<Section> {
        Ok(Measure::section(self, &read(M::KEY, value)?, config))
    }

    fn scalars(&self, value: &Value) -> Result<Vec<(String, f64)>> {
        Ok(Measure::scalars(self, &read(M::KEY, value)?))
    }
}

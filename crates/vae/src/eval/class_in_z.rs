//! Class in z: how well z_mean tells the class, read by a linear probe. A conditional VAE is
//! given the class, so its z need not hold it.

use super::metric::{Context, Measure, Section};
use super::{EvalOptions, probe};
use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::latent;
use crate::run::Run;
use serde::{Deserialize, Serialize};

/// The metric ([`Measure`]): computed on every evaluation of labelled images.
pub struct ClassInZ;

/// The held-out accuracy of the probe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClassAccuracy(pub f64);

impl std::fmt::Display for ClassAccuracy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "class in z      {:.1}% (a linear probe reading the class from z_mean, held-out half of the images)",
            100.0 * self.0
        )
    }
}

impl Measure for ClassInZ {
    type Value = ClassAccuracy;
    const KEY: &'static str = "class_in_z";

    fn wanted(&self, _run: &Run, test: &Dataset, _options: &EvalOptions) -> bool {
        test.class_names.len() >= 2 && test.len() >= CLASS_PROBE_MIN_IMAGES
    }

    fn measure(&self, context: &Context) -> Result<ClassAccuracy> {
        let test = context.test;
        class_in_z(context.latents, &test.labels, test.class_names.len())?
            .map(ClassAccuracy)
            .ok_or_else(|| {
                Error::Data(format!(
                    "class in z needs two classes and {CLASS_PROBE_MIN_IMAGES} images with latents"
                ))
            })
    }

    fn section(&self, value: &ClassAccuracy, config: &TrainConfig) -> Section {
        Section {
            title: None,
            tables: Vec::new(),
            notes: vec![format!(
                "Class in z: a linear probe reads the class from z_mean for {:.1}% of held-out test images{}.",
                100.0 * value.0,
                if config.conditional {
                    " (the decoder is given the class, so z need not hold it)"
                } else {
                    ""
                }
            )],
        }
    }
}

/// Images a linear probe needs at least for [`class_in_z`].
const CLASS_PROBE_MIN_IMAGES: usize = 20;

/// The held-out accuracy of a linear probe ([`probe::LinearProbe`]) that reads the class from
/// z_mean: fitted on the even-numbered images, scored on the odd ones. `None` with fewer than
/// two classes or [`CLASS_PROBE_MIN_IMAGES`] images.
pub fn class_in_z(latents: &latent::Latents, labels: &[u8], classes: usize) -> Result<Option<f64>> {
    if classes < 2 || latents.len() < CLASS_PROBE_MIN_IMAGES || labels.len() != latents.len() {
        return Ok(None);
    }
    let rows = |parity: usize| {
        let picked = (parity..latents.len()).step_by(2);
        let x: Vec<Vec<f64>> = picked
            .clone()
            .map(|i| latents.z_mean_of(i).iter().map(|&v| v as f64).collect())
            .collect();
        let y: Vec<usize> = picked.map(|i| labels[i] as usize).collect();
        (x, y)
    };
    let (x_fit, y_fit) = rows(0);
    let (x_eval, y_eval) = rows(1);
    let probe = probe::LinearProbe::fit(&x_fit, &y_fit, classes)?;
    probe.accuracy(&x_eval, &y_eval).map(Some)
}

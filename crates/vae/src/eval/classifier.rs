//! The feature classifier of a data set: a small MLP trained on the data set's own labels,
//! whose 64-unit layer is the feature space of the sample-quality scores and whose predictions
//! score a conditional run's class fidelity. Trained once per evaluation and shared
//! ([`super::metric::Context::classifier`]).

use super::held_out::HeldOut;
use crate::data::Dataset;
use crate::device::{seeded, to_device, to_host};
use crate::error::{Error, Result};
use crate::rng::{rng, stream};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu};
use rand::seq::SliceRandom;

/// Size of the feature layer the distances are measured in.
pub const FEATURES: usize = 64;
/// Width of the classifier's first hidden layer.
const HIDDEN: usize = 256;
/// Training of the classifier: passes, batch, Adam's step, and at most this many images (the
/// first of the training split, which is in random order for every built-in set).
const EPOCHS: usize = 5;
const BATCH: usize = 128;
const LR: f64 = 1e-3;
const MAX_TRAIN_IMAGES: usize = 60_000;
/// The classifier's seed: fixed, so that every run of a data set is measured with the same
/// features.
pub const SEED: u64 = 0;
/// Images per pass when computing features.
pub(super) const CHUNK: usize = 1000;
/// pixels -> 256 -> 64 (the features) -> classes, ReLU between.
#[derive(Module, Debug)]
struct FeatureNet {
    hidden: Linear,
    features: Linear,
    output: Linear,
}

impl FeatureNet {
    fn features(&self, x: Tensor<2>) -> Tensor<2> {
        relu(self.features.forward(relu(self.hidden.forward(x))))
    }

    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.output.forward(self.features(x))
    }
}

/// The trained classifier whose features the metrics use.
pub struct FeatureClassifier {
    net: FeatureNet,
    pixels: usize,
    device: Device,
}

impl FeatureClassifier {
    /// The classifier of an evaluation, trained on the training images `held_out` keeps apart
    /// from the evaluated split: what sample quality and class fidelity measure with.
    pub fn of(held_out: &HeldOut, device: &Device) -> Result<Self> {
        Self::train(&held_out.train, device)
    }

    /// Trains on (at most the first 60,000 images of) `data` with its labels: the same weights
    /// for the same data, whichever run asks.
    pub fn train(data: &Dataset, device: &Device) -> Result<Self> {
        let classes = data.class_names.len().max(2);
        let pixels = data.pixels();
        let n = data.len().min(MAX_TRAIN_IMAGES);
        if n == 0 {
            return Err(Error::Data(
                "no training images to fit the feature classifier on".into(),
            ));
        }
        let ad = device.clone().autodiff();
        let mut net = seeded(&ad, SEED, || FeatureNet {
            hidden: LinearConfig::new(pixels, HIDDEN).init(&ad),
            features: LinearConfig::new(HIDDEN, FEATURES).init(&ad),
            output: LinearConfig::new(FEATURES, classes).init(&ad),
        });
        let mut optimizer = crate::optim::adam();
        let mut order: Vec<usize> = (0..n).collect();
        for epoch in 0..EPOCHS {
            order.shuffle(&mut rng(SEED, stream::CLASSIFIER + epoch as u64));
            for batch in order.chunks(BATCH) {
                crate::interrupt::check()?;
                let x = to_device(data.gather(batch)?, batch.len(), pixels, &ad);
                let mut one_hot = vec![0f32; batch.len() * classes];
                for (row, &i) in batch.iter().enumerate() {
                    one_hot[row * classes + data.labels[i] as usize] = 1.0;
                }
                let targets = to_device(one_hot, batch.len(), classes, &ad);
                let loss = (log_softmax(net.logits(x), 1) * targets)
                    .sum()
                    .neg()
                    .div_scalar(batch.len() as f32);
                (net, _) = crate::optim::minimise(&mut optimizer, LR, net, loss.reshape([1]))?
                    .map_err(|(_, broke)| {
                        Error::Numerical(format!("the feature classifier diverged: {broke}"))
                    })?;
            }
        }
        Ok(FeatureClassifier {
            net: net.valid(),
            pixels,
            device: device.clone(),
        })
    }

    /// The features of images lying one after another in `images`: `FEATURES` values each.
    pub fn features(&self, images: &[f32]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(images.len() / self.pixels * FEATURES);
        for chunk in images.chunks(CHUNK * self.pixels) {
            crate::interrupt::check()?;
            let n = chunk.len() / self.pixels;
            let x = to_device(chunk.to_vec(), n, self.pixels, &self.device);
            out.extend(to_host(self.net.features(x))?);
        }
        Ok(out)
    }

    /// The features of the images of `data` at `indices`, gathered a chunk at a time.
    pub(super) fn features_of(&self, data: &Dataset, indices: &[usize]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(indices.len() * FEATURES);
        for chunk in indices.chunks(CHUNK) {
            out.extend(self.features(&data.gather(chunk)?)?);
        }
        Ok(out)
    }

    /// The class it gives each of the images lying one after another in `images`.
    pub fn predict(&self, images: &[f32]) -> Result<Vec<usize>> {
        let mut out = Vec::with_capacity(images.len() / self.pixels);
        for chunk in images.chunks(CHUNK * self.pixels) {
            crate::interrupt::check()?;
            let n = chunk.len() / self.pixels;
            let logits = self
                .net
                .logits(to_device(chunk.to_vec(), n, self.pixels, &self.device));
            let classes = logits.dims()[1];
            out.extend(super::predictions(&to_host(logits)?, classes));
        }
        Ok(out)
    }

    /// Share of `data`'s images it labels right: the ceiling of what its features tell apart.
    pub fn accuracy(&self, data: &Dataset) -> Result<f64> {
        let mut correct = 0;
        let indices: Vec<usize> = (0..data.len()).collect();
        for chunk in indices.chunks(CHUNK) {
            let x = to_device(data.gather(chunk)?, chunk.len(), self.pixels, &self.device);
            let logits = self.net.logits(x);
            let classes = logits.dims()[1];
            let labels = chunk.iter().map(|&i| data.labels[i] as usize);
            correct += super::correct_predictions(&to_host(logits)?, classes, labels);
        }
        Ok(correct as f64 / data.len().max(1) as f64)
    }
}

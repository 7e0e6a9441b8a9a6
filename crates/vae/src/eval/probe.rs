//! A linear probe: how much of a label a representation holds in linear form. The beta-VAE
//! and FactorVAE metrics score factors with it, and the evaluation asks it how well z_mean
//! tells the class (a conditional VAE leaves the class out of z).

use crate::error::{Error, Result};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// Softmax regression on standardised features (standardising is an affine change that keeps
/// linear separability and makes one learning rate fit every representation's scale), trained
/// full-batch with Adam. disentanglement_lib uses scikit-learn's logistic regression here.
#[derive(Module, Debug)]
struct Probe {
    linear: Linear,
}

pub struct LinearProbe {
    probe: Probe,
    mean: Vec<f64>,
    std: Vec<f64>,
    device: Device,
}

/// Adam steps of the linear probe.
const PROBE_STEPS: usize = 500;

impl LinearProbe {
    /// Fits the probe to rows `x` with classes `y` (`classes` of them).
    pub fn fit(x: &[Vec<f64>], y: &[usize], classes: usize) -> Result<Self> {
        let dims = x[0].len();
        let n = x.len() as f64;
        let mean: Vec<f64> = (0..dims)
            .map(|d| x.iter().map(|r| r[d]).sum::<f64>() / n)
            .collect();
        let std: Vec<f64> = (0..dims)
            .map(|d| {
                let var = x.iter().map(|r| (r[d] - mean[d]).powi(2)).sum::<f64>() / n;
                var.sqrt().max(1e-12)
            })
            .collect();
        let device = Device::flex();
        let ad = device.clone().autodiff();
        let mut probe = LinearProbe {
            probe: crate::device::seeded(&ad, 0, || Probe {
                linear: LinearConfig::new(dims, classes).init(&ad),
            }),
            mean,
            std,
            device,
        };
        let inputs = probe.tensor(x, &ad);
        let mut one_hot = vec![0f32; y.len() * classes];
        for (i, &c) in y.iter().enumerate() {
            one_hot[i * classes + c] = 1.0;
        }
        let targets = crate::device::to_device(one_hot, y.len(), classes, &ad);
        let mut optimizer = crate::optim::adam();
        let mut model = probe.probe;
        for _ in 0..PROBE_STEPS {
            let log_p = log_softmax(model.linear.forward(inputs.clone()), 1);
            let loss = (log_p * targets.clone())
                .sum()
                .neg()
                .div_scalar(y.len() as f32);
            (model, _) = crate::optim::minimise(&mut optimizer, 0.05, model, loss.reshape([1]))?
                .map_err(|(_, broke)| {
                    Error::Numerical(format!("the linear probe diverged: {broke}"))
                })?;
        }
        probe.probe = model.valid();
        Ok(probe)
    }

    fn tensor(&self, x: &[Vec<f64>], device: &Device) -> Tensor<2> {
        let dims = self.mean.len();
        let values = x
            .iter()
            .flat_map(|r| (0..dims).map(|d| ((r[d] - self.mean[d]) / self.std[d]) as f32))
            .collect();
        crate::device::to_device(values, x.len(), dims, device)
    }

    /// Share of rows `x` it gives their class `y`.
    pub fn accuracy(&self, x: &[Vec<f64>], y: &[usize]) -> Result<f64> {
        let logits = self.probe.linear.forward(self.tensor(x, &self.device));
        let classes = logits.dims()[1];
        let values = crate::device::to_host(logits)?;
        let correct = super::correct_predictions(&values, classes, y.iter().copied());
        Ok(correct as f64 / y.len() as f64)
    }
}

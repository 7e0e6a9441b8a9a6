//! `gated-mlp`: the dense VAE with gated layers of the VampPrior paper (Tomczak & Welling 2018,
//! after Dauphin et al. 2017), each hidden layer `h = (W x + b) * sigmoid(V x + c)`:
//!
//! ```text
//! encoder: x -> GatedDense(pixels, 300) -> GatedDense(300, 300) -> z_mean, z_log_var (Linear)
//! decoder: z -> GatedDense(latent, 300) -> GatedDense(300, 300) -> Linear(300, pixels) (logits)
//! ```
//!
//! The gate lets each unit scale its own output between 0 and the linear value, so no unit dies
//! as a ReLU's can; the paper's density results for one stochastic layer use these layers. The
//! heads, the decoder's output and a conditional model's `[x, y]` are the MLP's ([`super::mlp`]).

use super::Layer;
use super::ModelConfig;
use super::mlp::{
    Mlp, decoder_sizes, dense_model_layers, encoder_sizes, posterior_heads, with_condition,
};
use super::{Architecture, Decoder, DecoderModule, Defaults, Encoder, EncoderModule, Family};
use crate::error::Result;
use crate::model::posterior::Posterior;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use vae_kernels::linear;

/// `gated-mlp`: dense layers whose every unit has a sigmoid gate.
pub struct GatedMlp;

impl Family for GatedMlp {
    type Encoder = GatedMlpEncoder;
    type Decoder = GatedMlpDecoder;
}

impl Architecture for GatedMlp {
    fn name(&self) -> &'static str {
        "gated-mlp"
    }

    fn about(&self) -> &'static str {
        "dense layers (--hidden) with a sigmoid gate on every unit, (W x) * sigmoid(V x), the VAE of the VampPrior paper (try --hidden 300,300 --latent-dim 40)."
    }

    fn defaults(&self) -> Defaults {
        Mlp.defaults()
    }

    fn validate(&self, config: &ModelConfig) -> Result<()> {
        Mlp.validate(config)
    }

    /// Each gated layer makes its two products, the gate's sigmoid and the gated output, on
    /// both sides; the rest is the MLP's.
    fn layers(&self, config: &ModelConfig) -> Vec<Layer> {
        dense_model_layers(config, |half, sizes| {
            sizes
                .windows(2)
                .map(|w| Layer::dense(half, w[0], w[1], 2, 4.0 * w[1] as f64))
                .collect()
        })
    }

    fn build(&self, config: &ModelConfig, device: &Device) -> (Encoder, Decoder) {
        (
            Encoder::GatedMlp(GatedMlpEncoder::new(config, device)),
            Decoder::GatedMlp(GatedMlpDecoder::new(config, device)),
        )
    }
}

/// One gated dense layer: `value(x) * sigmoid(gate(x))`.
#[derive(Module, Debug)]
pub struct GatedDense {
    pub value: Linear,
    pub gate: Linear,
}

impl GatedDense {
    pub fn new(inputs: usize, outputs: usize, device: &Device) -> Self {
        GatedDense {
            value: LinearConfig::new(inputs, outputs).init(device),
            gate: LinearConfig::new(inputs, outputs).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        linear(&self.value, x.clone()) * sigmoid(linear(&self.gate, x))
    }
}

/// Gated layers between consecutive `sizes`.
fn gated_stack(sizes: &[usize], device: &Device) -> Vec<GatedDense> {
    sizes
        .windows(2)
        .map(|w| GatedDense::new(w[0], w[1], device))
        .collect()
}

/// x -> gated layers -> z_mean, z_log_var.
#[derive(Module, Debug)]
pub struct GatedMlpEncoder {
    pub hidden: Vec<GatedDense>,
    pub z_mean: Linear,
    /// `None` for a plain autoencoder.
    pub z_log_var: Option<Linear>,
}

impl GatedMlpEncoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let sizes = encoder_sizes(config);
        let last = *sizes.last().expect("at least the input size");
        let head = || LinearConfig::new(last, config.latent_dim).init(device);
        GatedMlpEncoder {
            hidden: gated_stack(&sizes, device),
            z_mean: head(),
            z_log_var: (!config.autoencoder).then(head),
        }
    }
}

impl EncoderModule for GatedMlpEncoder {
    fn forward(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> Posterior {
        let h = self
            .hidden
            .iter()
            .fold(with_condition(x, condition), |h, layer| layer.forward(h));
        posterior_heads(&self.z_mean, self.z_log_var.as_ref(), h)
    }
}

/// z -> gated layers (mirrored) -> pixel logits.
#[derive(Module, Debug)]
pub struct GatedMlpDecoder {
    pub hidden: Vec<GatedDense>,
    pub output: Linear,
}

impl GatedMlpDecoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let sizes = decoder_sizes(config);
        let last = *sizes.last().expect("at least the latent size");
        GatedMlpDecoder {
            hidden: gated_stack(&sizes, device),
            output: LinearConfig::new(last, config.pixels()).init(device),
        }
    }
}

impl DecoderModule for GatedMlpDecoder {
    /// Pixel logits `[batch, pixels]`.
    fn forward(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
        let h = self
            .hidden
            .iter()
            .fold(with_condition(z, condition), |h, layer| layer.forward(h));
        linear(&self.output, h)
    }
}

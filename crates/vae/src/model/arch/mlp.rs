//! Dense encoder and decoder, as in pytorch/examples `vae/main.py`:
//!
//! ```text
//! encoder: x -> Linear(pixels, 400) -> ReLU -> z_mean = Linear(400, latent), z_log_var = Linear(400, latent)
//! decoder: z -> Linear(latent, 400) -> ReLU -> Linear(400, pixels) (logits)
//! ```
//!
//! Any list of hidden sizes works (`--hidden 512,256`); the decoder mirrors it. A conditional
//! model reads `[x, y]` and `[z, y]` instead ([`with_condition`]).

use super::ModelConfig;
use super::{Architecture, Decoder, DecoderModule, Defaults, Encoder, EncoderModule, Family};
use super::{Half, Layer};
use crate::error::{Error, Result};
use crate::model::loss::Reconstruction;
use crate::model::posterior::Posterior;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use vae_kernels::linear;

/// `mlp`: the dense VAE of pytorch/examples (784-400-20).
pub struct Mlp;

impl Family for Mlp {
    type Encoder = MlpEncoder;
    type Decoder = MlpDecoder;
}

impl Architecture for Mlp {
    fn name(&self) -> &'static str {
        "mlp"
    }

    fn about(&self) -> &'static str {
        "dense layers (--hidden), the VAE of pytorch/examples."
    }

    fn defaults(&self) -> Defaults {
        Defaults {
            latent_dim: 20,
            channels: vec![32, 64, 128],
            loss: Reconstruction::Bce,
            lr: 1e-3,
            photographs: false,
            batch_size: 128,
        }
    }

    fn validate(&self, config: &ModelConfig) -> Result<()> {
        if config.hidden.is_empty() || config.hidden.contains(&0) {
            return Err(Error::Config(format!(
                "MLP hidden sizes must be one or more positive numbers (got {:?}; try --hidden 400)",
                config.hidden
            )));
        }
        Ok(())
    }

    /// Each hidden layer makes its product and its ReLU, on both sides; the input and the
    /// logits; a conditional model's y and its copies in `[x, y]` and `[z, y]`.
    fn layers(&self, config: &ModelConfig) -> Vec<Layer> {
        dense_model_layers(config, |half, sizes| {
            sizes
                .windows(2)
                .map(|w| Layer::dense(half, w[0], w[1], 1, 2.0 * w[1] as f64))
                .collect()
        })
    }

    fn build(&self, config: &ModelConfig, device: &Device) -> (Encoder, Decoder) {
        (
            Encoder::Mlp(MlpEncoder::new(config, device)),
            Decoder::Mlp(MlpDecoder::new(config, device)),
        )
    }
}

/// The layers of a dense model (the MLP's, the gated MLP's) whose `hidden` layers between
/// consecutive sizes are given: the input, a conditional model's y and its copies, the hidden
/// layers of the encoder, its heads, those of the decoder, and its logits.
pub fn dense_model_layers(
    config: &ModelConfig,
    hidden: impl Fn(Half, &[usize]) -> Vec<Layer>,
) -> Vec<Layer> {
    let (pixels, condition) = (config.pixels(), config.condition_dim());
    let heads = if config.autoencoder { 1 } else { 2 };
    let mut layers = vec![
        Layer::tensors(Half::Encoder, pixels as f64),
        Layer::tensors(Half::Encoder, 3.0 * condition as f64),
    ];
    let sizes = encoder_sizes(config);
    layers.extend(hidden(Half::Encoder, &sizes));
    let last = *sizes.last().expect("at least the input size");
    layers.push(Layer::dense(
        Half::Encoder,
        last,
        config.latent_dim,
        heads,
        0.0,
    ));
    layers.extend(hidden(Half::Decoder, &decoder_sizes(config)));
    layers.push(Layer::dense(
        Half::Decoder,
        config.hidden[0],
        pixels,
        1,
        pixels as f64,
    ));
    layers
}

/// The encoder's layer sizes: its input (with a conditional model's y), then `--hidden`.
pub fn encoder_sizes(config: &ModelConfig) -> Vec<usize> {
    let mut sizes = vec![config.pixels() + config.condition_dim()];
    sizes.extend(&config.hidden);
    sizes
}

/// The decoder's layer sizes: z (with a conditional model's y), then `--hidden` mirrored.
pub fn decoder_sizes(config: &ModelConfig) -> Vec<usize> {
    let mut sizes = vec![config.latent_dim + config.condition_dim()];
    sizes.extend(config.hidden.iter().rev());
    sizes
}

/// Dense layers between consecutive `sizes`.
fn dense_layers(sizes: &[usize], device: &Device) -> Vec<Linear> {
    sizes
        .windows(2)
        .map(|w| LinearConfig::new(w[0], w[1]).init(device))
        .collect()
}

/// `[h, y]`: the input with a conditional model's condition `y` appended (Sohn et al. 2015),
/// or the input alone for the unconditional models.
pub fn with_condition(h: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
    match condition {
        Some(y) => Tensor::cat(vec![h, y], 1),
        None => h,
    }
}

/// x -> hidden (ReLU) -> z_mean, z_log_var.
#[derive(Module, Debug)]
pub struct MlpEncoder {
    pub hidden: Vec<Linear>,
    pub z_mean: Linear,
    /// `None` for a plain autoencoder.
    pub z_log_var: Option<Linear>,
}

impl MlpEncoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let sizes = encoder_sizes(config);
        let last = *sizes.last().expect("at least the input size");
        let head = || LinearConfig::new(last, config.latent_dim).init(device);
        MlpEncoder {
            hidden: dense_layers(&sizes, device),
            z_mean: head(),
            z_log_var: (!config.autoencoder).then(head),
        }
    }
}

impl EncoderModule for MlpEncoder {
    fn forward(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> Posterior {
        let h = self
            .hidden
            .iter()
            .fold(with_condition(x, condition), |h, layer| {
                relu(linear(layer, h))
            });
        posterior_heads(&self.z_mean, self.z_log_var.as_ref(), h)
    }
}

/// The two dense heads on the encoder's features: `z_mean` and, for a VAE, `z_log_var`.
pub fn posterior_heads(z_mean: &Linear, z_log_var: Option<&Linear>, h: Tensor<2>) -> Posterior {
    match z_log_var {
        Some(z_log_var) => Posterior::Gaussian {
            z_log_var: linear(z_log_var, h.clone()),
            z_mean: linear(z_mean, h),
        },
        None => Posterior::Point {
            z_mean: linear(z_mean, h),
        },
    }
}

/// z -> hidden (ReLU, mirrored) -> pixel logits.
#[derive(Module, Debug)]
pub struct MlpDecoder {
    pub hidden: Vec<Linear>,
    pub output: Linear,
}

impl MlpDecoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let sizes = decoder_sizes(config);
        let last = *sizes.last().expect("at least the latent size");
        MlpDecoder {
            hidden: dense_layers(&sizes, device),
            output: LinearConfig::new(last, config.pixels()).init(device),
        }
    }
}

impl DecoderModule for MlpDecoder {
    /// Pixel logits `[batch, pixels]`.
    fn forward(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
        let h = self
            .hidden
            .iter()
            .fold(with_condition(z, condition), |h, layer| {
                relu(linear(layer, h))
            });
        linear(&self.output, h)
    }
}

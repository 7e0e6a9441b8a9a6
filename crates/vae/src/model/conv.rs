//! The convolutional encoder and decoder of Generative Deep Learning (ch. 3, and ch. 3's
//! CelebA VAE), in the book's Keras terms:
//!
//! ```text
//! encoder: x = Conv2D(32, 3, strides=2, padding="same", activation="relu")(image)  # then 64, 128
//!          x = Flatten()(x)
//!          z_mean = Dense(latent)(x); z_log_var = Dense(latent)(x)
//! decoder: x = Dense(4 * 4 * 128)(z); x = Reshape((4, 4, 128))(x)
//!          x = Conv2DTranspose(128, 3, strides=2, padding="same", activation="relu")(x)  # then 64, 32
//!          logits = Conv2D(1, 3, padding="same")(x)
//! ```
//!
//! Images are padded to a multiple of 2^layers (28x28 -> 32x32) and the logits cropped back.
//! The CelebA family puts batch norm and leaky ReLU after every (transposed) convolution. The
//! conv layers run as one [`ConvStack`] and one [`DeconvStack`] (see `conv_stack`). A
//! conditional model appends its condition y to the flattened features before the heads and to
//! z before the decoder's dense layer ([`with_condition`]).

use super::config::ModelConfig;
use super::conv_stack::{
    ConvStack, DeconvStack, StackPlan, batch_norms, output_conv, strided_convs, strided_deconvs,
};
use super::mlp::{posterior_heads, with_condition};
use super::posterior::Posterior;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{BatchNorm, Linear, LinearConfig};
use burn::prelude::*;

/// Size of the flattened features after the last stride-2 convolution.
fn flat_size(config: &ModelConfig) -> usize {
    let [h, w] = StackPlan::new(config).feature_size();
    config.channels.last().copied().unwrap_or(1) * h * w
}

/// Image -> stride-2 convs -> flatten -> z_mean, z_log_var.
#[derive(Module, Debug)]
pub struct ConvEncoder {
    pub convs: Vec<Conv2d>,
    /// One per conv for the CelebA family, else empty.
    pub norms: Vec<BatchNorm>,
    pub z_mean: Linear,
    /// `None` for a plain autoencoder.
    pub z_log_var: Option<Linear>,
    /// `[channels, height, width]` of the input images.
    #[module(skip)]
    pub image: [usize; 3],
    #[module(skip)]
    pub plan: StackPlan,
}

impl ConvEncoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let flat = flat_size(config) + config.condition_dim();
        let head = || LinearConfig::new(flat, config.latent_dim).init(device);
        ConvEncoder {
            convs: strided_convs(config, device),
            norms: batch_norms(config, &config.channels, device),
            z_mean: head(),
            z_log_var: (!config.autoencoder).then(head),
            image: [config.image_channels, config.height, config.width],
            plan: StackPlan::new(config),
        }
    }

    /// The conv layers as one layer.
    pub fn stack(&self) -> ConvStack<'_> {
        ConvStack {
            convs: &self.convs,
            norms: &self.norms,
            plan: &self.plan,
        }
    }

    /// Images `[batch, channels * height * width]` (channel-planar) to their posterior.
    pub fn forward(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> Posterior {
        let [batch, _] = x.dims();
        let [channels, height, width] = self.image;
        let features = self
            .stack()
            .forward(x.reshape([batch, channels, height, width]))
            .flatten(1, 3);
        posterior_heads(
            &self.z_mean,
            self.z_log_var.as_ref(),
            with_condition(features, condition),
        )
    }
}

/// z -> dense -> reshape -> transposed convs -> 3x3 conv -> crop -> pixel logits.
#[derive(Module, Debug)]
pub struct ConvDecoder {
    pub dense: Linear,
    pub deconvs: Vec<ConvTranspose2d>,
    /// One per transposed conv for the CelebA family, else empty.
    pub norms: Vec<BatchNorm>,
    pub output: Conv2d,
    /// `[channels, height, width]` of the dense layer's output, reshaped.
    #[module(skip)]
    pub features: [usize; 3],
    #[module(skip)]
    pub plan: StackPlan,
}

impl ConvDecoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let plan = StackPlan::new(config);
        let [height, width] = plan.feature_size();
        let top_channels = *config.channels.last().expect("at least one conv layer");
        let reversed: Vec<usize> = config.channels.iter().rev().copied().collect();
        ConvDecoder {
            dense: LinearConfig::new(
                config.latent_dim + config.condition_dim(),
                flat_size(config),
            )
            .init(device),
            deconvs: strided_deconvs(config, device),
            norms: batch_norms(config, &reversed, device),
            output: output_conv(config, device),
            features: [top_channels, height, width],
            plan,
        }
    }

    /// The transposed convs and the output conv as one layer.
    pub fn stack(&self) -> DeconvStack<'_> {
        DeconvStack {
            deconvs: &self.deconvs,
            norms: &self.norms,
            output: &self.output,
            plan: &self.plan,
        }
    }

    /// Pixel logits `[batch, channels * height * width]`, channel-planar.
    pub fn forward(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
        let [batch, _] = z.dims();
        let [channels, height, width] = self.features;
        let h = self
            .dense
            .forward(with_condition(z, condition))
            .reshape([batch, channels, height, width]);
        self.stack().forward(h).flatten(1, 3)
    }
}

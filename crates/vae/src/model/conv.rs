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

use super::config::{Arch, ModelConfig};
use super::mlp::{posterior_heads, with_condition};
use super::posterior::Posterior;
use crate::kernels::{ConvStack, DeconvStack, StackPlan};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

/// The plan of `config`'s stacks: its images through its stride-2 layers.
fn plan(config: &ModelConfig) -> StackPlan {
    StackPlan::new(config.height, config.width, config.channels.len())
}

/// Size of the flattened features after the last stride-2 convolution.
fn flat_size(config: &ModelConfig) -> usize {
    let [h, w] = plan(config).feature_size();
    config.channels.last().copied().unwrap_or(1) * h * w
}

/// One batch norm per layer of `channels` for the CelebA family, none otherwise.
pub fn batch_norms(config: &ModelConfig, channels: &[usize], device: &Device) -> Vec<BatchNorm> {
    match config.arch {
        Arch::Celeba => channels
            .iter()
            .map(|&c| BatchNormConfig::new(c).init(device))
            .collect(),
        _ => Vec::new(),
    }
}

/// The stride-2 convolutions from the image's channels through `config.channels`.
pub fn strided_convs(config: &ModelConfig, device: &Device) -> Vec<Conv2d> {
    let mut channels = vec![config.image_channels];
    channels.extend(&config.channels);
    channels
        .windows(2)
        .map(|c| {
            Conv2dConfig::new([c[0], c[1]], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        })
        .collect()
}

/// The stride-2 transposed convolutions through `config.channels` reversed (the first keeps
/// the width of the last encoder layer).
pub fn strided_deconvs(config: &ModelConfig, device: &Device) -> Vec<ConvTranspose2d> {
    let reversed: Vec<usize> = config.channels.iter().rev().copied().collect();
    std::iter::once(reversed[0])
        .chain(reversed.iter().copied())
        .zip(reversed.iter().copied())
        .map(|(c_in, c_out)| {
            ConvTranspose2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .with_padding_out([1, 1])
                .init(device)
        })
        .collect()
}

/// The final 3x3 convolution from the decoder's last channels to the image's.
pub fn output_conv(config: &ModelConfig, device: &Device) -> Conv2d {
    let last = config.channels[0];
    Conv2dConfig::new([last, config.image_channels], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
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
            plan: plan(config),
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
        let plan = plan(config);
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

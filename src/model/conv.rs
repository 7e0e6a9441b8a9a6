//! Convolutional encoder and decoder of the Generative Deep Learning (ch. 3) VAE: images padded
//! to a multiple of 2^layers (28x28 -> 32x32), 3x3 stride-2 convolutions 32/64/128, dense to the
//! latent; the decoder mirrors it with transposed convolutions and a final 3x3 convolution.

use super::config::ModelConfig;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::ops::PadMode;

/// Image geometry shared by encoder and decoder.
#[derive(Module, Debug)]
pub struct Geometry {
    pub height: usize,
    pub width: usize,
    pub padded_height: usize,
    pub padded_width: usize,
}

impl Geometry {
    fn new(config: &ModelConfig) -> Self {
        let (padded_height, padded_width) = config.padded_size();
        Geometry {
            height: config.height,
            width: config.width,
            padded_height,
            padded_width,
        }
    }

    fn top(&self) -> usize {
        (self.padded_height - self.height) / 2
    }

    fn left(&self) -> usize {
        (self.padded_width - self.width) / 2
    }
}

/// x -> padded image -> stride-2 convs (ReLU) -> flatten -> z_mean, z_log_var.
#[derive(Module, Debug)]
pub struct ConvEncoder {
    pub geometry: Geometry,
    pub convs: Vec<Conv2d>,
    pub z_mean: Linear,
    pub z_log_var: Option<Linear>,
}

impl ConvEncoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let geometry = Geometry::new(config);
        let channels: Vec<usize> = std::iter::once(1)
            .chain(config.channels.iter().copied())
            .collect();
        let convs = channels
            .windows(2)
            .map(|c| {
                Conv2dConfig::new([c[0], c[1]], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect();
        let flat = flat_size(config);
        ConvEncoder {
            geometry,
            convs,
            z_mean: LinearConfig::new(flat, config.latent_dim).init(device),
            z_log_var: (!config.autoencoder)
                .then(|| LinearConfig::new(flat, config.latent_dim).init(device)),
        }
    }

    /// Returns `(z_mean, z_log_var)`; `z_log_var` is `None` for a plain autoencoder.
    pub fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        let g = &self.geometry;
        let [batch, _] = x.dims();
        let image = x.reshape([batch, 1, g.height, g.width]);
        let (top, left) = (g.top(), g.left());
        let image = image.pad(
            [
                (top, g.padded_height - g.height - top),
                (left, g.padded_width - g.width - left),
            ],
            PadMode::Constant(0.0),
        );
        let h = self
            .convs
            .iter()
            .fold(image, |h, conv| relu(conv.forward(h)));
        let h: Tensor<2> = h.flatten(1, 3);
        let z_log_var = self.z_log_var.as_ref().map(|l| l.forward(h.clone()));
        (self.z_mean.forward(h), z_log_var)
    }
}

/// z -> dense -> reshape -> transposed convs (ReLU) -> 3x3 conv -> crop -> pixel logits.
#[derive(Module, Debug)]
pub struct ConvDecoder {
    pub geometry: Geometry,
    pub dense: Linear,
    pub deconvs: Vec<ConvTranspose2d>,
    pub output: Conv2d,
    pub top_channels: usize,
}

impl ConvDecoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let geometry = Geometry::new(config);
        let reversed: Vec<usize> = config.channels.iter().rev().copied().collect();
        let top_channels = reversed[0];
        let inputs = std::iter::once(top_channels).chain(reversed.iter().copied());
        let deconvs = inputs
            .zip(reversed.iter().copied())
            .map(|(cin, cout)| {
                ConvTranspose2dConfig::new([cin, cout], [3, 3])
                    .with_stride([2, 2])
                    .with_padding([1, 1])
                    .with_padding_out([1, 1])
                    .init(device)
            })
            .collect();
        let last = *reversed.last().expect("at least one conv layer");
        ConvDecoder {
            geometry,
            dense: LinearConfig::new(config.latent_dim, flat_size(config)).init(device),
            deconvs,
            output: Conv2dConfig::new([last, 1], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            top_channels,
        }
    }

    /// Pixel logits `[batch, height * width]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let g = &self.geometry;
        let [batch, _] = z.dims();
        let scale = 1usize << self.deconvs.len();
        let h = self.dense.forward(z).reshape([
            batch,
            self.top_channels,
            g.padded_height / scale,
            g.padded_width / scale,
        ]);
        let h = self
            .deconvs
            .iter()
            .fold(h, |h, deconv| relu(deconv.forward(h)));
        let (top, left) = (g.top(), g.left());
        let logits = self.output.forward(h).slice([
            0..batch,
            0..1,
            top..top + g.height,
            left..left + g.width,
        ]);
        logits.reshape([batch, g.height * g.width])
    }
}

/// Size of the flattened feature map after the last stride-2 convolution.
fn flat_size(config: &ModelConfig) -> usize {
    let (h, w) = config.padded_size();
    let scale = 1usize << config.channels.len();
    config.channels.last().copied().unwrap_or(1) * (h / scale) * (w / scale)
}

//! Convolutional encoder and decoder of the Generative Deep Learning (ch. 3) VAEs: images padded
//! to a multiple of 2^layers (28x28 -> 32x32), 3x3 stride-2 convolutions 32/64/128, dense to the
//! latent; the decoder mirrors it with transposed convolutions and a final 3x3 convolution.
//! The CelebA variant puts batch norm and leaky ReLU after every (transposed) convolution.
//!
//! Activations travel channels-last, `[batch * height * width, channels]` (see `im2col`), so
//! batch norm sees `[rows, channels]`, which Burn's `BatchNorm` normalises per channel.

use super::config::ModelConfig;
use super::im2col::{self, Grid, Window};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu};

/// Slope of the leaky ReLU for x < 0: Keras' default (0.3), which the book's models use.
pub const LEAKY_SLOPE: f64 = 0.3;

/// The nonlinearity after a convolution: ReLU, or batch norm then leaky ReLU.
fn activate(h: Tensor<2>, norm: Option<&BatchNorm>) -> Tensor<2> {
    match norm {
        Some(bn) => leaky_relu(bn.forward(h), LEAKY_SLOPE),
        None => relu(h),
    }
}

/// One batch norm per layer of `channels` for the CelebA family, none otherwise.
fn batch_norms(config: &ModelConfig, channels: &[usize], device: &Device) -> Vec<BatchNorm> {
    match config.arch {
        super::Arch::Celeba => channels
            .iter()
            .map(|&c| BatchNormConfig::new(c).init(device))
            .collect(),
        _ => Vec::new(),
    }
}

/// Image geometry shared by encoder and decoder.
#[derive(Module, Debug)]
pub struct Geometry {
    pub height: usize,
    pub width: usize,
    pub image_channels: usize,
    pub padded_height: usize,
    pub padded_width: usize,
}

impl Geometry {
    fn new(config: &ModelConfig) -> Self {
        let (padded_height, padded_width) = config.padded_size();
        Geometry {
            height: config.height,
            width: config.width,
            image_channels: config.image_channels,
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

/// x -> padded image -> stride-2 convs (ReLU, or batch norm and leaky ReLU) -> flatten ->
/// z_mean, z_log_var.
#[derive(Module, Debug)]
pub struct ConvEncoder {
    pub geometry: Geometry,
    pub convs: Vec<Conv2d>,
    /// One per conv for the CelebA family, else empty.
    pub norms: Vec<BatchNorm>,
    pub z_mean: Linear,
    pub z_log_var: Option<Linear>,
}

impl ConvEncoder {
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let geometry = Geometry::new(config);
        let channels: Vec<usize> = std::iter::once(config.image_channels)
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
            norms: batch_norms(config, &config.channels, device),
            z_mean: LinearConfig::new(flat, config.latent_dim).init(device),
            z_log_var: (!config.autoencoder)
                .then(|| LinearConfig::new(flat, config.latent_dim).init(device)),
        }
    }

    /// Returns `(z_mean, z_log_var)`; `z_log_var` is `None` for a plain autoencoder.
    pub fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Option<Tensor<2>>) {
        let g = &self.geometry;
        let [batch, _] = x.dims();
        let mut grid = Grid {
            batch,
            height: g.height,
            width: g.width,
        };
        let colors = g.image_channels;
        let mut h = if colors == 1 {
            x.reshape([grid.rows(), 1])
        } else {
            channels_last(x, grid, colors)
        };
        // The first window reaches into the zero border that pads the image to a multiple of
        // 2^layers, as well as into the convolution's own padding of 1.
        let mut offset = [-1 - g.top() as isize, -1 - g.left() as isize];
        let (mut height, mut width) = (g.padded_height, g.padded_width);
        for (layer, conv) in self.convs.iter().enumerate() {
            (height, width) = (height / 2, width / 2);
            let next = Grid {
                batch,
                height,
                width,
            };
            let window = Window { stride: 2, offset };
            h = activate(
                im2col::conv2d(conv, h, grid, next, window),
                self.norms.get(layer),
            );
            (grid, offset) = (next, [-1, -1]);
        }
        let h = channels_first(h, grid);
        let z_log_var = self.z_log_var.as_ref().map(|l| l.forward(h.clone()));
        (self.z_mean.forward(h), z_log_var)
    }
}

/// Channels-last rows `[batch * height * width, channels]` to the `[batch, channels * height *
/// width]` order of Burn's NCHW flatten, which the dense layers' weights were made for.
fn channels_first(h: Tensor<2>, grid: Grid) -> Tensor<2> {
    let [_, channels] = h.dims();
    let pixels = grid.height * grid.width;
    h.reshape([grid.batch, pixels, channels])
        .swap_dims(1, 2)
        .reshape([grid.batch, channels * pixels])
}

/// The inverse of [`channels_first`].
fn channels_last(h: Tensor<2>, grid: Grid, channels: usize) -> Tensor<2> {
    let pixels = grid.height * grid.width;
    h.reshape([grid.batch, channels, pixels])
        .swap_dims(1, 2)
        .reshape([grid.rows(), channels])
}

/// z -> dense -> reshape -> transposed convs (ReLU, or batch norm and leaky ReLU) -> 3x3 conv
/// -> crop -> pixel logits.
#[derive(Module, Debug)]
pub struct ConvDecoder {
    pub geometry: Geometry,
    pub dense: Linear,
    pub deconvs: Vec<ConvTranspose2d>,
    /// One per transposed conv for the CelebA family, else empty.
    pub norms: Vec<BatchNorm>,
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
            norms: batch_norms(config, &reversed, device),
            output: Conv2dConfig::new([last, config.image_channels], [3, 3])
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
        let mut grid = Grid {
            batch,
            height: g.padded_height / scale,
            width: g.padded_width / scale,
        };
        let mut h = channels_last(self.dense.forward(z), grid, self.top_channels);
        for (layer, deconv) in self.deconvs.iter().enumerate() {
            let next = Grid {
                batch,
                height: grid.height * 2,
                width: grid.width * 2,
            };
            let window = Window {
                stride: 2,
                offset: [-1, -1],
            };
            h = activate(
                im2col::conv_transpose2d(deconv, h, grid, next, window),
                self.norms.get(layer),
            );
            grid = next;
        }
        // The last 3x3 convolution is evaluated only on the pixels the crop keeps.
        let cropped = Grid {
            batch,
            height: g.height,
            width: g.width,
        };
        let window = Window {
            stride: 1,
            offset: [g.top() as isize - 1, g.left() as isize - 1],
        };
        let out = im2col::conv2d(&self.output, h, grid, cropped, window);
        match g.image_channels {
            1 => out.reshape([batch, g.height * g.width]),
            _ => channels_first(out, cropped),
        }
    }
}

/// Size of the flattened feature map after the last stride-2 convolution.
fn flat_size(config: &ModelConfig) -> usize {
    let (h, w) = config.padded_size();
    let scale = 1usize << config.channels.len();
    config.channels.last().copied().unwrap_or(1) * (h / scale) * (w / scale)
}

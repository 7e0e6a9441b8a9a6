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
//! With batch norm ([`super::conv_bn`], the CelebA VAE) every (transposed) convolution is
//! followed by batch norm and leaky ReLU. The conv layers run as one [`ConvStack`] and one
//! [`DeconvStack`] (`vae_kernels`). A conditional model appends its condition y to the
//! flattened features before the heads and to z before the decoder's dense layer
//! ([`with_condition`]).

use super::ModelConfig;
use super::mlp::{posterior_heads, with_condition};
use super::{Architecture, Decoder, DecoderModule, Defaults, Encoder, EncoderModule, Family};
use super::{Half, Layer};
use crate::error::{Error, Result};
use crate::model::loss::Reconstruction;
use crate::model::posterior::Posterior;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use vae_kernels::{ConvPath, ConvStack, DeconvStack, StackPlan, linear};

/// `conv`: the conv VAE of Generative Deep Learning ch. 3 (32/64/128 stride-2 convolutions with
/// ReLU, latent 2).
pub struct Conv;

impl Family for Conv {
    type Encoder = ConvEncoder;
    type Decoder = ConvDecoder;
}

impl Architecture for Conv {
    fn name(&self) -> &'static str {
        "conv"
    }

    fn about(&self) -> &'static str {
        "3x3 stride-2 convolutions with ReLU (--channels), the input padded to a multiple of 2^layers (28 to 32)."
    }

    fn defaults(&self) -> Defaults {
        Defaults {
            latent_dim: 2,
            channels: vec![32, 64, 128],
            loss: Reconstruction::Bce,
            lr: 5e-4,
            photographs: false,
            batch_size: 100,
        }
    }

    fn validate(&self, config: &ModelConfig) -> Result<()> {
        validate_channels(config)
    }

    fn layers(&self, config: &ModelConfig) -> Vec<Layer> {
        layers(config, false)
    }

    fn build(&self, config: &ModelConfig, device: &Device) -> (Encoder, Decoder) {
        build(config, device, false)
    }
}

/// The checks of the conv family: 1 to 6 stride-2 layers of positive widths.
pub fn validate_channels(config: &ModelConfig) -> Result<()> {
    if config.channels.is_empty() || config.channels.len() > 6 || config.channels.contains(&0) {
        return Err(Error::Config(format!(
            "conv channels must be 1 to 6 positive numbers (got {:?}; try --channels 32,64,128)",
            config.channels
        )));
    }
    Ok(())
}

/// Encoder and decoder of the conv family, with batch norm after each (transposed) convolution
/// when `norm`.
pub fn build(config: &ModelConfig, device: &Device, norm: bool) -> (Encoder, Decoder) {
    (
        Encoder::Conv(ConvEncoder::new(config, device, norm)),
        Decoder::Conv(ConvDecoder::new(config, device, norm)),
    )
}

/// The floats of one 3x3 layer between grids of `in_px` and `out_px` pixels as the im2col path
/// runs it: a window gather (`9 * c_in` values per output pixel) when `gather`, else a product
/// per input pixel (`9 * c_out`) summed per output pixel; then the result, its bias and its
/// activation (and batch norm's two tensors with `norm`).
fn conv_activations(
    in_px: f64,
    out_px: f64,
    c_in: f64,
    c_out: f64,
    gather: bool,
    norm: bool,
) -> f64 {
    const TAPS: f64 = 9.0;
    let spread = if gather {
        out_px * TAPS * c_in
    } else {
        in_px * TAPS * c_out
    };
    let outputs = if norm { 5.0 } else { 3.0 };
    spread + outputs * out_px * c_out
}

/// A 3x3 (transposed) convolution's layer: its weights (and batch norm's scale, shift and
/// running mean and variance with `norm`), `macs` multiply-adds, and its tensors.
fn conv_layer(
    half: Half,
    c_in: usize,
    c_out: usize,
    norm: bool,
    macs: f64,
    activations: f64,
) -> Layer {
    let norm_weights = if norm { 4.0 * c_out as f64 } else { 0.0 };
    Layer {
        half,
        parameters: (c_in * 9 + 1) as f64 * c_out as f64 + norm_weights,
        macs,
        activations,
    }
}

/// The layers of the conv family (with batch norm when `norm`). A transposed convolution does
/// one multiply-add per input pixel, kernel tap and channel pair.
pub fn layers(config: &ModelConfig, norm: bool) -> Vec<Layer> {
    let (padded_h, padded_w) = config.padded_size();
    let image_c = config.image_channels;
    let image_px = (config.height * config.width) as f64;
    let layers = config.channels.len();
    let px = |level: usize| ((padded_h >> level) * (padded_w >> level)) as f64;
    let mut channels = vec![image_c];
    channels.extend(&config.channels);

    // The image as given and as channels-last rows.
    let mut list = vec![Layer::tensors(Half::Encoder, 2.0 * config.pixels() as f64)];
    for (level, pair) in channels.windows(2).enumerate() {
        let (c_in, c_out) = (pair[0], pair[1]);
        let in_px = if level == 0 { image_px } else { px(level) };
        let out_px = px(level + 1);
        let floats = conv_activations(
            in_px,
            out_px,
            c_in as f64,
            c_out as f64,
            c_out >= c_in,
            norm,
        );
        let macs = out_px * (c_out * c_in * 9) as f64;
        list.push(conv_layer(Half::Encoder, c_in, c_out, norm, macs, floats));
    }
    let top = *config
        .channels
        .last()
        .expect("validated: at least one layer");
    let flat = top * (padded_h >> layers) * (padded_w >> layers);
    let heads = if config.autoencoder { 1 } else { 2 };
    let condition = config.condition_dim();
    list.push(Layer::dense(
        Half::Encoder,
        flat + condition,
        config.latent_dim,
        heads,
        0.0,
    ));
    // The dense layer's output, reshaped to rows; with a condition, the condition, the features
    // with y appended and [z, y].
    let reshaped = 2.0 * flat as f64
        + if condition > 0 {
            (flat + 3 * condition) as f64
        } else {
            0.0
        };
    list.push(Layer::dense(
        Half::Decoder,
        config.latent_dim + condition,
        flat,
        1,
        reshaped,
    ));
    let reversed: Vec<usize> = config.channels.iter().rev().copied().collect();
    let ins = std::iter::once(reversed[0]).chain(reversed.iter().copied());
    for (i, (c_in, c_out)) in ins.zip(reversed.iter().copied()).enumerate() {
        let level = layers - i;
        let floats = conv_activations(
            px(level),
            px(level - 1),
            c_in as f64,
            c_out as f64,
            false,
            norm,
        );
        let macs = px(level) * (c_in * c_out * 9) as f64;
        list.push(conv_layer(Half::Decoder, c_in, c_out, norm, macs, floats));
    }
    let first = config.channels[0];
    let floats = conv_activations(
        px(0),
        image_px,
        first as f64,
        image_c as f64,
        image_c >= first,
        false,
    );
    let macs = px(0) * (first * 9 * image_c) as f64;
    list.push(conv_layer(
        Half::Decoder,
        first,
        image_c,
        false,
        macs,
        floats,
    ));
    list
}

/// The plan of `config`'s stacks: its images through its stride-2 layers.
fn plan(config: &ModelConfig) -> StackPlan {
    StackPlan::new(config.height, config.width, config.channels.len())
}

/// Size of the flattened features after the last stride-2 convolution.
fn flat_size(config: &ModelConfig) -> usize {
    let [h, w] = plan(config).feature_size();
    config.channels.last().copied().unwrap_or(1) * h * w
}

/// One batch norm per layer of `channels` with `norm`, none otherwise.
fn batch_norms(channels: &[usize], norm: bool, device: &Device) -> Vec<BatchNorm> {
    if !norm {
        return Vec::new();
    }
    channels
        .iter()
        .map(|&c| BatchNormConfig::new(c).init(device))
        .collect()
}

/// The stride-2 convolutions from the image's channels through `config.channels`.
fn strided_convs(config: &ModelConfig, device: &Device) -> Vec<Conv2d> {
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
fn strided_deconvs(config: &ModelConfig, device: &Device) -> Vec<ConvTranspose2d> {
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
fn output_conv(config: &ModelConfig, device: &Device) -> Conv2d {
    let last = config.channels[0];
    Conv2dConfig::new([last, config.image_channels], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(device)
}

/// Image -> stride-2 convs -> flatten -> z_mean, z_log_var.
#[derive(Module, Debug)]
pub struct ConvEncoder {
    pub convs: Vec<Conv2d>,
    /// One per conv with batch norm, else empty.
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
    pub fn new(config: &ModelConfig, device: &Device, norm: bool) -> Self {
        let flat = flat_size(config) + config.condition_dim();
        let head = || LinearConfig::new(flat, config.latent_dim).init(device);
        ConvEncoder {
            convs: strided_convs(config, device),
            norms: batch_norms(&config.channels, norm, device),
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
}

impl EncoderModule for ConvEncoder {
    /// Images `[batch, channels * height * width]` (channel-planar) to their posterior.
    fn forward(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> Posterior {
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

    fn set_conv_path(&mut self, path: Option<ConvPath>) {
        self.plan.set_path(path);
    }
}

/// z -> dense -> reshape -> transposed convs -> 3x3 conv -> crop -> pixel logits.
#[derive(Module, Debug)]
pub struct ConvDecoder {
    pub dense: Linear,
    pub deconvs: Vec<ConvTranspose2d>,
    /// One per transposed conv with batch norm, else empty.
    pub norms: Vec<BatchNorm>,
    pub output: Conv2d,
    /// `[channels, height, width]` of the dense layer's output, reshaped.
    #[module(skip)]
    pub features: [usize; 3],
    #[module(skip)]
    pub plan: StackPlan,
}

impl ConvDecoder {
    pub fn new(config: &ModelConfig, device: &Device, norm: bool) -> Self {
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
            norms: batch_norms(&reversed, norm, device),
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
}

impl DecoderModule for ConvDecoder {
    /// Pixel logits `[batch, channels * height * width]`, channel-planar.
    fn forward(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
        let [batch, _] = z.dims();
        let [channels, height, width] = self.features;
        let h = linear(&self.dense, with_condition(z, condition))
            .reshape([batch, channels, height, width]);
        self.stack().forward(h).flatten(1, 3)
    }

    fn set_conv_path(&mut self, path: Option<ConvPath>) {
        self.plan.set_path(path);
    }
}

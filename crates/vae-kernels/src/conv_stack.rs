//! The conv layers of the conv models as two layers with the API of Burn's modules (`forward`
//! on NCHW tensors), so that the models read like the book's Keras code:
//!
//! - [`ConvStack`]: `Conv2D(c, 3, strides=2, padding="same")` for each of the channels, each
//!   followed by ReLU, or by batch norm and leaky ReLU when the stack has batch norms. The image
//!   is first padded with zeros to a multiple of 2^layers, as the book pads 28x28 to 32x32.
//! - [`DeconvStack`]: `Conv2DTranspose(c, 3, strides=2, padding="same")` for each of the
//!   channels reversed, with the same activations, then `Conv2D(image channels, 3,
//!   padding="same")` to logits, cropped back to the image's size.
//!
//! Each runs one of two ways ([`ConvPath`]): Burn's `Conv2d`/`ConvTranspose2d` on NCHW tensors
//! (the reference, and what GPUs run), or the window passes and matrix products of [`convolution`] on
//! channels-last rows, which is what pays on burn-flex. The weights stay fields of the encoder
//! and decoder (so saved runs keep their layout); a stack is a view of them with the
//! [`StackPlan`] that the model owns: the image geometry.

use super::convolution;
use super::windows::{Grid, Window, Windows};
use burn::nn::BatchNorm;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::ops::PadMode;

/// Slope of the leaky ReLU for x < 0: Keras' default (0.3), which the book's models use.
pub const LEAKY_SLOPE: f64 = 0.3;

/// How the stacks compute their convolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvPath {
    /// Burn's own convolution modules on NCHW tensors.
    Nchw,
    /// Window passes and matrix products on channels-last rows ([`convolution`]); burn-flex only.
    ChannelsLast,
}

impl ConvPath {
    /// The faster path on `device`: channels-last rows on burn-flex, Burn's convolutions elsewhere.
    pub fn for_device(device: &Device) -> Self {
        if crate::is_cpu_device(device) {
            ConvPath::ChannelsLast
        } else {
            ConvPath::Nchw
        }
    }
}

/// The nonlinearity after a convolution: ReLU, or batch norm then leaky ReLU. Batch norm
/// normalises dimension 1, the channels, of NCHW tensors and of channels-last rows alike, over
/// the whole batch however it is split ([`super::batch_norm`]).
fn activate<const D: usize>(h: Tensor<D>, norm: Option<&BatchNorm>) -> Tensor<D> {
    match norm {
        Some(bn) => super::batch_norm_leaky::batch_norm_leaky_relu(bn, h, LEAKY_SLOPE),
        None => relu(h),
    }
}

/// The size `height` x `width` images are padded to before `layers` stride-2 layers: the next
/// multiple of 2^layers on each side, as the book pads 28x28 to 32x32. Panics when that size
/// cannot be represented.
pub fn padded_size(height: usize, width: usize, layers: usize) -> (usize, usize) {
    let padded = |side: usize| {
        u32::try_from(layers)
            .ok()
            .and_then(|layers| 1usize.checked_shl(layers))
            .and_then(|m| side.div_ceil(m).checked_mul(m))
            .unwrap_or_else(|| {
                panic!("{height}x{width} images cannot be padded for {layers} stride-2 layers")
            })
    };
    (padded(height), padded(width))
}

/// What a stack needs besides its weights: the image geometry and which path to take.
#[derive(Debug, Clone)]
pub struct StackPlan {
    height: usize,
    width: usize,
    padded_height: usize,
    padded_width: usize,
    layers: usize,
    /// `None` picks by device ([`ConvPath::for_device`]).
    path: Option<ConvPath>,
}

impl StackPlan {
    /// The plan for `height` x `width` images through `layers` stride-2 layers: the images are
    /// padded to the next multiple of 2^layers ([`padded_size`]).
    pub fn new(height: usize, width: usize, layers: usize) -> Self {
        let (padded_height, padded_width) = padded_size(height, width, layers);
        StackPlan {
            height,
            width,
            padded_height,
            padded_width,
            layers,
            path: None,
        }
    }

    /// Forces one path (tests hold the two against each other); channels-last rows run on burn-flex only,
    /// so other devices keep Burn's convolutions.
    pub fn set_path(&mut self, path: Option<ConvPath>) {
        self.path = path;
    }

    fn path(&self, device: &Device) -> ConvPath {
        match (self.path, ConvPath::for_device(device)) {
            (Some(forced), ConvPath::ChannelsLast) => forced,
            (_, by_device) => by_device,
        }
    }

    /// Rows and columns of zeros above and left of the image in the padded frame.
    fn top_left(&self) -> (usize, usize) {
        (
            (self.padded_height - self.height) / 2,
            (self.padded_width - self.width) / 2,
        )
    }

    /// `[height, width]` of the features after the last stride-2 layer.
    pub fn feature_size(&self) -> [usize; 2] {
        let scale = 1usize << self.layers;
        [self.padded_height / scale, self.padded_width / scale]
    }
}

/// Panics unless a stack has one layer of `what` a layer of its plan, and at least one.
fn check_layers(what: &str, layers: usize, planned: usize) {
    assert!(
        layers == planned && layers > 0,
        "a stack planned for {planned} stride-2 layers has {layers} {what} layers"
    );
}

/// NCHW images to channels-last rows `[batch * height * width, channels]`.
fn to_rows(x: Tensor<4>) -> Tensor<2> {
    let [batch, channels, height, width] = x.dims();
    let rows = batch * height * width;
    if channels == 1 {
        return x.reshape([rows, 1]);
    }
    x.reshape([batch, channels, height * width])
        .swap_dims(1, 2)
        .reshape([rows, channels])
}

/// Channels-last rows on `grid` back to NCHW.
fn from_rows(h: Tensor<2>, grid: Grid) -> Tensor<4> {
    let [_, channels] = h.dims();
    let Grid {
        batch,
        height,
        width,
    } = grid;
    if channels == 1 {
        return h.reshape([batch, 1, height, width]);
    }
    h.reshape([batch, height * width, channels])
        .swap_dims(1, 2)
        .reshape([batch, channels, height, width])
}

/// The encoder's convolutions as one layer.
#[derive(Debug, Clone, Copy)]
pub struct ConvStack<'a> {
    pub convs: &'a [Conv2d],
    /// One per conv to follow it with batch norm and leaky ReLU, or none (ReLU).
    pub norms: &'a [BatchNorm],
    pub plan: &'a StackPlan,
}

impl ConvStack<'_> {
    /// `[batch, image channels, height, width]` to the features `[batch, last channels,
    /// padded height / 2^layers, padded width / 2^layers]`. Panics, naming the mismatch, when
    /// the images are not of the plan's size or the first conv's channels, or the stack has
    /// not one conv a layer.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let p = self.plan;
        let [_, channels, height, width] = x.dims();
        check_layers("conv", self.convs.len(), p.layers);
        assert!(
            (height, width) == (p.height, p.width),
            "a conv stack planned for {}x{} images was given {height}x{width} images",
            p.height,
            p.width
        );
        let [_, c_in, ..] = self.convs[0].weight.dims();
        assert_eq!(
            channels, c_in,
            "a conv stack whose first conv takes {c_in} channels was given {channels}"
        );
        match self.plan.path(&x.device()) {
            ConvPath::Nchw => self.forward_nchw(x),
            ConvPath::ChannelsLast => self.forward_channels_last(x),
        }
    }

    fn forward_nchw(&self, x: Tensor<4>) -> Tensor<4> {
        let p = self.plan;
        let (top, left) = p.top_left();
        let x = x.pad(
            [
                (top, p.padded_height - p.height - top),
                (left, p.padded_width - p.width - left),
            ],
            PadMode::Constant(0.0),
        );
        self.convs.iter().enumerate().fold(x, |h, (i, conv)| {
            activate(conv.forward(h), self.norms.get(i))
        })
    }

    /// The windows of each layer of the channels-last path for `batch` images.
    fn steps(&self, batch: usize) -> Vec<Windows> {
        let p = self.plan;
        let (top, left) = p.top_left();
        let mut input = Grid {
            batch,
            height: p.height,
            width: p.width,
        };
        // The first window reaches into the zero border that pads the image to a multiple of
        // 2^layers, as well as into the convolution's own padding of 1.
        let mut offset = [-1 - top as isize, -1 - left as isize];
        let (mut height, mut width) = (p.padded_height, p.padded_width);
        let mut steps = Vec::with_capacity(self.convs.len());
        for _ in self.convs {
            (height, width) = (height / 2, width / 2);
            let output = Grid {
                batch,
                height,
                width,
            };
            steps.push(Windows {
                input,
                output,
                window: Window { stride: 2, offset },
            });
            (input, offset) = (output, [-1, -1]);
        }
        steps
    }

    fn forward_channels_last(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, ..] = x.dims();
        let steps = self.steps(batch);
        let mut h = to_rows(x);
        for (i, (conv, &windows)) in self.convs.iter().zip(&steps).enumerate() {
            h = match self.norms.get(i) {
                Some(norm) => activate(convolution::conv2d(conv, h, windows, false), Some(norm)),
                None => convolution::conv2d(conv, h, windows, true),
            };
        }
        let last = steps.last().expect("at least one conv layer").output;
        from_rows(h, last)
    }
}

/// The decoder's transposed convolutions and output convolution as one layer.
#[derive(Debug, Clone, Copy)]
pub struct DeconvStack<'a> {
    pub deconvs: &'a [ConvTranspose2d],
    /// One per transposed conv to follow it with batch norm and leaky ReLU, or none (ReLU).
    pub norms: &'a [BatchNorm],
    pub output: &'a Conv2d,
    pub plan: &'a StackPlan,
}

impl DeconvStack<'_> {
    /// Features `[batch, channels, padded height / 2^layers, padded width / 2^layers]` to pixel
    /// logits `[batch, image channels, height, width]`. Panics, naming the mismatch, when the
    /// features are not of the plan's size or the first transposed conv's channels, or the
    /// stack has not one transposed conv a layer.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let p = self.plan;
        let [_, channels, height, width] = x.dims();
        check_layers("transposed conv", self.deconvs.len(), p.layers);
        let [feature_height, feature_width] = p.feature_size();
        assert!(
            [height, width] == p.feature_size(),
            "a transposed conv stack planned for {feature_height}x{feature_width} features was \
             given {height}x{width} features"
        );
        let [c_in, ..] = self.deconvs[0].weight.dims();
        assert_eq!(
            channels, c_in,
            "a transposed conv stack whose first layer takes {c_in} channels was given {channels}"
        );
        match self.plan.path(&x.device()) {
            ConvPath::Nchw => self.forward_nchw(x),
            ConvPath::ChannelsLast => self.forward_channels_last(x),
        }
    }

    fn forward_nchw(&self, x: Tensor<4>) -> Tensor<4> {
        let p = self.plan;
        let (top, left) = p.top_left();
        let [batch, ..] = x.dims();
        let [_, image_channels, ..] = self.output.weight.dims();
        let h = self.deconvs.iter().enumerate().fold(x, |h, (i, deconv)| {
            activate(deconv.forward(h), self.norms.get(i))
        });
        self.output.forward(h).slice([
            0..batch,
            0..image_channels,
            top..top + p.height,
            left..left + p.width,
        ])
    }

    /// The windows of each layer of the channels-last path for `batch` images: the transposed
    /// convolutions', then the output convolution's, evaluated only on the pixels the crop
    /// keeps.
    fn steps(&self, batch: usize) -> Vec<Windows> {
        let p = self.plan;
        let (top, left) = p.top_left();
        let [height, width] = p.feature_size();
        let mut input = Grid {
            batch,
            height,
            width,
        };
        let mut steps = Vec::with_capacity(self.deconvs.len() + 1);
        for _ in self.deconvs {
            let output = Grid {
                batch,
                height: input.height * 2,
                width: input.width * 2,
            };
            // A transposed convolution moves through the windows of the convolution that runs
            // the other way, from its output grid to its input grid.
            steps.push(Windows {
                input: output,
                output: input,
                window: Window {
                    stride: 2,
                    offset: [-1, -1],
                },
            });
            input = output;
        }
        steps.push(Windows {
            input,
            output: Grid {
                batch,
                height: p.height,
                width: p.width,
            },
            window: Window {
                stride: 1,
                offset: [top as isize - 1, left as isize - 1],
            },
        });
        steps
    }

    fn forward_channels_last(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, ..] = x.dims();
        let steps = self.steps(batch);
        let (last, deconvs) = steps.split_last().expect("the output convolution");
        let mut h = to_rows(x);
        for (i, (deconv, &windows)) in self.deconvs.iter().zip(deconvs).enumerate() {
            h = match self.norms.get(i) {
                Some(norm) => activate(
                    convolution::conv_transpose2d(deconv, h, windows, false),
                    Some(norm),
                ),
                None => convolution::conv_transpose2d(deconv, h, windows, true),
            };
        }
        from_rows(
            convolution::conv2d(self.output, h, *last, false),
            last.output,
        )
    }
}

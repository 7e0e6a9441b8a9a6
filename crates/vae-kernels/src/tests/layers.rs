//! The layers' safe faces refuse inputs of the wrong shape with a panic that names the
//! mismatch: before these checks, each of them read past a buffer, returned values never
//! written, or gave wrong numbers.

use super::panics_with;
use crate::conv_stack::{ConvPath, ConvStack, DeconvStack, StackPlan, padded_size};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2dConfig};
use burn::nn::{BatchNormConfig, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

fn filled<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    let n = shape.iter().product::<usize>();
    let v: Vec<f32> = (0..n).map(|i| (i % 7) as f32 / 7.0 - 0.4).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// Rows wider than a dense layer's inputs made gemm read past the end of the weight, narrower
/// ones gave wrong numbers: both are refused, with autodiff and without.
#[test]
fn a_dense_layer_refuses_rows_of_another_width() {
    for device in [Device::flex(), Device::flex().autodiff()] {
        let layer = LinearConfig::new(4, 3).init(&device);
        for width in [64, 3] {
            panics_with("a dense layer of 4 inputs", || {
                crate::linear(&layer, filled([2, width], &device));
            });
        }
        let y = crate::linear(&layer, filled([2, 4], &device));
        assert_eq!(y.dims(), [2, 3]);
    }
}

/// Stride-2 convs 1 -> 4 -> 4 channels of 3x3.
fn convs(device: &Device) -> Vec<Conv2d> {
    [(1, 4), (4, 4)]
        .map(|(c_in, c_out)| {
            Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        })
        .to_vec()
}

/// An image larger than its stack's plan passed the forward pass, and the backward pass
/// returned values never written as the input's gradient; other channels than the first
/// conv's, or a stack with another number of layers than its plan: refused on both paths.
#[test]
fn a_conv_stack_refuses_images_of_another_size_than_its_plan() {
    let device = Device::flex().autodiff();
    let convs = convs(&device);
    for path in [ConvPath::ChannelsLast, ConvPath::Nchw] {
        let mut plan = StackPlan::new(8, 8, 2);
        plan.set_path(Some(path));
        let stack = ConvStack {
            convs: &convs,
            norms: &[],
            plan: &plan,
        };
        assert_eq!(
            stack.forward(filled([2, 1, 8, 8], &device)).dims(),
            [2, 4, 2, 2]
        );
        panics_with("planned for 8x8 images was given 16x16", || {
            let x = filled([2, 1, 16, 16], &device).require_grad();
            stack.forward(x).sum().backward();
        });
        panics_with("takes 1 channels was given 2", || {
            stack.forward(filled([2, 2, 8, 8], &device));
        });
        let short = ConvStack {
            convs: &convs[..1],
            ..stack
        };
        panics_with("planned for 2 stride-2 layers has 1 conv layers", || {
            short.forward(filled([2, 1, 8, 8], &device));
        });
    }
    panics_with("cannot be padded for 64 stride-2 layers", || {
        StackPlan::new(8, 8, 64);
    });
    panics_with("cannot be padded for 2 stride-2 layers", || {
        padded_size(usize::MAX - 1, 8, 2);
    });
}

/// A transposed conv stack fed fewer channels than its first layer's weight read past its
/// input; features of another size than the plan's: refused on both paths.
#[test]
fn a_transposed_conv_stack_refuses_features_that_do_not_fit() {
    let device = Device::flex();
    let deconvs: Vec<_> = [(8, 4), (4, 4)]
        .map(|(c_in, c_out)| {
            ConvTranspose2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .with_padding_out([1, 1])
                .init(&device)
        })
        .to_vec();
    let output = Conv2dConfig::new([4, 1], [3, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    for path in [ConvPath::ChannelsLast, ConvPath::Nchw] {
        let mut plan = StackPlan::new(8, 8, 2);
        plan.set_path(Some(path));
        let stack = DeconvStack {
            deconvs: &deconvs,
            norms: &[],
            output: &output,
            plan: &plan,
        };
        assert_eq!(
            stack.forward(filled([3, 8, 2, 2], &device)).dims(),
            [3, 1, 8, 8]
        );
        panics_with("first layer takes 8 channels was given 2", || {
            stack.forward(filled([3, 2, 2, 2], &device));
        });
        panics_with("planned for 2x2 features was given 4x4", || {
            stack.forward(filled([3, 8, 4, 4], &device));
        });
    }
}

/// The Bernoulli loss zipped logits and pixels of different lengths into a wrong number.
#[test]
fn the_bernoulli_loss_refuses_pixels_of_another_shape() {
    for device in [Device::flex(), Device::flex().autodiff()] {
        panics_with("one shape", || {
            crate::bce_with_logits_rows(filled([2, 4], &device), filled([2, 3], &device));
        });
        let empty = crate::bce_with_logits_rows(filled([3, 0], &device), filled([3, 0], &device));
        assert_eq!(empty.into_data().try_to_vec::<f32>().unwrap(), vec![0.0; 3]);
    }
    panics_with("4 logits and 3 pixels", || {
        crate::bce_with_logits_sum(&[0.5; 4], &[0.5; 3]);
    });
    for isa in crate::simd::Isa::supported() {
        panics_with("gradient of 4 logits, 4 pixels into 3 values", || {
            crate::bernoulli_loss::bce_with_logits_gradient(
                isa,
                &[0.5; 4],
                &[0.5; 4],
                1.0,
                &mut [0.0; 3],
            );
        });
    }
}

/// Batch norm zipped per-channel weights of another length into wrong numbers, in training
/// (its statistics) and in inference.
#[test]
fn batch_norm_refuses_weights_of_another_channel_count() {
    for device in [Device::flex(), Device::flex().autodiff()] {
        let norm = BatchNormConfig::new(3).init(&device);
        panics_with("batch norm over 5 channels", || {
            crate::batch_norm_leaky_relu(&norm, filled([4, 5], &device), 0.3);
        });
    }
}

/// Adam's step zipped runs of different lengths and stepped only the shortest.
#[test]
fn adam_refuses_moments_of_another_length() {
    let step = crate::adam::AdamStep {
        beta_1: 0.9,
        beta_2: 0.999,
        step_size: 1.0,
        epsilon: 1e-8,
        lr: 1e-3,
    };
    for isa in crate::simd::Isa::supported() {
        panics_with("an Adam step over 4 weights", || {
            let (mut p, mut m, mut v) = (vec![1.0; 4], vec![0.0; 3], vec![0.0; 4]);
            crate::adam::adam_update(isa, &mut p, &mut m, &mut v, &[1.0; 4], step);
        });
    }
}

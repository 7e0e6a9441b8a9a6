//! `conv-bn` (formerly `celeba`): the CelebA VAE of Generative Deep Learning, four stride-2
//! convolutions (32/64/64/64), each followed by batch norm and leaky ReLU (0.3), latent 200,
//! squared error, for 64x64 RGB photographs. It builds the conv family's modules with batch
//! norms ([`super::conv`]), so its saved weights are laid out as theirs.

use super::ModelConfig;
use super::{Architecture, Decoder, Defaults, Encoder, Layer, conv};
use crate::error::{Error, Result};
use crate::model::Prior;
use crate::model::loss::Reconstruction;
use burn::prelude::*;

pub struct ConvBn;

impl Architecture for ConvBn {
    fn name(&self) -> &'static str {
        "conv-bn"
    }

    fn about(&self) -> &'static str {
        "the CelebA VAE of Generative Deep Learning: each conv followed by batch norm and leaky ReLU (0.3), mirrored by transposed convs, then a 3x3 conv to the image's channels (celeba reads as conv-bn)."
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["celeba"]
    }

    fn defaults(&self) -> Defaults {
        Defaults {
            latent_dim: 200,
            channels: vec![32, 64, 64, 64],
            loss: Reconstruction::Mse,
            lr: 5e-4,
            photographs: true,
            batch_size: 100,
        }
    }

    fn validate(&self, config: &ModelConfig) -> Result<()> {
        if config.prior == Prior::Vamp {
            // The pseudo-inputs' pass would meet the batch's at every batch norm and share its
            // statistics, so the prior would change with the batch it scores.
            return Err(Error::Config(
                "--prior vamp needs an encoder without batch norm: use --arch mlp or conv, or the standard prior".into(),
            ));
        }
        conv::validate_channels(config)
    }

    fn layers(&self, config: &ModelConfig) -> Vec<Layer> {
        conv::layers(config, true)
    }

    fn build(&self, config: &ModelConfig, device: &Device) -> (Encoder, Decoder) {
        conv::build(config, device, true)
    }
}

//! What a model is made of: architecture, sizes, latent dimension, VAE or plain autoencoder.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Encoder/decoder family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Dense layers (pytorch/examples VAE: 784-400-20).
    Mlp,
    /// Stride-2 convolutions (Generative Deep Learning ch. 3 VAE).
    Conv,
    /// The Generative Deep Learning CelebA VAE: four stride-2 conv blocks (32/64/64/64) with
    /// batch norm and leaky ReLU, latent 200, for 64x64 RGB faces with MSE.
    Celeba,
}

impl Arch {
    /// True for the convolutional families.
    pub fn is_conv(self) -> bool {
        matches!(self, Arch::Conv | Arch::Celeba)
    }

    /// The latent size used when none is given.
    pub fn default_latent_dim(self) -> usize {
        match self {
            Arch::Mlp => 20,
            Arch::Conv => 2,
            Arch::Celeba => 200,
        }
    }

    /// The conv channels used when none are given.
    pub fn default_channels(self) -> Vec<usize> {
        match self {
            Arch::Celeba => vec![32, 64, 64, 64],
            _ => vec![32, 64, 128],
        }
    }

    /// The reconstruction loss used when none is given: squared error for the photographs
    /// of the CelebA family, Bernoulli otherwise.
    pub fn default_loss(self) -> super::loss::Reconstruction {
        match self {
            Arch::Celeba => super::loss::Reconstruction::Mse,
            _ => super::loss::Reconstruction::Bce,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Mlp => "mlp",
            Arch::Conv => "conv",
            Arch::Celeba => "celeba",
        }
    }
}

fn one() -> usize {
    1
}

/// Everything needed to rebuild a model's shape; saved in the run's config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub arch: Arch,
    /// Size of z.
    pub latent_dim: usize,
    /// MLP hidden layer sizes, input side first; the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Conv channels of the stride-2 layers, input side first; the decoder mirrors them.
    pub channels: Vec<usize>,
    /// Plain autoencoder: deterministic z = z_mean, no z_log_var, no KL.
    pub autoencoder: bool,
    /// Image height and width in pixels (set from the data).
    pub height: usize,
    pub width: usize,
    /// Colour channels of the images: 1 (grey) or 3 (RGB).
    #[serde(default = "one")]
    pub image_channels: usize,
}

impl ModelConfig {
    /// Defaults of each architecture for 28x28 grey images: the MLP of pytorch/examples (400
    /// hidden, latent 20), the conv VAE of Generative Deep Learning ch. 3 (32/64/128 channels,
    /// latent 2) and its CelebA VAE (32/64/64/64, latent 200).
    pub fn default_for(arch: Arch) -> Self {
        ModelConfig {
            arch,
            latent_dim: arch.default_latent_dim(),
            hidden: vec![400],
            channels: arch.default_channels(),
            autoencoder: false,
            height: 28,
            width: 28,
            image_channels: 1,
        }
    }

    /// Values per image: pixels times colour channels.
    pub fn pixels(&self) -> usize {
        self.height * self.width * self.image_channels
    }

    /// Rejects shapes that cannot build a model, with the fix.
    pub fn validate(&self) -> Result<()> {
        if self.latent_dim == 0 {
            return Err(Error::Config(
                "latent dimension must be at least 1 (try --latent-dim 2 or 20)".into(),
            ));
        }
        if self.height == 0 || self.width == 0 {
            return Err(Error::Config("images must have at least one pixel".into()));
        }
        if !matches!(self.image_channels, 1 | 3) {
            return Err(Error::Config(format!(
                "images must have 1 (grey) or 3 (RGB) channels, not {}",
                self.image_channels
            )));
        }
        match self.arch {
            Arch::Mlp => {
                if self.hidden.is_empty() || self.hidden.contains(&0) {
                    return Err(Error::Config(format!(
                        "MLP hidden sizes must be one or more positive numbers (got {:?}; try --hidden 400)",
                        self.hidden
                    )));
                }
            }
            Arch::Conv | Arch::Celeba => {
                if self.channels.is_empty() || self.channels.len() > 6 || self.channels.contains(&0)
                {
                    return Err(Error::Config(format!(
                        "conv channels must be 1 to 6 positive numbers (got {:?}; try --channels 32,64,128)",
                        self.channels
                    )));
                }
            }
        }
        Ok(())
    }

    /// Side length the conv encoder pads images to: the next multiple of 2^(number of
    /// stride-2 layers), as the book pads 28x28 to 32x32.
    pub fn padded_size(&self) -> (usize, usize) {
        let m = 1usize << self.channels.len();
        (self.height.div_ceil(m) * m, self.width.div_ceil(m) * m)
    }
}

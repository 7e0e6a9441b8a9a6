//! What a model is made of: architecture, sizes, latent dimension, VAE or plain autoencoder.

use super::arch::Arch;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

fn one() -> usize {
    1
}

/// What a conditional VAE (Sohn et al. 2015) is told besides the image: the encoder sees
/// `[x, y]`, the decoder `[z, y]`, and the KL is still taken against N(0, I), so that z carries
/// style and y carries the class. `y` has one value per name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditioning {
    pub kind: ConditionKind,
    /// Class names (one-hot) or attribute names (multi-hot), in the order of y's values.
    pub names: Vec<String>,
}

/// How labels become the condition y.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConditionKind {
    /// One class per image, one-hot.
    Class,
    /// Any set of attributes per image (a column of an attribute table each), multi-hot.
    Attributes,
}

impl Conditioning {
    /// Values of y.
    pub fn dim(&self) -> usize {
        self.names.len()
    }

    /// The condition y that a choice names, one row of [`Conditioning::dim`] values: a class
    /// (by name or number) is one-hot; attributes (`Smiling,Eyeglasses`, or `none`) multi-hot.
    pub fn condition_of(&self, choice: &str) -> Result<Vec<f32>> {
        let mut y = vec![0.0; self.dim()];
        match self.kind {
            ConditionKind::Class => y[self.class_index(choice)?] = 1.0,
            ConditionKind::Attributes => {
                if choice.trim() != "none" {
                    for name in choice.split(',').map(str::trim) {
                        y[self.position(name)?] = 1.0;
                    }
                }
            }
        }
        Ok(y)
    }

    /// Index of a class given by name (`Ankle boot`) or number (`9`).
    pub fn class_index(&self, choice: &str) -> Result<usize> {
        let choice = choice.trim();
        self.position(choice)
            .or_else(|e| match choice.parse::<usize>() {
                Ok(i) if i < self.dim() => Ok(i),
                _ => Err(e),
            })
    }

    fn position(&self, name: &str) -> Result<usize> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            let what = match self.kind {
                ConditionKind::Class => "class",
                ConditionKind::Attributes => "attribute",
            };
            Error::Config(format!(
                "this run has no {what} {name:?}; it knows {}",
                self.names.join(", ")
            ))
        })
    }

    /// Every choice `--class all` draws, with its label: each class, or no attribute and then
    /// each attribute alone.
    pub fn every_choice(&self) -> Vec<(String, Vec<f32>)> {
        let one_hot = |i: usize| {
            let mut y = vec![0.0; self.dim()];
            y[i] = 1.0;
            y
        };
        let mut choices = Vec::new();
        if self.kind == ConditionKind::Attributes {
            choices.push(("none".to_string(), vec![0.0; self.dim()]));
        }
        choices.extend(
            self.names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), one_hot(i))),
        );
        choices
    }
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
    /// A conditional VAE's condition; `None` for the unconditional models.
    #[serde(default)]
    pub conditioning: Option<Conditioning>,
}

impl ModelConfig {
    /// An architecture's defaults ([`Arch::defaults`]) for 28x28 grey images, with 400 hidden
    /// units for the dense ones.
    pub fn default_for(arch: Arch) -> Self {
        let defaults = arch.defaults();
        ModelConfig {
            arch,
            latent_dim: defaults.latent_dim,
            hidden: vec![400],
            channels: defaults.channels,
            autoencoder: false,
            height: 28,
            width: 28,
            image_channels: 1,
            conditioning: None,
        }
    }

    /// Values of the condition y (0 for an unconditional model).
    pub fn condition_dim(&self) -> usize {
        self.conditioning.as_ref().map_or(0, Conditioning::dim)
    }

    /// Values per image: pixels times colour channels.
    pub fn pixels(&self) -> usize {
        self.height * self.width * self.image_channels
    }

    /// Rejects shapes that cannot build a model, with the fix: the checks every architecture
    /// shares, then its own ([`super::Architecture::validate`]).
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
        if let Some(c) = &self.conditioning
            && (c.names.is_empty() || (c.kind == ConditionKind::Class && c.names.len() < 2))
        {
            return Err(Error::Config(format!(
                "a conditional model needs at least {} to condition on (got {})",
                if c.kind == ConditionKind::Class {
                    "two classes"
                } else {
                    "one attribute"
                },
                c.names.len()
            )));
        }
        self.arch.architecture().validate(self)
    }

    /// Side length the conv encoder pads images to: the next multiple of 2^(number of
    /// stride-2 layers), as the book pads 28x28 to 32x32.
    pub fn padded_size(&self) -> (usize, usize) {
        crate::kernels::padded_size(self.height, self.width, self.channels.len())
    }
}

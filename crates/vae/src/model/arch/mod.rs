//! The architectures and the shape of a model ([`ModelConfig`]): each architecture is one file that owns itself (its modules or the family whose
//! modules it builds, its defaults, its validation, and the list of its layers, from which its
//! memory footprint and its FLOP count both follow) behind the [`Architecture`] trait, and one
//! line of the registry below, which makes the [`Arch`] names and the [`Encoder`] and
//! [`Decoder`] enums. Nothing outside this folder names an architecture: a new one is handled
//! everywhere through the trait, and the compiler points at the registry's own `match`es.

pub mod conv;
pub mod conv_bn;
pub mod gated_mlp;
pub mod mlp;

use super::condition::{ConditionKind, Conditioning};
use super::loss::Reconstruction;
use super::posterior::Posterior;
use super::prior::Prior;
use crate::error::{Error, Result};
use burn::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use vae_kernels::ConvPath;

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
    /// The prior p(z) (models saved before it was a choice have N(0, I)).
    #[serde(default)]
    pub prior: Prior,
    /// Pseudo-inputs of a VampPrior (0 for the standard normal).
    #[serde(default)]
    pub pseudo_inputs: usize,
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
            prior: Prior::Standard,
            pseudo_inputs: 0,
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
    /// shares, then its own ([`Architecture::validate`]).
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
        match (self.prior, self.pseudo_inputs) {
            (Prior::Standard, 0) => {}
            (Prior::Standard, _) => {
                return Err(Error::Config(
                    "--pseudo-inputs are the VampPrior's: add --prior vamp or drop --pseudo-inputs"
                        .into(),
                ));
            }
            (Prior::Vamp, 0) => {
                return Err(Error::Config(
                    "--prior vamp needs its number of pseudo-inputs: add --pseudo-inputs 500"
                        .into(),
                ));
            }
            (Prior::Vamp, _) if self.autoencoder => {
                return Err(Error::Config(
                    "--prior vamp is a prior over the posteriors of a VAE, which a plain autoencoder does not have; drop one of them".into(),
                ));
            }
            (Prior::Vamp, _) if self.conditioning.is_some() => {
                return Err(Error::Config(
                    "--prior vamp with --conditional is not supported (the pseudo-inputs would need conditions of their own); drop one of them".into(),
                ));
            }
            (Prior::Vamp, _) => {}
        }
        self.arch.architecture().validate(self)
    }

    /// Side length the conv encoder pads images to: the next multiple of 2^(number of
    /// stride-2 layers), as the book pads 28x28 to 32x32.
    pub fn padded_size(&self) -> (usize, usize) {
        vae_kernels::padded_size(self.height, self.width, self.channels.len())
    }
}

fn one() -> usize {
    1
}

/// One family of encoders and decoders: what [`Vae`](super::Vae) needs to know of each.
pub trait Architecture: Sync {
    /// The name in config files, `model.toml` and on the command line.
    fn name(&self) -> &'static str;
    /// What it is, in one sentence (`--help`, docs/cli.md).
    fn about(&self) -> &'static str;
    /// Older names that still read as this architecture (saved runs, configs).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// What the settings of a run take when they are not given.
    fn defaults(&self) -> Defaults;
    /// Rejects a shape this architecture cannot build, with the fix (the checks every
    /// architecture shares are [`ModelConfig::validate`]'s).
    fn validate(&self, config: &ModelConfig) -> Result<()>;
    /// The model's layers in the order its forward pass runs them, with what each costs: the
    /// one description that the memory footprint ([`super::memory::Footprint`]) and the FLOP
    /// count of the benchmarks both read.
    fn layers(&self, config: &ModelConfig) -> Vec<Layer>;
    /// Freshly initialised encoder and decoder for `config`.
    fn build(&self, config: &ModelConfig, device: &Device) -> (Encoder, Decoder);
}

/// An architecture whose modules are its own (not another's): its variant of [`Encoder`] and
/// [`Decoder`] holds these.
pub trait Family {
    type Encoder: EncoderModule;
    type Decoder: DecoderModule;
}

/// What an encoder module does: images (with a conditional model's y) to the posterior.
pub trait EncoderModule {
    fn forward(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> Posterior;
    /// Forces a convolution path (tests hold the two against each other); nothing to do for
    /// modules without convolutions.
    fn set_conv_path(&mut self, _path: Option<ConvPath>) {}
}

/// What a decoder module does: latents (with a conditional model's y) to pixel logits.
pub trait DecoderModule {
    fn forward(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2>;
    /// As [`EncoderModule::set_conv_path`].
    fn set_conv_path(&mut self, _path: Option<ConvPath>) {}
}

/// What a run's settings take when they are not given, per architecture.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub latent_dim: usize,
    /// Conv channels (kept in every `model.toml`, used by the conv families).
    pub channels: Vec<usize>,
    pub loss: Reconstruction,
    pub lr: f64,
    pub batch_size: usize,
    /// Made for RGB photographs (the CelebA VAE's), not for 28x28 grey images: the benchmark
    /// trains it on generated 64x64 RGB pictures.
    pub photographs: bool,
}

/// Which half of the model a layer is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    Encoder,
    Decoder,
}

/// One layer of a model as its forward pass runs it on the CPU, per image: weights, multiply-adds,
/// and the floats of the tensors it makes (which training keeps for the backward pass). A tensor
/// that no weight layer makes (the input, a condition's copies) is a layer without weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Layer {
    pub half: Half,
    pub parameters: f64,
    pub macs: f64,
    pub activations: f64,
}

impl Layer {
    /// Tensors of `floats` values per image that no weight layer makes.
    pub fn tensors(half: Half, floats: f64) -> Self {
        Layer {
            half,
            parameters: 0.0,
            macs: 0.0,
            activations: floats,
        }
    }

    /// A dense layer from `inputs` to `outputs` values, `count` times side by side (the two
    /// heads of a VAE), making `activations` floats.
    pub fn dense(
        half: Half,
        inputs: usize,
        outputs: usize,
        count: usize,
        activations: f64,
    ) -> Self {
        Layer {
            half,
            parameters: count as f64 * (inputs as f64 + 1.0) * outputs as f64,
            macs: count as f64 * inputs as f64 * outputs as f64,
            activations,
        }
    }
}

/// The registry: every architecture, one line each. `Name => file::Type` is an architecture with
/// modules of its own (it implements [`Family`] too, and gets a variant of [`Encoder`] and
/// [`Decoder`]); `Name => file::Type in Other` one that builds `Other`'s modules, and so also
/// reads weights saved by them.
macro_rules! architectures {
    ($($name:ident => $file:ident::$ty:ident $(in $family:ident)?),+ $(,)?) => {
        /// An architecture, by name: [`Arch::architecture`] is the one place that maps a name to
        /// the [`Architecture`] behind it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Arch {
            $($name),+
        }

        impl Arch {
            /// Every registered architecture.
            pub const ALL: &'static [Arch] = &[$(Arch::$name),+];

            /// What this architecture is.
            pub fn architecture(self) -> &'static dyn Architecture {
                match self {
                    $(Arch::$name => &$file::$ty),+
                }
            }
        }

        architectures!(@halves [] $($name => $file::$ty $(in $family)?),+);
    };
    (@halves [$($done:tt)*] $name:ident => $file:ident::$ty:ident in $family:ident $(, $($rest:tt)*)?) => {
        architectures!(@halves [$($done)*] $($($rest)*)?);
    };
    (@halves [$($done:tt)*] $name:ident => $file:ident::$ty:ident $(, $($rest:tt)*)?) => {
        architectures!(@halves [$($done)* ($name $file $ty)] $($($rest)*)?);
    };
    (@halves [$(($name:ident $file:ident $ty:ident))*]) => {
        /// Maps images `[batch, pixels]` (and a conditional model's y) to their posterior: one
        /// variant per family of modules (its name is a path segment of every saved weight).
        #[derive(Module, Debug)]
        pub enum Encoder {
            $($name(<$file::$ty as Family>::Encoder)),*
        }

        impl Encoder {
            pub fn forward(&self, x: Tensor<2>, condition: Option<Tensor<2>>) -> Posterior {
                match self {
                    $(Encoder::$name(e) => e.forward(x, condition)),*
                }
            }

            pub(in crate::model) fn set_conv_path(&mut self, path: Option<ConvPath>) {
                match self {
                    $(Encoder::$name(e) => e.set_conv_path(path)),*
                }
            }
        }

        /// Maps latents `[batch, latent_dim]` (and a conditional model's y) to pixel logits
        /// `[batch, pixels]`, one variant per family of modules.
        // A model holds one decoder, so the size gap between variants costs nothing worth a Box.
        #[allow(clippy::large_enum_variant)]
        #[derive(Module, Debug)]
        pub enum Decoder {
            $($name(<$file::$ty as Family>::Decoder)),*
        }

        impl Decoder {
            pub fn forward(&self, z: Tensor<2>, condition: Option<Tensor<2>>) -> Tensor<2> {
                match self {
                    $(Decoder::$name(d) => d.forward(z, condition)),*
                }
            }

            pub(in crate::model) fn set_conv_path(&mut self, path: Option<ConvPath>) {
                match self {
                    $(Decoder::$name(d) => d.set_conv_path(path)),*
                }
            }
        }
    };
}

architectures! {
    Mlp => mlp::Mlp,
    Conv => conv::Conv,
    ConvBn => conv_bn::ConvBn in Conv,
    GatedMlp => gated_mlp::GatedMlp,
}

impl Arch {
    /// The name in config files and on the command line.
    pub fn name(self) -> &'static str {
        self.architecture().name()
    }

    /// The architecture a name (or an older name) stands for.
    pub fn from_name(name: &str) -> Result<Arch> {
        Arch::ALL
            .iter()
            .copied()
            .find(|a| a.name() == name || a.architecture().aliases().contains(&name))
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown architecture '{name}'; use one of: {}",
                    Arch::ALL
                        .iter()
                        .map(|a| a.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// What the settings of a run take when they are not given.
    pub fn defaults(self) -> Defaults {
        self.architecture().defaults()
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Arch {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Arch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Arch::from_name(&name).map_err(serde::de::Error::custom)
    }
}

//! `vae`: variational autoencoders, beta-VAEs and plain autoencoders on Burn.
//!
//! The layout follows the pipeline: [`data`] loads images, [`model`] holds the encoder, decoder,
//! reparameterisation and loss, [`train`] fits a model into a run folder, [`eval`] measures it,
//! [`viz`] draws it, and [`run`] ties a run folder's config, weights and outputs together. The
//! `vae` binary is a thin command-line layer over these.

pub mod arithmetic;
pub mod bench;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod fsutil;
pub mod interop;
pub mod latents;
pub mod model;
pub mod run;
pub mod serve;
pub mod sweep;
pub mod train;
pub mod viz;

pub use error::{Error, Result};

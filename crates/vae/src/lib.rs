//! `vae`: variational autoencoders, beta-VAEs and plain autoencoders on Burn.
//!
//! The modules follow the pipeline, each using only those listed before it:
//! [`error`], [`interrupt`] (stopping a long call between passes), [`fsutil`], [`distributed`] (the MPI ranks of a run), [`device`], [`parallel`]
//! (the CPU's cores as data-parallel shards) and [`rng`] (random streams) underpin everything;
//! [`data`] loads images; [`model`] holds the `Encoder`, the [`model::Posterior`] it returns,
//! `reparameterize`, the `Decoder` and the loss; [`latent`] encodes data sets and walks latent
//! space; [`config`] is a run's settings and [`run`] its folder; [`two_stage`] fits a second
//! VAE to a run's codes (a better sampler); [`eval`] measures a model, [`train`] fits one; [`arithmetic`], [`sweep`] and [`interop`] build on those.
//!
//! Pictures and reports are in the `vae-viz` crate, the explorer in `vae-serve`, and the `vae`
//! binary in `vae-cli`; this crate has no CLI, HTTP or plotting dependency.

#![forbid(unsafe_code)]

pub mod arithmetic;
pub mod config;
pub mod data;
pub mod device;
pub mod distributed;
pub mod error;
pub mod eval;
pub mod fsutil;
pub mod interop;
pub mod interrupt;
pub mod latent;
pub mod model;
pub mod optim;
pub mod parallel;
pub mod rng;
pub mod run;
pub mod sweep;
pub mod train;
pub mod two_stage;

pub use config::{PartialConfig, TrainConfig};
pub use error::{Error, Result};
pub use run::Run;

//! The library's tests, one binary (each test binary links Burn): the maths of the lecture, the
//! fast paths against the plain computations, data formats and their errors, training on real
//! Fashion-MNIST, checkpoints, evaluation metrics, interop and properties.

mod checkpoint;
mod compat;
mod conditional;
mod data;
mod disentanglement;
mod fetch;
mod folder;
mod interop;
mod kernels;
mod layout;
mod memory;
mod model_math;
mod numerics;
mod prior;
mod properties;
mod quality;
mod readme;
mod settings;
mod shapes;
mod shards;
mod soundness;
mod training;
mod two_stage;

use std::path::PathBuf;

/// A file under this crate's folder (tests run from anywhere).
pub fn crate_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The real Fashion-MNIST from Debian's `dataset-fashion-mnist` (installed by `.ci/run`).
pub fn fashion_mnist_dir() -> PathBuf {
    let dir = PathBuf::from(vae::data::locate::DEBIAN_FASHION_MNIST);
    assert!(
        vae::data::has_idx_files(&dir),
        "these tests train on real Fashion-MNIST: run `apt-get install dataset-fashion-mnist` (as .ci/run does)"
    );
    dir
}

/// A small training config on real data.
pub fn small_config(limit: usize, epochs: usize) -> vae::run::TrainConfig {
    vae::run::TrainConfig {
        data: Some(fashion_mnist_dir()),
        limit: Some(limit),
        epochs,
        ..Default::default()
    }
}

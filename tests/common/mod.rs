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

/// Two small trained runs for the explorer's tests, made once per test binary under Cargo's
/// temporary folder: a VAE with 4 latents (a PCA map) and a plain autoencoder with 2.
pub struct ExplorerRuns {
    pub vae: PathBuf,
    pub autoencoder: PathBuf,
}

pub fn explorer_runs(binary: &str) -> &'static ExplorerRuns {
    static RUNS: std::sync::OnceLock<ExplorerRuns> = std::sync::OnceLock::new();
    RUNS.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("explorer-{binary}"));
        let _ = std::fs::remove_dir_all(&root);
        let train = |name: &str, config: vae::run::TrainConfig| {
            let dir = root.join(name);
            vae::train::train(&config, &dir, vae::train::TrainOptions::default()).unwrap();
            dir
        };
        ExplorerRuns {
            vae: train(
                "vae",
                vae::run::TrainConfig {
                    latent_dim: Some(4),
                    ..small_config(3_000, 2)
                },
            ),
            autoencoder: train(
                "ae",
                vae::run::TrainConfig {
                    latent_dim: Some(2),
                    autoencoder: true,
                    ..small_config(3_000, 1)
                },
            ),
        }
    })
}

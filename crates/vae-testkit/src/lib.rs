//! Helpers that the tests of the `vae` crates share: the real Fashion-MNIST, small training
//! configs on it, trained runs for the explorer's tests, and generated picture folders.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The real Fashion-MNIST from Debian's `dataset-fashion-mnist` (which `scripts/test.sh` installs).
pub fn fashion_mnist_dir() -> PathBuf {
    let dir = PathBuf::from(vae::data::locate::DEBIAN_FASHION_MNIST);
    assert!(
        vae::data::has_idx_files(&dir),
        "these tests train on real Fashion-MNIST: run `apt-get install dataset-fashion-mnist` (scripts/test.sh does)"
    );
    dir
}

/// A small training config of the MLP on real data.
pub fn small_config(limit: usize, epochs: usize) -> vae::TrainConfig {
    small_config_of(vae::model::Arch::Mlp, limit, epochs)
}

/// A small training config of `arch`, with its defaults, on real data.
pub fn small_config_of(arch: vae::model::Arch, limit: usize, epochs: usize) -> vae::TrainConfig {
    vae::TrainConfig {
        data: Some(fashion_mnist_dir()),
        limit: Some(limit),
        epochs,
        ..vae::TrainConfig::for_arch(arch)
    }
}

/// Small trained runs for the explorer's tests: a VAE with 4 latents (a PCA map), a plain
/// autoencoder with 2, and a conditional VAE (latent 20, the ten classes).
pub struct ExplorerRuns {
    pub vae: PathBuf,
    pub autoencoder: PathBuf,
    pub conditional: PathBuf,
}

/// The [`ExplorerRuns`], trained once per test binary under `root` (a test binary passes a
/// folder of its own, e.g. under `CARGO_TARGET_TMPDIR`).
pub fn explorer_runs(root: &Path) -> &'static ExplorerRuns {
    static RUNS: std::sync::OnceLock<ExplorerRuns> = std::sync::OnceLock::new();
    RUNS.get_or_init(|| {
        let root = root.to_path_buf();
        let _ = std::fs::remove_dir_all(&root);
        let train = |name: &str, config: vae::TrainConfig| {
            let dir = root.join(name);
            vae::train::train(&config, &dir, vae::train::TrainOptions::default()).unwrap();
            dir
        };
        ExplorerRuns {
            vae: train(
                "vae",
                vae::TrainConfig {
                    latent_dim: 4,
                    ..small_config(3_000, 2)
                },
            ),
            autoencoder: train(
                "ae",
                vae::TrainConfig {
                    latent_dim: 2,
                    autoencoder: true,
                    ..small_config(3_000, 1)
                },
            ),
            conditional: train(
                "cvae",
                vae::TrainConfig {
                    conditional: true,
                    ..small_config(3_000, 1)
                },
            ),
        }
    })
}

/// Classes of [`image_folder`]: the colour of the disc.
pub const FOLDER_CLASSES: [&str; 3] = ["blue", "green", "red"];

/// Writes a labelled folder of `per_class` images per class under `root/<class>/`: 48x40 RGB
/// pictures (not square, so the centre crop matters) of a disc of the class's colour on a grey
/// background, big or small, left or right. Even-numbered images are PNG, odd ones JPEG.
/// `root/attributes.csv` lists `big` and `left` for every image (path relative to `root`).
pub fn image_folder(root: &Path, per_class: usize) -> Vec<String> {
    let mut rows = vec!["file,big,left".to_string()];
    let mut files = Vec::new();
    for (c, class) in FOLDER_CLASSES.iter().enumerate() {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..per_class {
            let big = i % 2 == 0;
            let left = (i / 2) % 2 == 0;
            let (cx, cy) = (if left { 16.0 } else { 32.0 }, 20.0 + (i % 5) as f32 - 2.0);
            let r: f32 = if big { 9.0 } else { 5.0 };
            let mut color = [40u8, 40, 40];
            color[[2, 1, 0][c]] = 230;
            let img = image::RgbImage::from_fn(48, 40, |x, y| {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                if d <= r {
                    image::Rgb(color)
                } else {
                    image::Rgb([128, 128, 128])
                }
            });
            let ext = if i % 2 == 0 { "png" } else { "jpg" };
            let name = format!("{class}/{i:04}.{ext}");
            img.save(root.join(&name)).unwrap();
            rows.push(format!("{name},{},{}", big as u8, left as u8));
            files.push(name);
        }
    }
    std::fs::write(root.join("attributes.csv"), rows.join("\n") + "\n").unwrap();
    files
}

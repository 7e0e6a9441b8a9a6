//! Where the data lives: `--data DIR`, else `$VAE_DATA_DIR`, else Debian's
//! `dataset-fashion-mnist` folder, else the user cache folder that `vae data fetch` fills.

use super::{DatasetKind, has_idx_files};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Environment variable naming a folder of IDX files.
pub const DATA_DIR_ENV: &str = "VAE_DATA_DIR";

/// Where Debian's `dataset-fashion-mnist` package installs the files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// The folder `vae data fetch` downloads into for `kind`.
pub fn cache_dir(kind: DatasetKind) -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("vae").join(kind.name()))
}

/// Resolves the data folder for `kind`, in the documented order.
///
/// An explicit `--data` or `$VAE_DATA_DIR` that lacks the files is an error of its own: silently
/// falling back to another copy would train on data the user did not ask for.
pub fn locate(flag: Option<&Path>, kind: DatasetKind) -> Result<PathBuf> {
    if let Some(dir) = flag {
        return checked(dir, "--data");
    }
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return checked(Path::new(&dir), DATA_DIR_ENV);
    }
    let mut looked = Vec::new();
    if kind == DatasetKind::FashionMnist {
        let debian = PathBuf::from(DEBIAN_FASHION_MNIST);
        if has_idx_files(&debian) {
            return Ok(debian);
        }
        looked.push(debian);
    }
    if let Some(cache) = cache_dir(kind) {
        if has_idx_files(&cache) {
            return Ok(cache);
        }
        looked.push(cache);
    }
    let looked: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
    let apt = if kind == DatasetKind::FashionMnist {
        "`apt-get install dataset-fashion-mnist`, "
    } else {
        ""
    };
    Err(Error::Data(format!(
        "no {} IDX files found (looked in {}); get them with {apt}`vae data fetch {}`, or point --data DIR or {DATA_DIR_ENV} at a folder holding the four IDX files",
        kind.name(),
        looked.join(", "),
        if kind == DatasetKind::Idx {
            "fashion-mnist"
        } else {
            kind.name()
        },
    )))
}

fn checked(dir: &Path, from: &str) -> Result<PathBuf> {
    if has_idx_files(dir) {
        Ok(dir.to_path_buf())
    } else {
        Err(Error::Data(format!(
            "{from} points at {}, which does not hold the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz)",
            dir.display()
        )))
    }
}

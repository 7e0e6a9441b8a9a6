//! Folders of your own pictures: PNG and JPEG files anywhere under a root folder, each
//! centre-cropped to a square and resized to `size` x `size`, in colour or grey, labelled by the
//! first sub-folder they sit in.
//!
//! The training split is never held in memory: batches are decoded on demand, in parallel,
//! through a cache of decoded images bounded in bytes, so a folder larger than memory trains.
//! The test split (at most [`MAX_TEST_IMAGES`]) is decoded once and held, because evaluation
//! reads it many times.

use super::fetch::RemoteFile;
use super::{Color, DataSet, DataSpec, DataSplits, Dataset, ImageSize};
use crate::error::{Error, Result};
use image::imageops::FilterType;
use image::{DynamicImage, ImageReader};
use lru::LruCache;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// File name endings read as images (compared without case).
pub const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Largest test split of a folder: 10% of the images, at most this many.
pub const MAX_TEST_IMAGES: usize = 10_000;

/// Labels are one byte.
const MAX_CLASSES: usize = 256;

/// Class given to files directly in the root when others sit in sub-folders.
pub const ROOT_CLASS: &str = "(root)";

/// The image files of a folder, sorted by path, with their labels.
#[derive(Debug, Clone)]
pub struct FolderIndex {
    pub root: PathBuf,
    /// Paths relative to `root`.
    pub files: Vec<PathBuf>,
    pub labels: Vec<u8>,
    pub class_names: Vec<String>,
}

/// True for a file name ending in one of [`EXTENSIONS`].
fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Lists the images under `root` (following sub-folders) and labels them by sub-folder.
pub fn scan(root: &Path) -> Result<FolderIndex> {
    if !root.is_dir() {
        return Err(Error::Data(format!(
            "{} is not a folder; --dataset folder needs --data DIR holding PNG or JPEG files",
            root.display()
        )));
    }
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry =
            entry.map_err(|e| Error::Data(format!("cannot list {}: {e}", root.display())))?;
        if entry.file_type().is_file() && is_image(entry.path()) {
            let relative = entry
                .path()
                .strip_prefix(root)
                .expect("walkdir yields paths under its root");
            files.push(relative.to_path_buf());
        }
    }
    if files.len() < 2 {
        return Err(Error::Data(format!(
            "{} holds {} PNG/JPEG files; a folder data set needs at least 2 (one for training, one for testing)",
            root.display(),
            files.len()
        )));
    }
    let class_of = |f: &Path| -> Option<String> {
        let mut parts = f.components();
        let first = parts.next()?;
        parts
            .next()
            .map(|_| first.as_os_str().to_string_lossy().into_owned())
    };
    let mut class_names: Vec<String> = files.iter().filter_map(|f| class_of(f)).collect();
    class_names.sort();
    class_names.dedup();
    let at_root = files.iter().any(|f| class_of(f).is_none());
    if class_names.is_empty() {
        class_names.push("image".to_string());
    } else if at_root {
        class_names.insert(0, ROOT_CLASS.to_string());
    }
    if class_names.len() > MAX_CLASSES {
        return Err(Error::Data(format!(
            "{} has {} sub-folders; labels come from sub-folder names and at most {MAX_CLASSES} are supported",
            root.display(),
            class_names.len()
        )));
    }
    let labels = files
        .iter()
        .map(|f| match class_of(f) {
            Some(c) => class_names.binary_search(&c).unwrap_or(0) as u8,
            None => 0,
        })
        .collect();
    Ok(FolderIndex {
        root: root.to_path_buf(),
        files,
        labels,
        class_names,
    })
}

/// Decodes one image file into `size` x `size` bytes per channel, channel-planar (all red, then
/// all green, then all blue), after cropping the central square.
pub fn decode_file(path: &Path, size: usize, color: Color) -> Result<Vec<u8>> {
    let fail = |what: String| {
        Error::file(
            path,
            format!("{what}; remove or replace the file (PNG and JPEG are read)"),
        )
    };
    let image = ImageReader::open(path)
        .map_err(|e| fail(format!("cannot open ({e})")))?
        .with_guessed_format()
        .map_err(|e| fail(format!("cannot read ({e})")))?
        .decode()
        .map_err(|e| fail(format!("corrupt or unsupported image ({e})")))?;
    Ok(prepare(&image, size, color))
}

/// Centre crop, resize, colour conversion and planar layout.
pub fn prepare(image: &DynamicImage, size: usize, color: Color) -> Vec<u8> {
    let (w, h) = (image.width(), image.height());
    let side = w.min(h);
    let square = image.crop_imm((w - side) / 2, (h - side) / 2, side, side);
    // Triangle (bilinear) filtering, as torchvision's Resize does by default.
    let small = square.resize_exact(size as u32, size as u32, FilterType::Triangle);
    let pixels = size * size;
    let rgb = small.to_rgb8().into_raw();
    match color {
        Color::Grey => rgb.chunks_exact(3).map(luma).collect(),
        Color::Rgb => {
            let mut planar = vec![0u8; 3 * pixels];
            for (p, px) in rgb.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    planar[c * pixels + p] = px[c];
                }
            }
            planar
        }
    }
}

/// ITU-R 601 luma, as PIL's `convert("L")` computes it (the `image` crate uses Rec. 709), so
/// grey images match what PyTorch users get from torchvision.
pub fn luma(rgb: &[u8]) -> u8 {
    let [r, g, b] = [rgb[0], rgb[1], rgb[2]].map(f32::from);
    (0.299 * r + 0.587 * g + 0.114 * b).round() as u8
}

/// Decoded images by file number, bounded in bytes, least recently used first out.
///
/// Decoded images are small (12 KiB at 64x64 RGB) next to their files' decode cost, so the cache
/// holds bytes, not floats: four times as many images in the same memory.
#[derive(Debug)]
pub struct ImageCache {
    images: Mutex<LruCache<u32, Arc<[u8]>>>,
    pub capacity: usize,
}

impl ImageCache {
    /// A cache of at most `bytes` of images of `image_bytes` each (at least one image).
    pub fn new(bytes: usize, image_bytes: usize) -> Self {
        let capacity = (bytes / image_bytes.max(1)).max(1);
        ImageCache {
            images: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).expect("capacity is at least 1"),
            )),
            capacity,
        }
    }

    fn get(&self, file: u32) -> Option<Arc<[u8]>> {
        self.images.lock().ok()?.get(&file).cloned()
    }

    fn put(&self, file: u32, image: Arc<[u8]>) {
        if let Ok(mut images) = self.images.lock() {
            images.put(file, image);
        }
    }

    /// Images held now.
    pub fn len(&self) -> usize {
        self.images.lock().map_or(0, |c| c.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The images of a [`Dataset`] read from a folder on demand.
#[derive(Debug, Clone)]
pub struct FolderImages {
    pub index: Arc<FolderIndex>,
    pub size: ImageSize,
    /// File number (into `index.files`) of each image of the data set.
    pub files: Vec<u32>,
    pub cache: Arc<ImageCache>,
}

impl FolderImages {
    /// Reads the files `numbers` (through the cache, decoding misses in parallel), as values in
    /// [0, 1], concatenated.
    pub fn load(&self, numbers: &[u32]) -> Result<Vec<f32>> {
        let values = self.size.values();
        let mut out = vec![0f32; numbers.len() * values];
        out.par_chunks_mut(values)
            .zip(numbers.par_iter())
            .try_for_each(|(dst, &n)| -> Result<()> {
                let bytes = match self.cache.get(n) {
                    Some(b) => b,
                    None => {
                        let path = self.index.root.join(&self.index.files[n as usize]);
                        let b: Arc<[u8]> =
                            decode_file(&path, self.size.side, self.size.color)?.into();
                        self.cache.put(n, b.clone());
                        b
                    }
                };
                for (d, &b) in dst.iter_mut().zip(bytes.iter()) {
                    *d = b as f32 / 255.0;
                }
                Ok(())
            })?;
        Ok(out)
    }
}

/// Splits a folder into a streamed training set and a held test set of 10% of the images (at
/// most [`MAX_TEST_IMAGES`]), chosen at random by `split_seed`.
pub fn split(
    root: &Path,
    size: ImageSize,
    split_seed: u64,
    cache_bytes: usize,
) -> Result<(Dataset, Dataset)> {
    let index = Arc::new(scan(root)?);
    let total = index.files.len();
    let mut order: Vec<u32> = (0..total as u32).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(split_seed));
    let test_len = (total / 10).clamp(1, MAX_TEST_IMAGES);
    let train_files = order.split_off(test_len);
    let cache = Arc::new(ImageCache::new(cache_bytes, size.values()));
    let make = |files: Vec<u32>| Dataset {
        images: Vec::new(),
        labels: files.iter().map(|&f| index.labels[f as usize]).collect(),
        height: size.side,
        width: size.side,
        channels: size.color.channels(),
        class_names: index.class_names.clone(),
        factors: None,
        files: Some(FolderImages {
            index: index.clone(),
            size,
            files,
            cache: cache.clone(),
        }),
        binarized: None,
        conditions: None,
    };
    let train = make(train_files);
    let mut test = make(order);
    // The test split is held, and decoded here so that a bad file in it is reported at once.
    let images = {
        let f = test.files.as_ref().expect("made with files");
        f.load(&f.files)?
    };
    test.images = images;
    Ok((train, test))
}

/// `folder`: a folder of your own PNG/JPEG pictures (`--data DIR`), labelled by sub-folder,
/// streamed from disk.
pub struct Folder;

impl DataSet for Folder {
    fn name(&self) -> &'static str {
        "folder"
    }

    fn about(&self) -> &'static str {
        "a folder of your PNG/JPEG pictures (--data)."
    }

    fn validate(&self, spec: &DataSpec) -> Result<()> {
        if !(4..=1024).contains(&spec.image_size) {
            return Err(Error::Config(format!(
                "--image-size must be 4 to 1024 pixels (got {}; try 64)",
                spec.image_size
            )));
        }
        if spec.cache_mb == 0 {
            return Err(Error::Config(
                "--cache-mb must be at least 1 (try 1024)".into(),
            ));
        }
        if spec.data.is_none() {
            return Err(Error::Data(
                "--dataset folder needs --data DIR, a folder of PNG or JPEG files".into(),
            ));
        }
        Ok(())
    }

    fn load_splits(&self, spec: &DataSpec) -> Result<DataSplits> {
        let (train, test) = split(
            spec.data.as_deref().expect("checked by validate"),
            ImageSize {
                side: spec.image_size,
                color: spec.color,
            },
            spec.split_seed,
            spec.cache_mb << 20,
        )?;
        Ok(DataSplits::new(train, test))
    }

    fn describe_source(&self, spec: &DataSpec) -> Result<String> {
        Ok(spec
            .data
            .as_deref()
            .map(|d| d.display().to_string())
            .unwrap_or_default())
    }

    fn drawn_inverted(&self) -> bool {
        false
    }

    fn download(&self) -> Result<(&'static str, Vec<RemoteFile>)> {
        Err(Error::Config(
            "a folder data set is your own pictures; pass --data DIR".into(),
        ))
    }
}

//! Reader and writer for the IDX format of MNIST, Fashion-MNIST, KMNIST and EMNIST.
//!
//! No maintained crate reads IDX with the validation we want (magic, dimensions, exact length,
//! gzip or raw), and the format is twelve lines of spec, so it lives here. Also the loading of
//! the four files of an IDX data set, and `idx`, any other IDX data set (KMNIST, EMNIST, ...),
//! whose classes are named by their label numbers.

use super::fetch::RemoteFile;
use super::{DataSet, DataSpec, DataSplits, Dataset, DatasetKind, locate};
use crate::error::{Error, IoContext, Result};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// IDX type code of unsigned bytes, the only element type the image data sets use.
const UBYTE: u8 = 0x08;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Sizes of each dimension, outermost first.
    pub dims: Vec<usize>,
    /// Row-major data, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Largest decompressed IDX file we accept (EMNIST's largest is about 0.55 GB); a guard against
/// gzip bombs.
pub const MAX_IDX_BYTES: u64 = 4 << 30;

/// Reads an IDX file, gzip-compressed or raw (detected from the content, not the name).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).ctx(|| format!("cannot read {}", path.display()))?;
    decode_idx(&raw, MAX_IDX_BYTES).map_err(|message| Error::file(path, message))
}

/// Decodes the bytes of an IDX file, gunzipping them first when they are gzip; at most
/// `max_bytes` of decompressed data are accepted.
pub fn decode_idx(raw: &[u8], max_bytes: u64) -> std::result::Result<IdxArray, String> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return parse_idx(raw);
    }
    let mut out = Vec::new();
    GzDecoder::new(raw)
        .take(max_bytes + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt or truncated gzip data ({e}); download the file again"))?;
    if out.len() as u64 > max_bytes {
        return Err(format!(
            "decompresses to more than {max_bytes} bytes, larger than any IDX data set"
        ));
    }
    parse_idx(&out)
}

/// Parses IDX bytes; the error says what is wrong, the caller adds the file name.
pub fn parse_idx(bytes: &[u8]) -> std::result::Result<IdxArray, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "not an IDX file: {} bytes, shorter than the 4-byte header",
            bytes.len()
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "not an IDX file: bad magic number {:02x}{:02x}{:02x}{:02x} (expected 0000 08 NN)",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    if bytes[2] != UBYTE {
        return Err(format!(
            "unsupported IDX element type 0x{:02x}; image data sets use unsigned bytes (0x08)",
            bytes[2]
        ));
    }
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err("IDX header declares 0 dimensions".into());
    }
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        return Err(format!(
            "truncated IDX header: {ndims} dimensions need {header_len} bytes, file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("IDX dimensions {dims:?} overflow"))?;
    let payload = &bytes[header_len..];
    if payload.len() < expected {
        return Err(format!(
            "truncated: dimensions {dims:?} need {expected} data bytes, file has {}",
            payload.len()
        ));
    }
    if payload.len() > expected {
        return Err(format!(
            "{} unexpected trailing bytes after the {expected} data bytes of dimensions {dims:?}",
            payload.len() - expected
        ));
    }
    Ok(IdxArray {
        dims,
        data: payload.to_vec(),
    })
}

/// Encodes an unsigned-byte IDX array (the inverse of [`parse_idx`]).
pub fn encode_idx(array: &IdxArray) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, array.dims.len() as u8];
    for &d in &array.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(&array.data);
    out
}

/// Writes an IDX file atomically, gzip-compressed when `gzip` is set.
pub fn write_idx(path: &Path, array: &IdxArray, gzip: bool) -> Result<()> {
    let raw = encode_idx(array);
    let bytes = if gzip {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&raw)
            .and_then(|_| enc.finish())
            .ctx(|| format!("cannot compress {}", path.display()))?
    } else {
        raw
    };
    crate::fsutil::write_atomic(path, &bytes)
}

/// Reads an image file: three dimensions (count, rows, columns).
pub fn read_images(path: &Path) -> Result<IdxArray> {
    let array = read_idx(path)?;
    if array.dims.len() != 3 {
        return Err(Error::file(
            path,
            format!(
                "expected an image file with 3 dimensions (count, rows, columns), found {:?}",
                array.dims
            ),
        ));
    }
    if array.dims[1] == 0 || array.dims[2] == 0 {
        return Err(Error::file(path, "images have zero rows or columns"));
    }
    Ok(array)
}

/// Reads a label file: one dimension (count).
pub fn read_labels(path: &Path) -> Result<IdxArray> {
    let array = read_idx(path)?;
    if array.dims.len() != 1 {
        return Err(Error::file(
            path,
            format!(
                "expected a label file with 1 dimension (count), found {:?}",
                array.dims
            ),
        ));
    }
    Ok(array)
}

/// The four standard file names of an IDX split, with or without `.gz`.
const SPLIT_FILES: [(&str, &str); 2] = [
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
];

/// Finds `name` or `name.gz` in `dir`.
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [format!("{name}.gz"), name.to_string()]
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// True when `dir` holds all four IDX files of a data set.
pub fn has_idx_files(dir: &Path) -> bool {
    SPLIT_FILES
        .iter()
        .all(|(img, lbl)| find_file(dir, img).is_some() && find_file(dir, lbl).is_some())
}

/// One split of an IDX data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// Loads one split from a folder of IDX files.
pub fn load_idx_split(dir: &Path, kind: DatasetKind, split: Split) -> Result<Dataset> {
    let (img, lbl) = SPLIT_FILES[split as usize];
    let missing = |name: &str| {
        Error::Data(format!(
            "{} has no {name} or {name}.gz; a data folder needs the four standard IDX files",
            dir.display()
        ))
    };
    let img_path = find_file(dir, img).ok_or_else(|| missing(img))?;
    let lbl_path = find_file(dir, lbl).ok_or_else(|| missing(lbl))?;
    let images = read_images(&img_path)?;
    let labels = read_labels(&lbl_path)?;
    dataset_from_idx(images, labels, kind, &img_path, &lbl_path)
}

/// Loads train and test splits from a folder of IDX files.
pub fn load_idx_dir(dir: &Path, kind: DatasetKind) -> Result<DataSplits> {
    let mut train = load_idx_split(dir, kind, Split::Train)?;
    let mut test = load_idx_split(dir, kind, Split::Test)?;
    // A generic IDX set names classes by the labels it holds; both splits share one list.
    if test.class_names.len() > train.class_names.len() {
        train.class_names = test.class_names.clone();
    } else {
        test.class_names = train.class_names.clone();
    }
    if (train.height, train.width) != (test.height, test.width) {
        return Err(Error::Data(format!(
            "{}: training images are {}x{} but test images are {}x{}",
            dir.display(),
            train.height,
            train.width,
            test.height,
            test.width
        )));
    }
    Ok(DataSplits::new(train, test))
}

/// A data set from an IDX image array and label array, checking they agree; `kind` names its
/// classes.
pub fn dataset_from_idx(
    images: IdxArray,
    labels: IdxArray,
    kind: DatasetKind,
    images_path: &Path,
    labels_path: &Path,
) -> Result<Dataset> {
    let (n, height, width) = (images.dims[0], images.dims[1], images.dims[2]);
    if labels.dims[0] != n {
        return Err(Error::Data(format!(
            "{} holds {n} images but {} holds {} labels; the two files must come from the same split",
            images_path.display(),
            labels_path.display(),
            labels.dims[0]
        )));
    }
    let num_classes = labels
        .data
        .iter()
        .copied()
        .max()
        .map_or(0, |m| m as usize + 1);
    let class_names = kind.class_names(num_classes);
    if num_classes > class_names.len() {
        return Err(Error::file(
            labels_path,
            format!(
                "label {} is out of range for {} ({} classes)",
                num_classes - 1,
                kind.name(),
                class_names.len()
            ),
        ));
    }
    Ok(Dataset::stored(
        images.data.iter().map(|&b| b as f32 / 255.0).collect(),
        labels.data,
        height,
        width,
        class_names,
    ))
}

/// The folder of an IDX data set ([`locate::locate`]), for messages.
pub fn located(spec: &DataSpec, kind: DatasetKind) -> Result<String> {
    Ok(locate::locate(spec.data.as_deref(), kind)?
        .display()
        .to_string())
}

/// Both splits of an IDX data set from the folder [`locate::locate`] finds.
pub fn load_located(spec: &DataSpec, kind: DatasetKind) -> Result<DataSplits> {
    load_idx_dir(&locate::locate(spec.data.as_deref(), kind)?, kind)
}

/// The test split of an IDX data set (its training files are not read).
pub fn load_located_test(spec: &DataSpec, kind: DatasetKind) -> Result<Dataset> {
    load_idx_split(
        &locate::locate(spec.data.as_deref(), kind)?,
        kind,
        Split::Test,
    )
}

/// `idx`: any IDX data set, `--data DIR`.
pub struct Idx;

impl DataSet for Idx {
    fn name(&self) -> &'static str {
        "idx"
    }

    fn about(&self) -> &'static str {
        "any four IDX files of images and labels (--data)."
    }

    fn load_splits(&self, spec: &DataSpec) -> Result<DataSplits> {
        load_located(spec, DatasetKind::Idx)
    }

    fn load_test(&self, spec: &DataSpec) -> Result<Dataset> {
        load_located_test(spec, DatasetKind::Idx)
    }

    fn describe_source(&self, spec: &DataSpec) -> Result<String> {
        located(spec, DatasetKind::Idx)
    }

    fn download(&self) -> Result<(&'static str, Vec<RemoteFile>)> {
        Err(Error::Config(
            "`vae data fetch` knows fashion-mnist and mnist; for other IDX data sets download the files and pass --data DIR".into(),
        ))
    }
}

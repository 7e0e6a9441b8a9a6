//! CIFAR-10 in its binary version (`cifar-10-batches-bin`): `data_batch_1.bin` ...
//! `data_batch_5.bin` for training and `test_batch.bin` for testing. Each record is one label
//! byte and a 32x32 image as 1024 red, 1024 green and 1024 blue bytes, which is the
//! channel-planar layout [`super::Dataset`] uses.
//!
//! No maintained crate reads this format with the checks we want (exact record length, label
//! range, all batches present), and it is one line of spec, so it lives here.

use super::fetch::RemoteFile;
use super::{Color, DataSet, DataSpec, DataSplits, Dataset};
use crate::error::{Error, IoContext, Result};
use std::path::{Path, PathBuf};

/// Image side.
pub const SIDE: usize = 32;
/// Bytes of one record: label, then the image.
pub const RECORD: usize = 1 + 3 * SIDE * SIDE;
/// The training batches, in order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
pub const TEST_FILE: &str = "test_batch.bin";
/// The class names of `batches.meta.txt`, in label order.
pub const CLASS_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Finds the folder holding the batches: `--data DIR` itself or its `cifar-10-batches-bin`.
pub fn locate(data: Option<&Path>) -> Result<PathBuf> {
    let dir = data.ok_or_else(|| {
        Error::Data(
            "--dataset cifar10 needs --data DIR: the cifar-10-batches-bin folder of cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html".into(),
        )
    })?;
    let candidates = [dir.to_path_buf(), dir.join("cifar-10-batches-bin")];
    candidates
        .iter()
        .find(|d| d.join(TEST_FILE).is_file())
        .cloned()
        .ok_or_else(|| {
            Error::Data(format!(
                "{} holds no {TEST_FILE} (nor does its cifar-10-batches-bin); point --data at the folder of the CIFAR-10 binary version",
                dir.display()
            ))
        })
}

/// Parses the records of one batch file into labels and channel-planar bytes.
pub fn parse(bytes: &[u8]) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(format!(
            "{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records (truncated or not a CIFAR-10 binary batch)",
            bytes.len()
        ));
    }
    let n = bytes.len() / RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut images = Vec::with_capacity(n * (RECORD - 1));
    for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
        if record[0] as usize >= CLASS_NAMES.len() {
            return Err(format!(
                "record {i} has label {}; CIFAR-10 labels are 0-9 (is this CIFAR-100?)",
                record[0]
            ));
        }
        labels.push(record[0]);
        images.extend_from_slice(&record[1..]);
    }
    Ok((labels, images))
}

/// Reads batch files into one data set, as colour or grey values in [0, 1].
pub fn read(paths: &[PathBuf], color: Color) -> Result<Dataset> {
    let mut labels = Vec::new();
    let mut bytes = Vec::new();
    for path in paths {
        let raw = std::fs::read(path).ctx(|| {
            format!(
                "cannot read {} (CIFAR-10 needs all five data_batch files and test_batch.bin)",
                path.display()
            )
        })?;
        let (l, b) = parse(&raw).map_err(|m| Error::file(path, m))?;
        labels.extend(l);
        bytes.extend(b);
    }
    let plane = SIDE * SIDE;
    let images = match color {
        Color::Rgb => bytes.iter().map(|&b| b as f32 / 255.0).collect(),
        Color::Grey => bytes
            .chunks_exact(3 * plane)
            .flat_map(|rgb| {
                (0..plane).map(move |p| {
                    let [r, g, b] = [rgb[p], rgb[plane + p], rgb[2 * plane + p]].map(f32::from);
                    (0.299 * r + 0.587 * g + 0.114 * b) / 255.0
                })
            })
            .collect(),
    };
    let mut data = Dataset::stored(
        images,
        labels,
        SIDE,
        SIDE,
        CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
    );
    data.channels = color.channels();
    Ok(data)
}

/// The training batches of the located folder.
pub fn train_files(dir: &Path) -> Vec<PathBuf> {
    TRAIN_FILES.iter().map(|f| dir.join(f)).collect()
}

/// `cifar10`: CIFAR-10's binary version (`--data` names the `cifar-10-batches-bin` folder).
pub struct Cifar10;

impl DataSet for Cifar10 {
    fn name(&self) -> &'static str {
        "cifar10"
    }

    fn about(&self) -> &'static str {
        "CIFAR-10's binary batches, 32x32, 10 classes."
    }

    fn load_splits(&self, spec: &DataSpec) -> Result<DataSplits> {
        let dir = locate(spec.data.as_deref())?;
        Ok(DataSplits::new(
            read(&train_files(&dir), spec.color)?,
            read(&[dir.join(TEST_FILE)], spec.color)?,
        ))
    }

    fn load_test(&self, spec: &DataSpec) -> Result<Dataset> {
        let dir = locate(spec.data.as_deref())?;
        read(&[dir.join(TEST_FILE)], spec.color)
    }

    fn describe_source(&self, spec: &DataSpec) -> Result<String> {
        Ok(locate(spec.data.as_deref())?.display().to_string())
    }

    fn class_names(&self, _num_classes: usize) -> Vec<String> {
        CLASS_NAMES.iter().map(|s| s.to_string()).collect()
    }

    fn drawn_inverted(&self) -> bool {
        false
    }

    fn download(&self) -> Result<(&'static str, Vec<RemoteFile>)> {
        Err(Error::Config(
            "`vae data fetch` does not download CIFAR-10 (it comes as a tar archive); get cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass --data cifar-10-batches-bin".into(),
        ))
    }
}

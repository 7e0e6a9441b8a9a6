//! `mnist`: LeCun's handwritten digits, 28x28 grey IDX files, found where [`super::locate`]
//! looks or fetched.

use super::fetch::{Checksum, RemoteFile};
use super::{DataSet, DataSpec, DataSplits, Dataset, DatasetKind, idx};
use crate::error::Result;

pub struct Mnist;

impl DataSet for Mnist {
    fn name(&self) -> &'static str {
        "mnist"
    }

    fn about(&self) -> &'static str {
        "28x28 grey handwritten digits, 10 classes (IDX, downloadable)."
    }

    fn load_splits(&self, spec: &DataSpec) -> Result<DataSplits> {
        idx::load_located(spec, DatasetKind::Mnist)
    }

    fn load_test(&self, spec: &DataSpec) -> Result<Dataset> {
        idx::load_located_test(spec, DatasetKind::Mnist)
    }

    fn describe_source(&self, spec: &DataSpec) -> Result<String> {
        idx::located(spec, DatasetKind::Mnist)
    }

    fn class_names(&self, _num_classes: usize) -> Vec<String> {
        (0..10).map(|c| c.to_string()).collect()
    }

    fn download(&self) -> Result<(&'static str, Vec<RemoteFile>)> {
        use Checksum::*;
        let file = |name, checksum| RemoteFile { name, checksum };
        Ok((
            "https://ossci-datasets.s3.amazonaws.com/mnist",
            vec![
                file(
                    "train-images-idx3-ubyte.gz",
                    GzipMd5("f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                ),
                file(
                    "train-labels-idx1-ubyte.gz",
                    GzipMd5("d53e105ee54ea40749a09fcbcd1e9432"),
                ),
                file(
                    "t10k-images-idx3-ubyte.gz",
                    GzipMd5("9fb629c4189551a2d022fa330f9573f3"),
                ),
                file(
                    "t10k-labels-idx1-ubyte.gz",
                    GzipMd5("ec29112dd5afa0611ce80d1b7f02629c"),
                ),
            ],
        ))
    }
}

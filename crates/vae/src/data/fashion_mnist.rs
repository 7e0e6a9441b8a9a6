//! `fashion-mnist` (the default): Zalando's Fashion-MNIST, the lecture's wardrobe. 28x28 grey
//! IDX files, 60,000 training and 10,000 test images of ten kinds of clothes, found where
//! [`super::locate`] looks (Debian's `dataset-fashion-mnist` among them) or fetched.

use super::fetch::{Checksum, RemoteFile};
use super::{DataSet, DataSpec, DataSplits, Dataset, DatasetKind, idx};
use crate::error::Result;

pub struct FashionMnist;

impl DataSet for FashionMnist {
    fn name(&self) -> &'static str {
        "fashion-mnist"
    }

    fn about(&self) -> &'static str {
        "Zalando's 28x28 grey clothes, 10 classes (IDX, downloadable)."
    }

    fn load_splits(&self, spec: &DataSpec) -> Result<DataSplits> {
        idx::load_located(spec, DatasetKind::FashionMnist)
    }

    fn load_test(&self, spec: &DataSpec) -> Result<Dataset> {
        idx::load_located_test(spec, DatasetKind::FashionMnist)
    }

    fn describe_source(&self, spec: &DataSpec) -> Result<String> {
        idx::located(spec, DatasetKind::FashionMnist)
    }

    fn class_names(&self, _num_classes: usize) -> Vec<String> {
        [
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn download(&self) -> Result<(&'static str, Vec<RemoteFile>)> {
        use Checksum::*;
        let file = |name, checksum| RemoteFile { name, checksum };
        Ok((
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
            vec![
                file(
                    "train-images-idx3-ubyte.gz",
                    PayloadSha256(
                        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                    ),
                ),
                file(
                    "train-labels-idx1-ubyte.gz",
                    PayloadSha256(
                        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                    ),
                ),
                file(
                    "t10k-images-idx3-ubyte.gz",
                    PayloadSha256(
                        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                    ),
                ),
                file(
                    "t10k-labels-idx1-ubyte.gz",
                    PayloadSha256(
                        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                    ),
                ),
            ],
        ))
    }
}

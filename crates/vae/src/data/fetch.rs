//! `vae data fetch`: the official IDX files and their checksums; each download is verified
//! before it is kept. The HTTP transfer itself is the caller's (the CLI uses `ureq`), so the
//! library has no HTTP client.

use super::DatasetKind;
use crate::error::{Error, Result};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Environment variable that replaces the download base URL (a mirror, or a local test server).
pub const FETCH_URL_ENV: &str = "VAE_FETCH_URL";

/// Files larger than this are refused: the largest official file is about 26 MB.
pub const MAX_DOWNLOAD: u64 = 128 << 20;

/// How a downloaded file is verified.
#[derive(Debug, Clone, Copy)]
pub enum Checksum {
    /// SHA-256 of the decompressed IDX bytes: robust to re-compression by mirrors. Pinned from
    /// Debian's `dataset-fashion-mnist` copy of the upstream files.
    PayloadSha256(&'static str),
    /// MD5 of the `.gz` file as published upstream (the only digest MNIST's mirrors publish).
    GzipMd5(&'static str),
}

/// One file to download.
#[derive(Debug, Clone, Copy)]
pub struct RemoteFile {
    pub name: &'static str,
    pub checksum: Checksum,
}

/// The official source of `kind`: base URL and files.
pub fn official(kind: DatasetKind) -> Result<(&'static str, Vec<RemoteFile>)> {
    use Checksum::*;
    let file = |name, checksum| RemoteFile { name, checksum };
    match kind {
        DatasetKind::FashionMnist => Ok((
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
            vec![
                file(
                    "train-images-idx3-ubyte.gz",
                    PayloadSha256("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
                ),
                file(
                    "train-labels-idx1-ubyte.gz",
                    PayloadSha256("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
                ),
                file(
                    "t10k-images-idx3-ubyte.gz",
                    PayloadSha256("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
                ),
                file(
                    "t10k-labels-idx1-ubyte.gz",
                    PayloadSha256("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
                ),
            ],
        )),
        DatasetKind::Mnist => Ok((
            "https://ossci-datasets.s3.amazonaws.com/mnist",
            vec![
                file("train-images-idx3-ubyte.gz", GzipMd5("f68b3c2dcbeaaa9fbdd348bbdeb94873")),
                file("train-labels-idx1-ubyte.gz", GzipMd5("d53e105ee54ea40749a09fcbcd1e9432")),
                file("t10k-images-idx3-ubyte.gz", GzipMd5("9fb629c4189551a2d022fa330f9573f3")),
                file("t10k-labels-idx1-ubyte.gz", GzipMd5("ec29112dd5afa0611ce80d1b7f02629c")),
            ],
        )),
        DatasetKind::Idx => Err(Error::Config(
            "`vae data fetch` knows fashion-mnist and mnist; for other IDX data sets download the files and pass --data DIR".into(),
        )),
        DatasetKind::Shapes => Err(Error::Config(
            "shapes is built in and drawn on the fly; there is nothing to fetch".into(),
        )),
        DatasetKind::Dsprites => Err(Error::Config(
            "`vae data fetch` does not download dSprites; get dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz from github.com/google-deepmind/dsprites-dataset and pass --data FILE, or use the built-in --dataset shapes".into(),
        )),
        DatasetKind::Folder => Err(Error::Config(
            "a folder data set is your own pictures; pass --data DIR".into(),
        )),
        DatasetKind::Cifar10 => Err(Error::Config(
            "`vae data fetch` does not download CIFAR-10 (it comes as a tar archive); get cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass --data cifar-10-batches-bin".into(),
        )),
    }
}

/// Checks `bytes` (a `.gz` file as downloaded) against `checksum`.
pub fn verify(name: &str, bytes: &[u8], checksum: Checksum) -> Result<()> {
    let (what, expected, actual) = match checksum {
        Checksum::PayloadSha256(expected) => {
            let mut payload = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut payload)
                .map_err(|e| {
                    Error::Fetch(format!("{name}: downloaded file is not valid gzip ({e})"))
                })?;
            ("SHA-256", expected, hex(&Sha256::digest(&payload)))
        }
        Checksum::GzipMd5(expected) => ("MD5", expected, hex(&Md5::digest(bytes))),
    };
    if actual != expected {
        return Err(Error::Fetch(format!(
            "{name}: {what} mismatch (expected {expected}, got {actual}); the download is corrupt or the mirror serves other data, nothing was saved"
        )));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Downloads `files` from `base_url` with `download` (URL in, bytes or a one-line error out) into
/// `dest`, verifying each before it is written (atomically). Files already present and valid
/// are kept without downloading again.
pub fn fetch(
    base_url: &str,
    files: &[RemoteFile],
    dest: &Path,
    mut download: impl FnMut(&str) -> Result<Vec<u8>>,
) -> Result<Vec<PathBuf>> {
    crate::fsutil::create_dir(dest)?;
    let mut written = Vec::new();
    for file in files {
        let path = dest.join(file.name);
        if let Ok(existing) = std::fs::read(&path)
            && verify(file.name, &existing, file.checksum).is_ok()
        {
            written.push(path);
            continue;
        }
        let url = format!("{}/{}", base_url.trim_end_matches('/'), file.name);
        let bytes = download(&url)?;
        verify(file.name, &bytes, file.checksum)?;
        crate::fsutil::write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

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

/// The official source of `kind`: base URL and files ([`super::DataSet::download`]).
pub fn official(kind: DatasetKind) -> Result<(&'static str, Vec<RemoteFile>)> {
    kind.data_set().download()
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

/// Bytes in lower-case hex, as checksums are written.
pub(crate) fn hex(bytes: &[u8]) -> String {
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

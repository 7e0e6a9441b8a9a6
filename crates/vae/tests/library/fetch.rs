//! Downloads are verified before they are kept: the official Fashion-MNIST files from a local
//! copy (never the internet), through a downloader that reads the copy, as the CLI's HTTP one
//! reads a server (the HTTP path is tested with the CLI).

use std::path::Path;
use vae::Error;
use vae::data::DatasetKind;
use vae::data::fetch::{fetch, official};

/// A downloader that serves `mirror`'s files by the last part of the URL.
fn from_mirror(mirror: &Path) -> impl FnMut(&str) -> vae::Result<Vec<u8>> + '_ {
    move |url: &str| {
        let name = url.rsplit('/').next().unwrap_or_default();
        std::fs::read(mirror.join(name))
            .map_err(|e| Error::Fetch(format!("cannot download {url}: {e}")))
    }
}

pub fn mirror_of_debian_copy() -> tempfile::TempDir {
    let mirror = tempfile::tempdir().unwrap();
    let source = vae_testkit::fashion_mnist_dir();
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), mirror.path().join(entry.file_name())).unwrap();
    }
    mirror
}

#[test]
fn fetch_verifies_and_stores_the_official_fashion_mnist_files() {
    let mirror = mirror_of_debian_copy();
    let dest = tempfile::tempdir().unwrap();
    let (base, files) = official(DatasetKind::FashionMnist).unwrap();
    let mut urls = Vec::new();
    let mut download = from_mirror(mirror.path());
    let written = fetch(base, &files, dest.path(), |url| {
        urls.push(url.to_string());
        download(url)
    })
    .unwrap();
    assert_eq!(written.len(), 4);
    assert_eq!(
        urls[0],
        format!("{base}/train-images-idx3-ubyte.gz"),
        "files are fetched from the official address"
    );
    let splits = vae::data::load_idx_dir(dest.path(), DatasetKind::FashionMnist).unwrap();
    assert_eq!(splits.test.len(), 10_000);
    // Valid files already there are kept, not downloaded again.
    let again = fetch(base, &files, dest.path(), |url| {
        panic!("{url} was downloaded again")
    })
    .unwrap();
    assert_eq!(again, written);
}

fn tamper(path: &Path) {
    use std::io::{Read, Write};
    let mut payload = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut payload)
        .unwrap();
    let last = payload.len() - 1;
    payload[last] ^= 0xff;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&payload).unwrap();
    std::fs::write(path, enc.finish().unwrap()).unwrap();
}

#[test]
fn a_tampered_file_is_refused_and_nothing_is_saved_for_it() {
    let mirror = mirror_of_debian_copy();
    tamper(&mirror.path().join("t10k-labels-idx1-ubyte.gz"));
    let dest = tempfile::tempdir().unwrap();
    let (base, files) = official(DatasetKind::FashionMnist).unwrap();
    let message = fetch(base, &files, dest.path(), from_mirror(mirror.path()))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("t10k-labels-idx1-ubyte.gz: SHA-256 mismatch"),
        "{message}"
    );
    assert!(!dest.path().join("t10k-labels-idx1-ubyte.gz").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dest.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

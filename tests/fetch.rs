//! `vae data fetch` against a local HTTP server holding a copy of the files: never the internet.

use std::path::{Path, PathBuf};
use std::thread;
use vae::data::DatasetKind;
use vae::data::fetch::{fetch, official};

/// Serves the files of `dir` on 127.0.0.1 for `requests` requests; returns the base URL.
fn serve(dir: PathBuf, requests: usize) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    thread::spawn(move || {
        for request in server.incoming_requests().take(requests) {
            let path = dir.join(request.url().trim_start_matches('/'));
            let _ = match std::fs::read(&path) {
                Ok(bytes) => request.respond(tiny_http::Response::from_data(bytes)),
                Err(_) => request.respond(tiny_http::Response::empty(404)),
            };
        }
    });
    url
}

fn mirror_of_debian_copy() -> tempfile::TempDir {
    let mirror = tempfile::tempdir().unwrap();
    let source = common::fashion_mnist_dir();
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), mirror.path().join(entry.file_name())).unwrap();
    }
    mirror
}

#[test]
fn fetch_verifies_and_stores_the_official_fashion_mnist_files() {
    let mirror = mirror_of_debian_copy();
    let url = serve(mirror.path().to_path_buf(), 4);
    let dest = tempfile::tempdir().unwrap();
    let (_, files) = official(DatasetKind::FashionMnist).unwrap();
    let written = fetch(&url, &files, dest.path()).unwrap();
    assert_eq!(written.len(), 4);
    let splits = vae::data::load_idx_dir(dest.path(), DatasetKind::FashionMnist).unwrap();
    assert_eq!(splits.test.len(), 10_000);
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
    let url = serve(mirror.path().to_path_buf(), 4);
    let dest = tempfile::tempdir().unwrap();
    let (_, files) = official(DatasetKind::FashionMnist).unwrap();
    let message = fetch(&url, &files, dest.path()).unwrap_err().to_string();
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

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let dest = tempfile::tempdir().unwrap();
    let (_, files) = official(DatasetKind::Mnist).unwrap();
    // Port 9 (discard) on loopback: nothing listens there.
    let message = fetch("http://127.0.0.1:9", &files, dest.path())
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("cannot download http://127.0.0.1:9/train-images-idx3-ubyte.gz"),
        "{message}"
    );
}

#[test]
fn the_cli_fetches_from_the_mirror_named_in_the_environment() {
    let mirror = mirror_of_debian_copy();
    let url = serve(mirror.path().to_path_buf(), 4);
    let dest = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vae"))
        .args(["data", "fetch", "fashion-mnist", "--dest"])
        .arg(dest.path())
        .env(vae::data::fetch::FETCH_URL_ENV, &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches("verified")
            .count(),
        4
    );
}

mod common;

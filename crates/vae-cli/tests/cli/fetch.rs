//! `vae data fetch` over HTTP, against a local server holding a copy of the files: never the
//! internet.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread;
use vae::data::fetch::FETCH_URL_ENV;

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

fn fetch(dataset: &str, url: &str, dest: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vae"))
        .args(["data", "fetch", dataset, "--dest"])
        .arg(dest)
        .env(FETCH_URL_ENV, url)
        .output()
        .unwrap()
}

#[test]
fn the_cli_fetches_from_the_mirror_named_in_the_environment() {
    let mirror = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(vae_testkit::fashion_mnist_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), mirror.path().join(entry.file_name())).unwrap();
    }
    let url = serve(mirror.path().to_path_buf(), 4);
    let dest = tempfile::tempdir().unwrap();
    let out = fetch("fashion-mnist", &url, dest.path());
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
    let splits =
        vae::data::load_idx_dir(dest.path(), vae::data::DatasetKind::FashionMnist).unwrap();
    assert_eq!(splits.test.len(), 10_000);
}

#[test]
fn an_unreachable_server_is_a_clear_error() {
    let dest = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens there.
    let out = fetch("mnist", "http://127.0.0.1:9", dest.path());
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(
        message.starts_with("error: cannot download http://127.0.0.1:9/train-images-idx3-ubyte.gz"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
}

//! The second stage's files: it records the first stage's weights it was fitted on (those it
//! loaded, not whatever the folder holds when it is saved) and the hash of its own weights,
//! and writes them whole or not at all.

use sha2::{Digest, Sha256};
use std::path::Path;
use vae::config::TrainConfig;
use vae::run::Run;
use vae::train::{TrainOptions, train};
use vae::two_stage::{SETTINGS_FILE, SecondStageConfig, WEIGHTS_FILE, fit, is_stale, load};

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn small_stage(seed: u64) -> SecondStageConfig {
    SecondStageConfig {
        epochs: 1,
        hidden: vec![16],
        limit: Some(300),
        seed,
        ..SecondStageConfig::default()
    }
}

/// Temporary files in `dir` (ours end `.tmpPID`, Burn's `.PID-N.tmp`).
fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp"))
        .collect()
}

/// The run trains on while a second stage is fitted on the weights read before: the second
/// stage records those, so it is stale at once, instead of claiming the new weights.
#[test]
fn a_second_stage_records_the_weights_it_was_fitted_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = vae_testkit::small_config(500, 1);
    train(&config, dir.path(), TrainOptions::default()).unwrap();
    let run = Run::load(dir.path(), None).unwrap();
    let loaded = sha256(&run.path(vae::run::MODEL_FILE));
    let more = TrainConfig {
        epochs: 2,
        ..config
    };
    train(&more, dir.path(), TrainOptions { resume: true }).unwrap();
    assert_ne!(sha256(&run.path(vae::run::MODEL_FILE)), loaded);

    let (_, saved) = fit(&run, &small_stage(0)).unwrap();
    assert_eq!(saved.fitted_on.as_deref(), Some(loaded.as_str()));
    let now = Run::load(dir.path(), None).unwrap();
    assert!(is_stale(&now).unwrap());
    let (_, saved) = fit(&now, &small_stage(0)).unwrap();
    assert_eq!(
        saved.fitted_on,
        Some(sha256(&now.path(vae::run::MODEL_FILE)))
    );
    assert!(!is_stale(&now).unwrap());
}

/// `second_stage.toml` holds the SHA-256 of `second_stage.bpk`, so weights of another fit
/// beside it (a copy, or a crash between the two files) are refused; a write that fails
/// leaves the files that were there and no temporary one.
#[test]
fn the_second_stage_is_written_whole_and_its_record_holds_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    train(
        &vae_testkit::small_config(500, 1),
        dir.path(),
        TrainOptions::default(),
    )
    .unwrap();
    let run = Run::load(dir.path(), None).unwrap();
    let (weights, settings) = (run.path(WEIGHTS_FILE), run.path(SETTINGS_FILE));
    fit(&run, &small_stage(0)).unwrap();
    let record = std::fs::read_to_string(&settings).unwrap();
    assert!(
        record.contains(&format!("weights_sha256 = \"{}\"", sha256(&weights))),
        "{record}"
    );
    assert_eq!(temporary_files(dir.path()), Vec::<String>::new());

    let first = std::fs::read(&weights).unwrap();
    fit(&run, &small_stage(1)).unwrap();
    assert_ne!(std::fs::read(&weights).unwrap(), first);
    std::fs::write(&weights, &first).unwrap();
    let e = load(&run).unwrap_err().to_string();
    assert!(
        e.contains("does not match") && e.contains("fit it again with `vae two-stage"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");

    // The weights cannot be written (a folder is in their place): one line, nothing else
    // changed, nothing left behind.
    std::fs::remove_file(&weights).unwrap();
    std::fs::create_dir(&weights).unwrap();
    let before = std::fs::read_to_string(&settings).unwrap();
    let e = fit(&run, &small_stage(2)).unwrap_err().to_string();
    assert!(
        e.contains("cannot write") && e.contains(WEIGHTS_FILE),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), before);
    assert_eq!(temporary_files(dir.path()), Vec::<String>::new());
}

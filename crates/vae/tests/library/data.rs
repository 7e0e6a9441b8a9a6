//! IDX files: round trips, every kind of damage, and finding the data.

use std::path::Path;
use vae::data::idx::{IdxArray, read_idx, read_images, read_labels, write_idx};
use vae::data::{DatasetKind, load_idx_dir};

fn images(n: usize, h: usize, w: usize) -> IdxArray {
    IdxArray {
        dims: vec![n, h, w],
        data: (0..n * h * w).map(|i| (i * 7 % 256) as u8).collect(),
    }
}

fn labels(n: usize) -> IdxArray {
    IdxArray {
        dims: vec![n],
        data: (0..n).map(|i| (i % 10) as u8).collect(),
    }
}

fn write_split(dir: &Path, n_train: usize, n_train_labels: usize) {
    write_idx(
        &dir.join("train-images-idx3-ubyte.gz"),
        &images(n_train, 4, 5),
        true,
    )
    .unwrap();
    write_idx(
        &dir.join("train-labels-idx1-ubyte"),
        &labels(n_train_labels),
        false,
    )
    .unwrap();
    write_idx(&dir.join("t10k-images-idx3-ubyte"), &images(3, 4, 5), false).unwrap();
    write_idx(&dir.join("t10k-labels-idx1-ubyte.gz"), &labels(3), true).unwrap();
}

fn error_of(result: vae::Result<impl std::fmt::Debug>) -> String {
    result.expect_err("expected an error").to_string()
}

#[test]
fn idx_round_trips_raw_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let array = images(6, 3, 2);
    for gzip in [false, true] {
        let path = dir.path().join(format!("a{gzip}"));
        write_idx(&path, &array, gzip).unwrap();
        assert_eq!(read_idx(&path).unwrap(), array);
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw.starts_with(&[0x1f, 0x8b]), gzip);
    }
}

#[test]
fn damaged_files_give_clear_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = vae::data::idx::encode_idx(&images(2, 3, 3));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("short", vec![0, 0], "shorter than the 4-byte header"),
        (
            "magic",
            [&[1u8, 2, 8, 3][..], &good[4..]].concat(),
            "bad magic number",
        ),
        (
            "type",
            [&[0u8, 0, 0x0d, 3][..], &good[4..]].concat(),
            "unsupported IDX element type",
        ),
        ("truncated", good[..good.len() - 5].to_vec(), "truncated"),
        (
            "trailing",
            [&good[..], &[1, 2, 3]].concat(),
            "3 unexpected trailing bytes",
        ),
        ("header", good[..9].to_vec(), "truncated IDX header"),
        (
            "badgzip",
            vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3],
            "corrupt or truncated gzip",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let message = error_of(read_idx(&path));
        assert!(message.contains(expected), "{name}: {message}");
        assert!(
            message.contains(&path.display().to_string()),
            "{name}: {message}"
        );
        assert!(
            !message.contains('\n'),
            "{name}: one line expected: {message}"
        );
    }
    // A truncated gzip stream of a valid file.
    let gz = dir.path().join("cut.gz");
    write_idx(&gz, &images(50, 28, 28), true).unwrap();
    let bytes = std::fs::read(&gz).unwrap();
    std::fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
    assert!(error_of(read_idx(&gz)).contains("corrupt or truncated gzip"));
}

#[test]
fn images_and_labels_need_their_own_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let lbl = dir.path().join("labels");
    let img = dir.path().join("images");
    write_idx(&lbl, &labels(4), false).unwrap();
    write_idx(&img, &images(4, 2, 2), false).unwrap();
    assert!(error_of(read_images(&lbl)).contains("expected an image file with 3 dimensions"));
    assert!(error_of(read_labels(&img)).contains("expected a label file with 1 dimension"));
}

#[test]
fn a_folder_of_idx_files_loads_as_train_and_test_splits() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), 7, 7);
    let splits = load_idx_dir(dir.path(), DatasetKind::Mnist).unwrap();
    assert_eq!((splits.train.len(), splits.test.len()), (7, 3));
    assert_eq!((splits.train.height, splits.train.width), (4, 5));
    assert_eq!(
        splits.train.image(1).unwrap()[0],
        20.0 * 7.0 % 256.0 / 255.0
    );
    assert!(splits.train.images.iter().all(|p| (0.0..=1.0).contains(p)));
    assert_eq!(splits.train.class_names.len(), 10);
}

#[test]
fn mismatched_image_and_label_counts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), 7, 6);
    let message = error_of(load_idx_dir(dir.path(), DatasetKind::Mnist));
    assert!(
        message.contains("holds 7 images but") && message.contains("6 labels"),
        "{message}"
    );
}

#[test]
fn an_explicit_data_folder_without_files_is_an_error_not_a_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let message = error_of(vae::data::locate::locate(
        Some(dir.path()),
        DatasetKind::FashionMnist,
    ));
    assert!(
        message.contains("--data points at") && message.contains("train-images-idx3-ubyte"),
        "{message}"
    );
}

#[test]
fn fashion_mnist_from_debian_has_the_published_shape() {
    let splits =
        load_idx_dir(&vae_testkit::fashion_mnist_dir(), DatasetKind::FashionMnist).unwrap();
    assert_eq!((splits.train.len(), splits.test.len()), (60_000, 10_000));
    assert_eq!((splits.train.height, splits.train.width), (28, 28));
    assert_eq!(splits.train.class_names[9], "Ankle boot");
    let (mean, _) = vae::data::pixel_stats(&splits.train).unwrap();
    assert!((mean - 0.2860).abs() < 1e-3, "{mean}");
}

/// An IDX folder whose training split holds no images is refused in one line before anything
/// is written, where it used to panic (a batch of 0 images, `0 % 0`).
#[test]
fn an_empty_training_split_is_an_error_not_a_panic() {
    let data = tempfile::tempdir().unwrap();
    write_split(data.path(), 0, 0);
    let config = vae::TrainConfig {
        dataset: DatasetKind::Mnist,
        data: Some(data.path().to_path_buf()),
        epochs: 1,
        ..vae::TrainConfig::for_arch(vae::model::Arch::Mlp)
    };
    let run = tempfile::tempdir().unwrap();
    let dir = run.path().join("run");
    let message = error_of(vae::train::train(
        &config,
        &dir,
        vae::train::TrainOptions::default(),
    ));
    assert!(
        message.contains("no training images")
            && message.contains(&data.path().display().to_string()),
        "{message}"
    );
    assert!(!dir.exists());
}

/// A data folder whose name is not UTF-8 cannot be written into the run's config.toml: the
/// library refuses it in one line naming the fix, before any file is written, where it used to
/// panic while writing the config.
#[test]
fn a_data_path_that_is_not_utf8_is_an_error_not_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp
        .path()
        .join(std::ffi::OsStr::from_bytes(b"fashion-\xff-mnist"));
    std::os::unix::fs::symlink(vae_testkit::fashion_mnist_dir(), &data).unwrap();
    let config = vae::TrainConfig {
        data: Some(data),
        ..vae_testkit::small_config(200, 1)
    };
    let dir = tmp.path().join("run");
    let message = error_of(vae::train::train(
        &config,
        &dir,
        vae::train::TrainOptions::default(),
    ));
    assert!(
        message.starts_with("--data ") && message.contains("is not valid UTF-8"),
        "{message}"
    );
    assert!(!dir.exists());
}

//! Image folders (streamed, cached, split by seed), CIFAR-10 batches and attribute tables, on
//! generated files: what they hold, and clear errors for corrupt or mismatched input.

use std::path::Path;
use vae::data::Color;
use vae::data::folder;
use vae::data::{DataSpec, DatasetKind, attributes, cifar};

fn folder_spec(dir: &Path, side: usize, color: Color) -> DataSpec {
    DataSpec {
        image_size: side,
        color,
        ..DataSpec::new(DatasetKind::Folder, Some(dir))
    }
}

#[test]
fn a_folder_is_labelled_by_sub_folder_split_by_seed_and_streamed() {
    let dir = tempfile::tempdir().unwrap();
    vae_testkit::image_folder(dir.path(), 20);
    let spec = folder_spec(dir.path(), 16, Color::Rgb);
    let splits = vae::data::load_splits(&spec).unwrap();
    let (train, test) = (&splits.train, &splits.test);
    assert_eq!(train.class_names, vae_testkit::FOLDER_CLASSES);
    assert_eq!((train.len(), test.len()), (54, 6));
    assert_eq!((test.height, test.width, test.channels), (16, 16, 3));
    assert!(train.is_generated(), "the training split is read on demand");
    assert!(!test.is_generated() && test.images.len() == 6 * 3 * 16 * 16);
    // Train and test are disjoint and cover the folder; the same seed gives the same split.
    let mut all: Vec<_> = (0..train.len())
        .map(|i| train.file_name(i).unwrap().to_path_buf())
        .chain((0..test.len()).map(|i| test.file_name(i).unwrap().to_path_buf()))
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 60);
    let again = vae::data::load_splits(&spec).unwrap();
    assert_eq!(again.test.images, test.images);
    let other = vae::data::load_splits(&DataSpec {
        split_seed: 7,
        ..spec.clone()
    })
    .unwrap();
    assert_ne!(other.test.labels.len(), 0);
    assert_ne!(
        (0..6)
            .map(|i| other.test.file_name(i).unwrap().to_path_buf())
            .collect::<Vec<_>>(),
        (0..6)
            .map(|i| test.file_name(i).unwrap().to_path_buf())
            .collect::<Vec<_>>()
    );
    // Labels follow the sub-folder, and a streamed image equals the decoded file.
    for i in 0..train.len() {
        let name = train.file_name(i).unwrap();
        let class = name
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        assert_eq!(train.class_names[train.labels[i] as usize], class);
    }
    let path = dir.path().join(train.file_name(3).unwrap());
    let expected: Vec<f32> = folder::decode_file(&path, 16, Color::Rgb)
        .unwrap()
        .iter()
        .map(|&b| b as f32 / 255.0)
        .collect();
    assert_eq!(train.gather(&[3]).unwrap(), expected);
}

#[test]
fn images_are_centre_cropped_resized_and_channel_planar() {
    let dir = tempfile::tempdir().unwrap();
    // 30x10: a red left third, green middle, blue right third; the centre crop keeps the
    // middle 10x10, all green.
    let img = image::RgbImage::from_fn(30, 10, |x, _| match x / 10 {
        0 => image::Rgb([255, 0, 0]),
        1 => image::Rgb([0, 255, 0]),
        _ => image::Rgb([0, 0, 255]),
    });
    let path = dir.path().join("bands.png");
    img.save(&path).unwrap();
    let rgb = folder::decode_file(&path, 4, Color::Rgb).unwrap();
    assert_eq!(rgb.len(), 3 * 16);
    assert!(rgb[..16].iter().all(|&v| v == 0), "red plane {rgb:?}");
    assert!(rgb[16..32].iter().all(|&v| v == 255), "green plane {rgb:?}");
    assert!(rgb[32..].iter().all(|&v| v == 0), "blue plane {rgb:?}");
    let grey = folder::decode_file(&path, 4, Color::Grey).unwrap();
    assert_eq!(grey.len(), 16);
    assert!(
        grey.iter().all(|&v| (v as i32 - 150).abs() <= 2),
        "{grey:?}"
    );
}

#[test]
fn the_cache_is_bounded_and_serves_repeated_reads() {
    let dir = tempfile::tempdir().unwrap();
    vae_testkit::image_folder(dir.path(), 20);
    let index = std::sync::Arc::new(folder::scan(dir.path()).unwrap());
    let size = vae::data::ImageSize {
        side: 8,
        color: Color::Rgb,
    };
    // Room for 10 images of 8x8x3 bytes.
    let cache = std::sync::Arc::new(folder::ImageCache::new(10 * 192, 192));
    let images = folder::FolderImages {
        index: index.clone(),
        size,
        files: (0..60).collect(),
        cache: cache.clone(),
    };
    let all: Vec<u32> = (0..60).collect();
    let first = images.load(&all).unwrap();
    assert_eq!(cache.capacity, 10);
    assert_eq!(cache.len(), 10);
    // Deleting the files shows where the last ten come from: the cache.
    let second = images.load(&all[50..]).unwrap();
    for f in &index.files {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }
    assert_eq!(images.load(&all[50..]).unwrap(), second);
    assert_eq!(&first[50 * 192..], &second[..]);
    let e = images.load(&all[..1]).unwrap_err().to_string();
    assert!(e.contains("cannot open"), "{e}");
}

#[test]
fn bad_folders_and_corrupt_images_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let spec = folder_spec(dir.path(), 16, Color::Rgb);
    let e = vae::data::load_splits(&spec).unwrap_err().to_string();
    assert!(e.contains("holds 0 PNG/JPEG files"), "{e}");
    let e = vae::data::load_splits(&folder_spec(&dir.path().join("nope"), 16, Color::Rgb))
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not a folder"), "{e}");
    let e = vae::data::load_splits(&DataSpec {
        image_size: 2,
        ..spec.clone()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("--image-size"), "{e}");

    vae_testkit::image_folder(dir.path(), 10);
    // A truncated PNG and a text file named .jpg, wherever the split puts them.
    let png = dir.path().join("red/0000.png");
    let bytes = std::fs::read(&png).unwrap();
    std::fs::write(&png, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(dir.path().join("green/notes.jpg"), "not a picture").unwrap();
    let result = vae::data::load_splits(&spec).and_then(|s| {
        let all: Vec<usize> = (0..s.train.len()).collect();
        s.train.gather(&all)
    });
    let e = result.unwrap_err().to_string();
    assert!(
        (e.contains("0000.png") || e.contains("notes.jpg")) && e.contains("corrupt"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}

/// A CIFAR-10 batch of `n` records: label `i % 10`, red plane = i, green 100, blue 200.
fn cifar_batch(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push((i % 10) as u8);
        out.extend(std::iter::repeat_n(i as u8, 1024));
        out.extend(std::iter::repeat_n(100u8, 1024));
        out.extend(std::iter::repeat_n(200u8, 1024));
    }
    out
}

fn cifar_dir(dir: &Path) {
    for f in cifar::TRAIN_FILES {
        std::fs::write(dir.join(f), cifar_batch(4)).unwrap();
    }
    std::fs::write(dir.join(cifar::TEST_FILE), cifar_batch(3)).unwrap();
}

#[test]
fn cifar10_batches_are_read_in_colour_or_grey() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&dir).unwrap();
    cifar_dir(&dir);
    // --data may name the folder or its parent.
    let spec = DataSpec::new(DatasetKind::Cifar10, Some(root.path()));
    let s = vae::data::load_splits(&spec).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (20, 3));
    assert_eq!((s.test.height, s.test.width, s.test.channels), (32, 32, 3));
    assert_eq!(s.train.class_names[3], "cat");
    assert_eq!(s.test.labels, [0, 1, 2]);
    let image = s.test.image(2).unwrap();
    assert_eq!(image[0], 2.0 / 255.0);
    assert_eq!(image[1024], 100.0 / 255.0);
    assert_eq!(image[2048], 200.0 / 255.0);
    let grey = vae::data::load_test(&DataSpec {
        color: Color::Grey,
        ..DataSpec::new(DatasetKind::Cifar10, Some(&dir))
    })
    .unwrap();
    assert_eq!(grey.channels, 1);
    let expected = (0.299 * 2.0 + 0.587 * 100.0 + 0.114 * 200.0) / 255.0;
    assert!((grey.image(2).unwrap()[0] - expected).abs() < 1e-6);
}

#[test]
fn bad_cifar10_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let spec = DataSpec::new(DatasetKind::Cifar10, Some(dir.path()));
    let e = vae::data::load_splits(&spec).unwrap_err().to_string();
    assert!(e.contains("test_batch.bin"), "{e}");
    cifar_dir(dir.path());
    let batch = dir.path().join("data_batch_3.bin");
    std::fs::write(&batch, &cifar_batch(2)[..5000]).unwrap();
    let e = vae::data::load_splits(&spec).unwrap_err().to_string();
    assert!(
        e.contains("data_batch_3.bin") && e.contains("truncated"),
        "{e}"
    );
    let mut bad = cifar_batch(2);
    bad[cifar::RECORD] = 12;
    std::fs::write(&batch, bad).unwrap();
    let e = vae::data::load_splits(&spec).unwrap_err().to_string();
    assert!(e.contains("label 12"), "{e}");
    std::fs::remove_file(&batch).unwrap();
    let e = vae::data::load_splits(&spec).unwrap_err().to_string();
    assert!(e.contains("data_batch_3.bin"), "{e}");
}

#[test]
fn attribute_tables_in_celeba_and_csv_form() {
    let celeba = "3\n5_o_Clock_Shadow Smiling Male\n\
                  000001.jpg -1  1 -1\n000002.jpg  1 -1  1\n000003.jpg -1  1  1\n";
    let t = attributes::parse(celeba).unwrap();
    assert_eq!(t.names, ["5_o_Clock_Shadow", "Smiling", "Male"]);
    let files = [
        Path::new("img_align_celeba/000003.jpg"),
        Path::new("000002.jpg"),
    ];
    assert_eq!(t.flags_for("Smiling", files).unwrap(), [true, false]);
    assert_eq!(t.flags_for("Male", files).unwrap(), [true, true]);
    let csv = "file,big,left\nred/1.png,1,0\nred/2.png,false,yes\n";
    let t = attributes::parse(csv).unwrap();
    assert_eq!(
        t.flags_for("left", [Path::new("red/1.png"), Path::new("red/2.png")])
            .unwrap(),
        [false, true]
    );

    let err = |text: &str| attributes::parse(text).unwrap_err();
    assert!(err("4\nA B\nx.jpg 1 -1\n").contains("says 4 images but 1 rows"));
    assert!(err("1\nA B\nx.jpg 1\n").contains("1 values for 2 attributes"));
    assert!(err("1\nA\nx.jpg 2\n").contains("not 1 or -1"));
    assert!(err("2\nA\nx.jpg 1\nx.jpg 1\n").contains("appears twice"));
    assert!(err("file,a\nx.png,maybe\n").contains("a is \"maybe\""));
    assert!(err("file,a,b\nx.png,1\n").contains("line 2"));
    assert!(err("file,a\n").contains("no rows"));
    let e = t.column("Smiling").unwrap_err().to_string();
    assert!(e.contains("big, left"), "{e}");
    let e = t
        .flags_for("big", [Path::new("red/1.png"), Path::new("blue/9.png")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("1 of 2 images") && e.contains("blue/9.png"),
        "{e}"
    );
}

//! The built-in shapes grid (dSprites' factors, drawn on the fly), the dSprites .npz loader,
//! and training the conv model on 64x64 shapes.

use std::sync::Arc;
use vae::data::dsprites::Dsprites;
use vae::data::factors::{FactorSource, TEST_IMAGES, render_grid, split};
use vae::data::shapes::{SIZE, Shapes};

fn image(classes: [usize; 6]) -> Vec<f32> {
    let s = Shapes;
    render_grid(&s, &[s.index_of(&classes)])
}

/// Pixel count and centre of mass (column, row).
fn moments(img: &[f32]) -> (f64, f64, f64) {
    let (mut n, mut x, mut y) = (0.0, 0.0, 0.0);
    for (i, &p) in img.iter().enumerate() {
        let p = p as f64;
        n += p;
        x += p * (i % SIZE) as f64;
        y += p * (i / SIZE) as f64;
    }
    (n, x / n, y / n)
}

#[test]
fn the_grid_is_dsprites_grid_in_dsprites_order() {
    let s = Shapes;
    assert_eq!(s.len(), 737_280);
    assert_eq!(s.factor_sizes(), [1, 3, 6, 40, 32, 32]);
    // dSprites' latents_bases: [737280, 245760, 40960, 1024, 32, 1].
    assert_eq!(s.index_of(&[0, 1, 0, 0, 0, 0]), 245_760);
    assert_eq!(s.index_of(&[0, 0, 1, 0, 0, 0]), 40_960);
    assert_eq!(s.index_of(&[0, 0, 0, 1, 0, 0]), 1_024);
    assert_eq!(s.index_of(&[0, 0, 0, 0, 1, 0]), 32);
    for index in [0, 1, 12_345, 500_000, 737_279] {
        assert_eq!(s.index_of(&s.classes(index)), index);
    }
    let last = s.values(737_279);
    assert_eq!(last[1], 3.0, "shapes are 1, 2, 3 as in dSprites");
    assert_eq!(last[2], 1.0);
    assert!(
        (last[3] - 2.0 * std::f64::consts::PI).abs() < 1e-12,
        "both ends of the angle range"
    );
    assert_eq!((last[4], last[5]), (1.0, 1.0));
    assert_eq!(s.values(0)[2], 0.5);
}

#[test]
fn images_are_binary_deterministic_and_follow_their_factors() {
    let base = [0, 0, 5, 0, 16, 16];
    let img = image(base);
    assert_eq!(img, image(base), "the same index draws the same image");
    assert!(img.iter().all(|&p| p == 0.0 || p == 1.0));
    let (area, cx, cy) = moments(&img);
    assert!(
        area > 200.0,
        "a full-size square covers about 18x18 pixels: {area}"
    );
    // Position class 16 of 32 puts the centre at 14.5 + 35 * 16 / 31 pixels.
    let centre = 14.5 + 35.0 * 16.0 / 31.0 - 0.5;
    assert!(
        (cx - centre).abs() < 1.0 && (cy - centre).abs() < 1.0,
        "{cx} {cy}"
    );

    // Position x moves the sprite right, position y moves it down, each alone.
    let (_, left, row) = moments(&image([0, 0, 5, 0, 0, 16]));
    let (_, right, row2) = moments(&image([0, 0, 5, 0, 31, 16]));
    assert!(
        right - left > 30.0 && (row - row2).abs() < 0.5,
        "{left} {right}"
    );
    let (_, col, top) = moments(&image([0, 0, 5, 0, 16, 0]));
    let (_, col2, bottom) = moments(&image([0, 0, 5, 0, 16, 31]));
    assert!(
        bottom - top > 30.0 && (col - col2).abs() < 0.5,
        "{top} {bottom}"
    );

    // Scale 0.5 to 1 grows the area about four times; rotation keeps it.
    let (small, _, _) = moments(&image([0, 0, 0, 0, 16, 16]));
    assert!((3.2..4.8).contains(&(area / small)), "{area} / {small}");
    let (turned, _, _) = moments(&image([0, 0, 5, 5, 16, 16]));
    assert!((turned / area - 1.0).abs() < 0.1, "{turned} vs {area}");
    assert_ne!(
        image([0, 0, 5, 5, 16, 16]),
        img,
        "orientation changes the image"
    );
    // Orientation's first and last values are 0 and 2 pi: the same picture.
    assert_eq!(image([0, 2, 5, 0, 16, 16]), image([0, 2, 5, 39, 16, 16]));

    // The three shapes differ, and every sprite stays inside the frame.
    let shapes: Vec<Vec<f32>> = (0..3).map(|s| image([0, s, 5, 7, 16, 16])).collect();
    assert!(shapes[0] != shapes[1] && shapes[1] != shapes[2] && shapes[0] != shapes[2]);
    for corner in [
        [0, 0, 5, 5, 0, 0],
        [0, 2, 5, 13, 31, 31],
        [0, 1, 5, 10, 0, 31],
    ] {
        let img = image(corner);
        let edge = |i: usize| {
            let (row, col) = (i / SIZE, i % SIZE);
            row == 0 || row == SIZE - 1 || col == 0 || col == SIZE - 1
        };
        assert!(
            img.iter().enumerate().all(|(i, &p)| p == 0.0 || !edge(i)),
            "{corner:?} touches the frame"
        );
    }
}

#[test]
fn the_split_is_fixed_disjoint_and_drawn_on_demand() {
    let (train, test) = split(Arc::new(Shapes));
    assert_eq!(
        (train.len(), test.len()),
        (737_280 - TEST_IMAGES, TEST_IMAGES)
    );
    assert!(
        train.is_generated() && train.images.is_empty(),
        "the training split is never held"
    );
    assert!(!test.is_generated() && test.images.len() == TEST_IMAGES * SIZE * SIZE);
    let mut seen = std::collections::HashSet::new();
    let tf = test.factors.as_ref().unwrap();
    let trf = train.factors.as_ref().unwrap();
    seen.extend(tf.indices.iter().copied());
    assert!(
        trf.indices.iter().all(|i| !seen.contains(i)),
        "train and test overlap"
    );
    // A batch drawn from the training split is exactly the grid's images, with matching labels.
    let batch = train.gather(&[0, 5, 9]).unwrap();
    let expected = render_grid(&Shapes, &[0, 5, 9].map(|i| trf.indices[i] as usize));
    assert_eq!(batch, expected);
    assert_eq!(
        train.factor_classes(5).unwrap()[1],
        train.labels[5] as usize
    );
    // The shuffled order makes the first images a fair sample: all three shapes, about equally.
    let mut counts = [0usize; 3];
    for &l in &train.labels[..3_000] {
        counts[l as usize] += 1;
    }
    assert!(
        counts.iter().all(|&c| (850..1150).contains(&c)),
        "{counts:?}"
    );
    let (again, _) = split(Arc::new(Shapes));
    assert_eq!(
        again.factors.unwrap().indices[..100],
        trf.indices[..100],
        "the split is fixed"
    );
}

/// Writes a dSprites-format .npz with a cut-down grid of `sizes` whose images are the built-in
/// shapes at the same classes.
fn write_npz(path: &std::path::Path, sizes: [usize; 6], order_ok: bool, pixel: u8) {
    use ndarray::{Array2, Array3};
    let n: usize = sizes.iter().product();
    let mut classes = Array2::<i64>::zeros((n, 6));
    let mut values = Array2::<f64>::zeros((n, 6));
    let mut imgs = Array3::<u8>::zeros((n, SIZE, SIZE));
    let s = Shapes;
    for i in 0..n {
        let mut rest = i;
        let mut c = [0usize; 6];
        for f in (0..6).rev() {
            c[f] = rest % sizes[f];
            rest /= sizes[f];
        }
        if !order_ok && i == 1 {
            c.swap(4, 5);
        }
        for f in 0..6 {
            classes[[i, f]] = c[f] as i64;
            values[[i, f]] = s.factor_value(f, c[f]);
        }
        let img = render_grid(&s, &[s.index_of(&c)]);
        for (p, v) in imgs.as_slice_mut().unwrap()[i * SIZE * SIZE..(i + 1) * SIZE * SIZE]
            .iter_mut()
            .zip(img)
        {
            *p = v as u8 * pixel;
        }
    }
    let mut npz = ndarray_npy::NpzWriter::new_compressed(std::fs::File::create(path).unwrap());
    npz.add_array("imgs", &imgs).unwrap();
    npz.add_array("latents_classes", &classes).unwrap();
    npz.add_array("latents_values", &values).unwrap();
    npz.finish().unwrap();
}

#[test]
fn the_dsprites_file_loads_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join(vae::data::dsprites::FILE_NAME);
    let sizes = [1, 3, 2, 2, 2, 2];
    write_npz(&good, sizes, true, 1);
    let d = Dsprites::open(&good).unwrap();
    assert_eq!(d.factor_sizes(), sizes);
    assert_eq!(d.len(), 48);
    assert_eq!(d.factor_value(1, 2), 3.0);
    let s = Shapes;
    let c = d.classes(37);
    assert_eq!(render_grid(&d, &[37]), render_grid(&s, &[s.index_of(&c)]));
    // A folder holding the file is found too.
    assert_eq!(Dsprites::locate(Some(dir.path())).unwrap(), good);

    let err = |path: &std::path::Path| Dsprites::open(path).unwrap_err().to_string();
    let shuffled = dir.path().join("shuffled.npz");
    write_npz(&shuffled, sizes, false, 1);
    assert!(
        err(&shuffled).contains("not in the original order"),
        "{}",
        err(&shuffled)
    );
    let grey = dir.path().join("grey.npz");
    write_npz(&grey, sizes, true, 255);
    assert!(err(&grey).contains("binary"), "{}", err(&grey));
    let junk = dir.path().join("junk.npz");
    std::fs::write(&junk, b"not a zip file at all").unwrap();
    assert!(err(&junk).contains("not a readable .npz"), "{}", err(&junk));
    let truncated = dir.path().join("truncated.npz");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(
        err(&truncated).starts_with(&truncated.display().to_string()),
        "{}",
        err(&truncated)
    );
    let missing = Dsprites::locate(None).unwrap_err().to_string();
    assert!(
        missing.contains("--data") && missing.contains("shapes"),
        "{missing}"
    );
}

#[test]
fn the_conv_model_trains_on_64x64_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let config = vae::TrainConfig {
        dataset: vae::data::DatasetKind::Shapes,
        channels: vec![8, 16, 32, 32],
        latent_dim: 6,
        limit: Some(1_000),
        batch_size: 32,
        lr: 2e-3,
        epochs: 2,
        ..vae::TrainConfig::for_arch(vae::model::Arch::Conv)
    };
    let summary = vae::train::train(&config, dir.path(), Default::default()).unwrap();
    let (first, last) = (&summary.epochs[0], &summary.epochs[1]);
    // 4096 pixels at p = 0.5 cost 2839 nats; 32 steps learn at least the empty background.
    assert!(first.test.total < 1_500.0, "{first:?}");
    assert!(last.test.total < first.test.total, "{first:?} -> {last:?}");
    let run = vae::run::Run::load(dir.path(), None).unwrap();
    assert_eq!((run.model_config.height, run.model_config.width), (64, 64));
}

//! The `vae` binary on your own pictures: a generated colour image folder trains with the CelebA
//! architecture, attributes move images, morphs run, weights export and import, and bad input
//! gets one-line errors. Also Fashion-MNIST classes as attributes, through the library.

use std::path::Path;
use std::process::{Command, Output};

fn vae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vae"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = vae(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_fails_with(args: &[&str], expected: &str) {
    let out = vae(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(err.contains(expected), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
}

/// Width and height of a picture file.
pub(crate) fn png_size(path: &Path) -> (u32, u32) {
    let img = image::open(path).unwrap();
    (img.width(), img.height())
}

#[test]
fn a_colour_folder_trains_the_celeba_architecture_and_every_command_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pictures");
    vae_testkit::image_folder(&data, 40);
    let d = data.to_str().unwrap();
    let run = dir.path().join("run");
    let r = run.to_str().unwrap();

    let info = ok(&[
        "data",
        "info",
        "--dataset",
        "folder",
        "--data",
        d,
        "--image-size",
        "32",
    ]);
    assert!(info.contains("108 images of 32x32x3, 3 classes"), "{info}");
    let bench = ok(&[
        "data",
        "bench",
        "--dataset",
        "folder",
        "--data",
        d,
        "--image-size",
        "32",
        "--passes",
        "2",
    ]);
    assert_eq!(bench.matches("108 images").count(), 2, "{bench}");

    ok(&[
        "train",
        "--dataset",
        "folder",
        "--data",
        d,
        "--image-size",
        "32",
        "--arch",
        "celeba",
        "--latent-dim",
        "16",
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--out",
        r,
    ]);
    let config = vae::TrainConfig::from_file(&run.join("config.toml")).unwrap();
    assert_eq!(config.loss, vae::model::loss::Reconstruction::Mse);
    assert_eq!(config.channels, [32, 64, 64, 64]);
    let model = std::fs::read_to_string(run.join("model.toml")).unwrap();
    assert!(model.contains("image_channels = 3"), "{model}");
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let losses: Vec<f64> = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["test_total"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert!(losses[2] < losses[0], "test loss should fall: {losses:?}");
    // Pictures are in colour.
    let samples = image::open(run.join("samples.png")).unwrap().to_rgb8();
    assert!(samples.pixels().any(|p| p[0] != p[1] || p[1] != p[2]));

    // The explorer serves a colour run; uploads, read as grey, are refused with a reason.
    let load = ok(&[
        "loadtest",
        r,
        "--requests",
        "40",
        "--clients",
        "2",
        "--json",
    ]);
    let load: serde_json::Value = serde_json::from_str(&load).unwrap();
    assert_eq!(load["errors"], 0);

    // Attributes from the CSV: the default picks images without the attribute.
    let table = data.join("attributes.csv");
    let out = ok(&[
        "arithmetic",
        r,
        "--attr",
        "big",
        "--attributes",
        table.to_str().unwrap(),
        "--rows",
        "3",
        "--strengths",
        "-1,0,1,2",
    ]);
    assert!(
        out.contains("attribute big:") && out.contains("with it"),
        "{out}"
    );
    let (w, h) = png_size(&run.join("arithmetic-big.png"));
    let cell = 32 * 3 + 2;
    assert_eq!((w, h), (5 * cell as u32 + 2, 3 * cell as u32 + 2));
    // Class names serve as attributes too.
    ok(&["arithmetic", r, "--attr", "red", "--images", "0,1"]);
    assert!(run.join("arithmetic-red.png").is_file());
    assert_fails_with(
        &[
            "arithmetic",
            r,
            "--attr",
            "tall",
            "--attributes",
            table.to_str().unwrap(),
        ],
        "no attribute \"tall\"",
    );
    assert_fails_with(&["arithmetic", r, "--attr", "purple"], "blue, green, red");
    assert_fails_with(
        &["arithmetic", r, "--attr", "red", "--images", "999"],
        "out of range",
    );
    let partial = dir.path().join("partial.csv");
    std::fs::write(&partial, "file,big\nred/0000.png,1\n").unwrap();
    assert_fails_with(
        &[
            "arithmetic",
            r,
            "--attr",
            "big",
            "--attributes",
            partial.to_str().unwrap(),
        ],
        "have no row in the attribute table",
    );

    // Morphing between a test image and a file.
    let file = data.join("blue/0001.jpg");
    ok(&[
        "morph",
        r,
        "--from",
        "0",
        "--to",
        file.to_str().unwrap(),
        "--steps",
        "5",
    ]);
    assert_eq!(png_size(&run.join("morph.png")).0, 7 * (32 * 3 + 2) + 2);
    assert_fails_with(
        &["morph", r, "--from", "0", "--to", "/no/such.png"],
        "cannot open",
    );

    // Export and import: the imported run decodes the same pictures.
    let st = dir.path().join("model.safetensors");
    ok(&["export", r, "--out", st.to_str().unwrap()]);
    let copy = dir.path().join("copy");
    ok(&[
        "import",
        st.to_str().unwrap(),
        "--out",
        copy.to_str().unwrap(),
    ]);
    ok(&["sample", r, "--n", "8", "--seed", "3"]);
    ok(&["sample", copy.to_str().unwrap(), "--n", "8", "--seed", "3"]);
    assert_eq!(
        std::fs::read(run.join("samples.png")).unwrap(),
        std::fs::read(copy.join("samples.png")).unwrap()
    );
    assert_fails_with(
        &[
            "import",
            st.to_str().unwrap(),
            "--out",
            copy.to_str().unwrap(),
        ],
        "already holds a run",
    );

    // Errors about the data.
    assert_fails_with(&["train", "--dataset", "folder"], "needs --data DIR");
    assert_fails_with(
        &[
            "train",
            "--dataset",
            "folder",
            "--data",
            d,
            "--image-size",
            "1",
        ],
        "--image-size must be 4 to 1024",
    );
    assert_fails_with(&["data", "fetch", "cifar10"], "cifar-10-binary.tar.gz");
    assert_fails_with(
        &["data", "info", "--dataset", "cifar10", "--data", d],
        "test_batch.bin",
    );
}

#[test]
fn pytorch_examples_weights_import_into_a_run() {
    let data = vae_testkit::fashion_mnist_dir();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("imported");
    let pt = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vae/tests/fixtures/pytorch-vae/vae.pt");
    ok(&[
        "import",
        pt.to_str().unwrap(),
        "--pytorch",
        "--out",
        run.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let eval = ok(&["eval", run.to_str().unwrap(), "--iw-samples", "0", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&eval).unwrap();
    let expected = {
        let text = std::fs::read_to_string(pt.with_file_name("expected.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["test_loss_at_mean"]
            .as_f64()
            .unwrap()
    };
    let at_mean = json["loss_at_mean"].as_f64().unwrap();
    assert!((at_mean - expected).abs() < 1e-3, "{at_mean} vs {expected}");
    let junk = dir.path().join("junk.pt");
    std::fs::write(&junk, b"junk").unwrap();
    assert_fails_with(
        &[
            "import",
            junk.to_str().unwrap(),
            "--pytorch",
            "--out",
            dir.path().join("x").to_str().unwrap(),
        ],
        "not a readable PyTorch state dict",
    );
}

#[test]
fn fashion_mnist_classes_work_as_attributes() {
    use vae::arithmetic::{attribute_flags, attribute_vector};
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let config = vae::TrainConfig {
        latent_dim: 8,
        ..vae_testkit::small_config(6_000, 3)
    };
    vae::train::train(&config, &run_dir, vae::train::TrainOptions::default()).unwrap();
    let run = vae::run::Run::load(&run_dir, None).unwrap();
    let test = run.test_data().unwrap();
    let z = run.encode(&test).unwrap().z_mean;
    let latent = 8;
    let coat = attribute_flags(&test, "Coat", None).unwrap();
    assert_eq!(coat.iter().filter(|&&f| f).count(), 1000);
    let v = attribute_vector("Coat", &z, latent, &coat).unwrap();
    assert_eq!((v.with, v.without), (1000, 9000));
    // Moving shirts along the Coat vector and re-encoding the decoded pictures lands nearer the
    // coats' mean than the shirts started: the decoder drew something more coat-like.
    let shirts: Vec<usize> = (0..test.len())
        .filter(|&i| test.labels[i] == 6)
        .take(50)
        .collect();
    let coat_mean: Vec<f32> = {
        let mut m = vec![0f32; latent];
        for i in (0..test.len()).filter(|&i| coat[i]) {
            for d in 0..latent {
                m[d] += z[i * latent + d] / 1000.0;
            }
        }
        m
    };
    let dist = |a: &[f32]| {
        a.iter()
            .zip(&coat_mean)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f32>()
    };
    let mut moved = Vec::new();
    for &i in &shirts {
        moved.extend(
            z[i * latent..(i + 1) * latent]
                .iter()
                .zip(&v.vector)
                .map(|(a, b)| a + b),
        );
    }
    let images = run.decode(moved, None).unwrap();
    let back = run.encode_images(&images, None).unwrap().z_mean;
    let before: f32 = shirts
        .iter()
        .map(|&i| dist(&z[i * latent..(i + 1) * latent]))
        .sum();
    let after: f32 = back.chunks(latent).map(dist).sum();
    assert!(after < 0.7 * before, "before {before}, after {after}");
    let e = attribute_flags(&test, "Cardigan", None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("T-shirt/top, Trouser"), "{e}");
}

#[test]
fn the_explorer_draws_colour_runs_in_colour_and_refuses_grey_uploads_for_them() {
    use std::net::Ipv4Addr;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pictures");
    vae_testkit::image_folder(&data, 10);
    // An untrained colour model is enough to check what the server sends.
    let config = vae::TrainConfig {
        dataset: vae::data::DatasetKind::Folder,
        data: Some(data.clone()),
        image_size: 16,
        latent_dim: 4,
        ..vae::TrainConfig::for_arch(vae::model::Arch::ConvBn)
    };
    let model_config = config.model_config(16, 16, 3);
    let device = vae::device::parse_device("cpu").unwrap();
    let imported = vae::interop::Imported {
        model: vae::model::Vae::new(&model_config, &device),
        model_config,
        train_config: vae::PartialConfig::default(),
    };
    let run = dir.path().join("colour");
    vae::interop::write_run(&run, &imported, vae::PartialConfig::of(&config).unwrap()).unwrap();
    let state = vae_serve::load(&vae_serve::ServeOptions {
        runs: vec![run],
        host: Ipv4Addr::LOCALHOST.into(),
        port: 0,
        device: None,
        map_limit: 100,
    })
    .unwrap();
    let server =
        vae_serve::Server::start(state, (Ipv4Addr::LOCALHOST, 0).into(), Default::default())
            .unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = |p: &str| format!("http://{}/api/runs/colour{p}", server.addr());
    let mut r = agent
        .post(&url("/decode"))
        .header("content-type", "application/json")
        .send(r#"{"z": [[0, 0, 0, 0]]}"#)
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let url0 = body["images"][0].as_str().unwrap();
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        url0.trim_start_matches("data:image/png;base64,"),
    )
    .unwrap();
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height()), (16, 16));
    assert_eq!(img.color(), image::ColorType::Rgb8);
    let upload = std::fs::read(data.join("red/0000.png")).unwrap();
    let mut r = agent
        .post(&url("/encode"))
        .header("content-type", "image/png")
        .send(&upload[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(
        r.body_mut().read_to_string().unwrap().contains("colour"),
        "a reason is given"
    );
    server.stop();
}

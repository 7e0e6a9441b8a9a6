//! Weights in and out: the pytorch/examples VAE's state dict reproduces PyTorch's own test loss,
//! safetensors files round-trip, and bad files give clear errors.

use std::path::{Path, PathBuf};
use vae::data::{DataSpec, DatasetKind};
use vae::interop::{export_safetensors, import_pytorch_examples, import_safetensors};
use vae::model::loss::Reconstruction;
use vae::model::{Arch, ModelConfig, Vae};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch-vae")
        .join(name)
}

fn cpu() -> burn::prelude::Device {
    vae::device::parse_device("cpu").unwrap()
}

/// The loss PyTorch computed for the fixture (scripts/pytorch_vae_fixture.py).
fn pytorch_test_loss() -> f64 {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["test_loss_at_mean"].as_f64().unwrap()
}

fn fashion_test() -> vae::data::Dataset {
    let spec = DataSpec::new(
        DatasetKind::FashionMnist,
        Some(&vae_testkit::fashion_mnist_dir()),
    );
    vae::data::load_test(&spec).unwrap()
}

#[test]
fn pytorch_examples_state_dict_reproduces_its_test_loss() {
    let device = cpu();
    let imported = import_pytorch_examples(&fixture("vae.pt"), &device).unwrap();
    let m = &imported.model_config;
    assert_eq!(
        (m.arch, m.latent_dim, m.hidden.clone()),
        (Arch::Mlp, 20, vec![400])
    );
    assert_eq!((m.height, m.width, m.image_channels), (28, 28, 1));
    let test = fashion_test();
    assert_eq!(test.len(), 10_000);
    let loss =
        vae::eval::test_loss_at_mean(&imported.model, &test, Reconstruction::Bce, 1.0, &device)
            .unwrap();
    let expected = pytorch_test_loss();
    eprintln!("ours {:.6} PyTorch {expected:.6}", loss.total);
    assert!(
        (loss.total - expected).abs() < 1e-3,
        "ours {} vs PyTorch {expected}",
        loss.total
    );
}

#[test]
fn safetensors_round_trip_keeps_every_weight_and_uses_pytorch_names() {
    let device = cpu();
    let dir = tempfile::tempdir().unwrap();
    for &arch in Arch::ALL {
        let config = ModelConfig {
            height: 32,
            width: 32,
            image_channels: if arch == Arch::ConvBn { 3 } else { 1 },
            latent_dim: 6,
            ..ModelConfig::default_for(arch)
        };
        let model = Vae::new(&config, &device);
        let path = dir.path().join(format!("{arch:?}.safetensors"));
        export_safetensors(&model, &config, None, &path).unwrap();
        let back = import_safetensors(&path, &device).unwrap();
        assert_eq!(back.model_config, config);
        let x = burn::tensor::Tensor::<2>::random(
            [3, config.pixels()],
            burn::tensor::Distribution::Uniform(0.0, 1.0),
            &device,
        );
        let a = model.forward(x.clone(), None, None).logits.into_data();
        let b = back.model.forward(x, None, None).logits.into_data();
        a.assert_eq(&b, true);
        let names = vae::interop::tensor_names(&model).unwrap();
        let has = |n: &str| names.iter().any(|(name, _)| name == n);
        assert!(has("encoder.z_mean.weight"), "{names:?}");
        assert!(has("decoder.output.bias"), "{names:?}");
        // Dense weights are stored [out, in], as torch.nn.Linear holds them.
        let z_mean = names
            .iter()
            .find(|(n, _)| n == "encoder.z_mean.weight")
            .unwrap();
        assert_eq!(z_mean.1[0], 6);
        assert!(
            !names
                .iter()
                .any(|(n, _)| n.contains("Mlp") || n.contains("Conv("))
        );
        if arch == Arch::ConvBn {
            assert!(has("encoder.norms.0.running_mean"), "{names:?}");
            assert!(has("encoder.norms.0.weight"), "{names:?}");
        }
    }
}

#[test]
fn the_pytorch_names_in_the_docs_are_the_exported_names() {
    let device = cpu();
    let model = Vae::new(&ModelConfig::default_for(Arch::Mlp), &device);
    let docs = std::fs::read_to_string(crate::crate_file("../../docs/interop.md")).unwrap();
    for (name, shape) in vae::interop::tensor_names(&model).unwrap() {
        let line = format!("| `{name}` | {shape:?} |");
        assert!(docs.contains(&line), "docs/interop.md lacks {line}");
    }
}

#[test]
fn bad_weight_files_give_one_line_errors() {
    let device = cpu();
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"this is not a safetensors file").unwrap();
    let e = import_safetensors(&junk, &device).unwrap_err().to_string();
    assert!(
        e.contains("not a safetensors file") && !e.contains('\n'),
        "{e}"
    );

    // A file without our metadata: the model shape is unknown.
    let config = ModelConfig::default_for(Arch::Mlp);
    let model = Vae::new(&config, &device);
    let good = dir.path().join("good.safetensors");
    export_safetensors(&model, &config, None, &good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = import_safetensors(&truncated, &device)
        .unwrap_err()
        .to_string();
    assert!(
        !e.contains('\n') && e.contains("truncated.safetensors"),
        "{e}"
    );

    let e = import_pytorch_examples(&junk, &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("state dict") && !e.contains('\n'), "{e}");
    let e = import_pytorch_examples(&dir.path().join("missing.pt"), &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
}

//! `vae bench`: the FLOP counts behind the GFLOP/s figures, and a real (tiny) run with every
//! measurement present and plausible. Its one-line errors are in `tests/cli.rs`.

use std::process::Command;
use vae::model::Arch;
use vae_bench::{PICTURES_SIZE, forward_macs, iwae_flops_per_image, training_flops_per_image};

#[test]
fn flop_counts_are_the_arithmetic_in_the_readme() {
    let model = |arch: Arch| vae::TrainConfig::for_arch(arch).model_config(28, 28, 1);
    let mlp = model(Arch::Mlp);
    assert_eq!(
        forward_macs(&mlp),
        vec![313_600.0, 16_000.0, 8_000.0, 313_600.0]
    );
    assert_eq!(training_flops_per_image(&mlp), 3_280_000.0);
    let conv = model(Arch::Conv);
    assert_eq!(forward_macs(&conv).iter().sum::<f64>(), 14_536_704.0);
    assert_eq!(training_flops_per_image(&conv), 87_072_768.0);
    // IWAE: one encoder pass and K decoder passes.
    assert_eq!(
        iwae_flops_per_image(&mlp, 1000),
        2.0 * (313_600.0 + 16_000.0 + 1000.0 * (8_000.0 + 313_600.0))
    );
    // The CelebA VAE on 64x64 RGB: the final conv writes 3 channels.
    let celeba =
        vae::TrainConfig::for_arch(Arch::ConvBn).model_config(PICTURES_SIZE, PICTURES_SIZE, 3);
    let macs = forward_macs(&celeba);
    assert_eq!(macs.first(), Some(&(32.0 * 32.0 * 32.0 * 3.0 * 9.0)));
    assert_eq!(macs.last(), Some(&(64.0 * 64.0 * 32.0 * 9.0 * 3.0)));
    assert_eq!(training_flops_per_image(&celeba), 262_029_312.0);
}

/// `vae bench ARGS --threads 2 --json` on Fashion-MNIST: its report, or the test fails with its
/// stderr.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_vae"))
        .arg("bench")
        .args(args)
        .args(["--threads", "2", "--json", "--data"])
        .arg(vae_testkit::fashion_mnist_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn bench_times_the_iwae_bound() {
    let report = bench_json(&[
        "--task",
        "iwae",
        "--iw-samples",
        "50",
        "--iw-images",
        "20",
        "--warmup-steps",
        "4",
    ]);
    assert_eq!(report["task"], "iwae");
    assert_eq!(report["iw_samples"], 50);
    assert_eq!(report["train_images"], 20);
    assert!(report["decode_ms_batch1"].is_null());
    let ips = report["images_per_second"].as_f64().unwrap();
    assert!(ips.is_finite() && ips > 0.0, "{ips}");
    // The bound of a barely trained model: above the trained ~240, below an untrained decoder.
    let bound = report["test_loss"].as_f64().unwrap();
    assert!(bound > 150.0 && bound < 560.0, "IWAE bound {bound}");
}

#[test]
fn bench_measures_a_real_run() {
    let report = bench_json(&["--limit", "512"]);
    assert_eq!(report["train_images"], 512);
    assert_eq!(report["threads"], 2);
    for key in [
        "images_per_second",
        "seconds_per_epoch",
        "gflops",
        "decode_ms_batch1",
        "decode_ms_per_image_batch256",
        "peak_rss_mib",
    ] {
        let v = report[key].as_f64().unwrap();
        assert!(v.is_finite() && v > 0.0, "{key} = {v}");
    }
    // Four optimiser steps and a warm-up: far better than an untrained decoder (784 ln 2 = 543).
    let loss = report["test_loss"].as_f64().unwrap();
    assert!(loss > 100.0 && loss < 540.0, "test loss {loss}");
}

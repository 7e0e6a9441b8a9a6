//! `vae bench`: the FLOP counts behind the GFLOP/s figures, and a real (tiny) run with every
//! measurement present and plausible. Its one-line errors are in `tests/cli.rs`.

use std::process::Command;
use vae::bench::{BenchModel, forward_macs, training_flops_per_image};

#[test]
fn flop_counts_are_the_arithmetic_in_the_readme() {
    let model = |m: BenchModel| {
        let config = m.config();
        config.model_config(28, 28, 1)
    };
    let mlp = model(BenchModel::Mlp);
    assert_eq!(
        forward_macs(&mlp),
        vec![313_600.0, 16_000.0, 8_000.0, 313_600.0]
    );
    assert_eq!(training_flops_per_image(&mlp), 3_280_000.0);
    let conv = model(BenchModel::Conv);
    assert_eq!(forward_macs(&conv).iter().sum::<f64>(), 14_536_704.0);
    assert_eq!(training_flops_per_image(&conv), 87_072_768.0);
}

#[test]
fn bench_measures_a_real_run() {
    let data = vae_testkit::fashion_mnist_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_vae"))
        .args([
            "bench",
            "--limit",
            "512",
            "--threads",
            "2",
            "--json",
            "--data",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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

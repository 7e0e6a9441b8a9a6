//! Runs written by an earlier version (`tests/fixtures/runs-0.1`, made by the binary of commit
//! 7b51f5a, before the architecture registry) still load, evaluate, resume and import, with the
//! numbers that version gave: an MLP run, and a run of the architecture then named `celeba`
//! (now `conv-bn`, which its config and model files still call it).

use std::path::{Path, PathBuf};
use vae::Run;
use vae::eval::{EvalOptions, EvalReport, evaluate_run};
use vae::model::Arch;
use vae::train::{EpochMetrics, TrainOptions, train};

fn fixture(name: &str) -> PathBuf {
    crate::crate_file("tests/fixtures/runs-0.1").join(name)
}

/// A copy of a fixture run, to write into.
fn copy_run(name: &str, into: &Path) -> PathBuf {
    let to = into.join(name);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
    to
}

/// Equal up to the last bits that other CPU kernels (AVX2 against AVX-512) may change.
fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-4 * b.abs().max(1.0),
        "{what}: {a} now, {b} before"
    );
}

#[test]
fn runs_of_the_earlier_version_load_evaluate_and_resume_with_its_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, arch) in [("mlp", Arch::Mlp), ("celeba", Arch::ConvBn)] {
        let dir = copy_run(name, tmp.path());
        let run = Run::load(&dir, None).unwrap();
        assert_eq!(run.config.arch, arch, "{name}");
        assert_eq!(run.model_config.arch, arch, "{name}");

        let options = EvalOptions {
            split: vae::eval::Split::Test,
            iw_samples: 20,
            limit: Some(100),
            metrics: Default::default(),
            quality_samples: None,
            fidelity_samples: None,
        };
        let now = evaluate_run(&run, options).unwrap();
        let text = std::fs::read_to_string(fixture(&format!("{name}-eval.json"))).unwrap();
        let before: EvalReport = serde_json::from_str(&text).unwrap();
        // The MLP's grey-level Bernoulli has its ELBO and IWAE formulas; the squared error of
        // `celeba` neither.
        assert_eq!(now.elbo_or_formula().is_some(), name == "mlp");
        let pairs = [
            ("recon", Some(now.recon), Some(before.recon)),
            ("kl", Some(now.kl), Some(before.kl)),
            ("-(BCE+KL)", now.elbo_or_formula(), before.elbo_or_formula()),
            ("IW BCE", now.iw_bce, before.iw_bce),
            ("loss at z_mean", now.loss_at_mean, before.loss_at_mean),
        ];
        for (what, a, b) in pairs {
            assert_eq!(a.is_some(), b.is_some(), "{name} {what}");
            if let (Some(a), Some(b)) = (a, b) {
                close(a, b, &format!("{name} {what}"));
            }
        }
        assert_eq!(now.kl_per_dim.len(), before.kl_per_dim.len());
        for (d, (a, b)) in now.kl_per_dim.iter().zip(&before.kl_per_dim).enumerate() {
            close(*a, *b, &format!("{name} KL of dimension {d}"));
        }

        // Resumed from the earlier version's checkpoint, epoch 2 is the one it trained.
        let more = vae::TrainConfig {
            epochs: 2,
            ..run.config.clone()
        };
        let summary = train(&more, &dir, TrainOptions { resume: true }).unwrap();
        let before =
            vae::train::metrics::read(&fixture(&format!("{name}-resumed-metrics.jsonl"))).unwrap();
        let losses = |m: &EpochMetrics| [m.train.total, m.train.kl, m.test.total, m.test.kl];
        assert_eq!(summary.epochs.len(), 2);
        for (epoch, (a, b)) in summary.epochs.iter().zip(&before).enumerate() {
            for (i, (x, y)) in losses(a).iter().zip(losses(b)).enumerate() {
                close(*x, y, &format!("{name} epoch {} loss {i}", epoch + 1));
            }
        }

        // Its export imports into the same model: the same decoded images.
        let imported =
            vae::interop::import_safetensors(&fixture(&format!("{name}.safetensors")), &run.device)
                .unwrap();
        assert_eq!(imported.model_config, run.model_config, "{name}");
        let z: Vec<f32> = (0..3 * run.model_config.latent_dim)
            .map(|i| (i as f32 * 0.7).sin())
            .collect();
        let out = tmp.path().join(format!("{name}-imported"));
        vae::interop::write_run(
            &out,
            &imported,
            vae::PartialConfig::of(&run.config).unwrap(),
        )
        .unwrap();
        let again = Run::load(&out, None).unwrap();
        let original = Run::load(&fixture(name), None).unwrap();
        assert_eq!(
            again.decode(z.clone(), None).unwrap(),
            original.decode(z, None).unwrap(),
            "{name}"
        );
    }
}

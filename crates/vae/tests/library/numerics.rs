//! Numerical safety: divergence handling and gradient clipping.

use burn::module::Module;
use burn::nn::LinearConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use vae::config::{OnNan, TrainConfig};
use vae::optim::{clip_to_norm, squared_norm};
use vae::train::{TrainOptions, train};

fn read(t: Tensor<1>) -> f32 {
    t.into_data().try_to_vec::<f32>().unwrap()[0]
}

#[test]
fn the_joint_gradient_norm_is_clipped_and_nan_is_seen() {
    let device = Device::flex().autodiff();
    let layer = LinearConfig::new(4, 3).init(&device);
    let x = Tensor::<2>::ones([2, 4], &device).mul_scalar(10.0);
    let grads = layer.forward(x).sum().backward();
    let mut params = GradientsParams::from_grads(grads, &layer);
    let before = read(squared_norm(&layer, &params).unwrap()).sqrt();
    assert!(before > 1.0, "{before}");
    let grad_sq = squared_norm(&layer, &params).unwrap();
    clip_to_norm(&layer, &mut params, grad_sq, 0.5);
    let after = read(squared_norm(&layer, &params).unwrap()).sqrt();
    assert!((after - 0.5).abs() < 1e-4, "{after}");
    let grad_sq = squared_norm(&layer, &params).unwrap();
    clip_to_norm(&layer, &mut params, grad_sq, 10.0);
    assert!(
        (read(squared_norm(&layer, &params).unwrap()).sqrt() - 0.5).abs() < 1e-4,
        "no clipping below the limit"
    );

    let weight_id = layer.weight.id;
    let nan = Tensor::<2>::full([4, 3], f32::NAN, &Device::flex());
    params.remove::<2>(weight_id);
    params.register(weight_id, nan);
    assert!(read(squared_norm(&layer.valid(), &params).unwrap()).is_nan());
}

#[test]
fn rollback_lowers_the_learning_rate_until_training_is_finite() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        lr: 10.0,
        on_nan: OnNan::Rollback,
        ..vae_testkit::small_config(2_000, 2)
    };
    let summary = train(&config, dir.path(), TrainOptions::default()).unwrap();
    assert!(
        summary.lr < 10.0 && summary.lr >= 10.0 / 1000.0,
        "{}",
        summary.lr
    );
    assert_eq!(summary.epochs.len(), 2);
    assert!(
        summary
            .epochs
            .iter()
            .all(|m| m.lr == summary.lr && m.test.total.is_finite())
    );
    let saved = TrainConfig::from_file(&dir.path().join("config.toml")).unwrap();
    assert_eq!(
        saved.lr, summary.lr,
        "the lowered rate is what a resume continues with"
    );
}

#[test]
fn without_rollback_divergence_stops_at_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        lr: 10.0,
        ..vae_testkit::small_config(2_000, 2)
    };
    let message = train(&config, dir.path(), TrainOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("training diverged: the loss became NaN at epoch 1, step "),
        "{message}"
    );
    assert!(message.contains("no epoch had finished"), "{message}");
}

#[test]
fn gradient_clipping_reaches_the_optimiser() {
    let run = |grad_clip| {
        let dir = tempfile::tempdir().unwrap();
        let config = TrainConfig {
            grad_clip,
            ..vae_testkit::small_config(2_000, 1)
        };
        train(&config, dir.path(), TrainOptions::default())
            .unwrap()
            .epochs[0]
            .clone()
    };
    let free = run(None);
    // Clipped to 1e-9, gradients fall below Adam's epsilon (1e-8) and steps shrink to almost
    // nothing; the norm recorded is the one before clipping.
    let clipped = run(Some(1e-9));
    assert!(
        clipped.test.total > free.test.total + 50.0,
        "{clipped:?} vs {free:?}"
    );
    assert!(clipped.grad_norm > 1.0, "{clipped:?}");
}

/// A step that diverges as the last of its epoch leaves finite losses for its own step and
/// non-finite weights behind: with one step per epoch, no later step of the epoch would see
/// them. The epoch must be refused before it is saved, with or without rollback, and the run
/// folder must stay readable.
#[test]
fn a_divergence_at_the_last_step_of_an_epoch_is_not_saved() {
    let dir = tempfile::tempdir().unwrap();
    // 128 images in batches of 128: one step per epoch.
    let good = TrainConfig {
        batch_size: 128,
        ..vae_testkit::small_config(128, 1)
    };
    train(&good, dir.path(), TrainOptions::default()).unwrap();
    let checkpoint = std::fs::read(dir.path().join("checkpoint.bin")).unwrap();
    let weights = std::fs::read(dir.path().join("model.bpk")).unwrap();
    let metrics = std::fs::read(dir.path().join("metrics.jsonl")).unwrap();
    let resume = TrainOptions { resume: true };
    // 1e30 leaves finite weights whose test loss overflows; 1e39 overflows the weights.
    for lr in [1e30, 1e39] {
        for on_nan in [OnNan::Stop, OnNan::Rollback] {
            let bad = TrainConfig {
                lr,
                epochs: 2,
                on_nan,
                ..good.clone()
            };
            let message = train(&bad, dir.path(), resume).unwrap_err().to_string();
            assert!(
                message.starts_with("training diverged: ")
                    && message.contains(" at epoch 2, step 1;")
                    && message.contains("the checkpoint of epoch 1 in"),
                "lr {lr}, {on_nan:?}: {message}"
            );
            for (file, before) in [
                ("checkpoint.bin", &checkpoint),
                ("model.bpk", &weights),
                ("metrics.jsonl", &metrics),
            ] {
                assert_eq!(
                    &std::fs::read(dir.path().join(file)).unwrap(),
                    before,
                    "lr {lr}, {on_nan:?}: {file} changed"
                );
            }
            // The rollbacks' lowered rate is written to config.toml; the next case sets its own.
        }
    }
    // The run still resumes.
    let more = TrainConfig { epochs: 2, ..good };
    assert_eq!(train(&more, dir.path(), resume).unwrap().epochs.len(), 2);
}

/// Records the steps at which training read its losses (each `step` call follows a read that
/// found them finite) and the steps that ended (one stop question after each, but the last).
#[derive(Default)]
struct Reads {
    finite: Vec<usize>,
    ended: usize,
}

impl vae::train::Progress for Reads {
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {
        *self = Reads::default();
    }

    fn step(&mut self, steps: usize, _mean_loss: f64, _images_per_second: f64) {
        self.finite.push(steps);
    }

    fn stop_requested(&mut self) -> bool {
        self.ended += 1;
        false
    }
}

/// A NaN inside a stretch of steps read together (every 64 steps or half a second): the
/// message names the step where it appeared, which lies inside the stretch, not the step of
/// the read; nothing of the diverged epoch is saved (the files are those of epoch 1, byte for
/// byte); and with `--lr-decay` the messages give the learning rate in force, not the base rate.
#[test]
fn a_nan_inside_a_stretch_of_steps_names_its_step_and_saves_nothing_of_the_epoch() {
    use vae::run::{CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, MODEL_FILE};
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        lr_decay: 0.5,
        batch_size: 16,
        ..vae_testkit::small_config(4_000, 1)
    };
    train(&config, dir.path(), TrainOptions::default()).unwrap();
    let files = [CHECKPOINT_FILE, METRICS_FILE, MODEL_FILE];
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    let before: Vec<Vec<u8>> = files.iter().map(|f| read(f)).collect();

    // Epoch 2 at a base rate of 1000, 500 in force, diverges within its 250 steps.
    let diverging = TrainConfig {
        lr: 1000.0,
        epochs: 2,
        ..config.clone()
    };
    let mut reads = Reads::default();
    let message = vae::train::train_with(
        &diverging,
        dir.path(),
        TrainOptions { resume: true },
        &mut reads,
    )
    .unwrap_err()
    .to_string();
    let step: usize = message
        .strip_prefix("training diverged: ")
        .and_then(|m| m.split(" at epoch 2, step ").nth(1))
        .and_then(|m| m.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{message}"));
    // The read that found the NaN came after `ended` steps, at step `ended + 1`; the one before
    // it found everything finite. The step named lies between them. Losses are read every 64
    // steps (or half a second), and this NaN appears in the first steps of a stretch: the step
    // named is that of the NaN, not that of its read.
    let found_at = reads.ended + 1;
    let last_finite = reads.finite.last().copied().unwrap_or(0);
    let context = format!(
        "NaN named at step {step}, read at step {found_at}, reads before: {:?}",
        reads.finite
    );
    assert!(last_finite < step && step <= found_at, "{context}");
    if found_at - last_finite >= 8 {
        assert!(step < found_at, "{context}");
    }
    assert!(
        message.contains("the checkpoint of epoch 1")
            && message.contains(
                "lower --lr (the learning rate was 500 (the base rate 1000 after 1 epoch of --lr-decay 0.5))"
            ),
        "{message}"
    );
    let after: Vec<Vec<u8>> = files.iter().map(|f| read(f)).collect();
    assert!(
        before == after,
        "the diverged epoch changed the run's files"
    );

    // Rolled back, epoch 2 starts again at a tenth of the rate in force.
    let mut lines = Vec::new();
    struct Lines<'a>(&'a mut Vec<String>);
    impl vae::train::Progress for Lines<'_> {
        fn message(&mut self, text: &str) {
            self.0.push(text.to_string());
        }
    }
    let rolled = TrainConfig {
        on_nan: OnNan::Rollback,
        ..diverging
    };
    let _ = vae::train::train_with(
        &rolled,
        dir.path(),
        TrainOptions { resume: true },
        &mut Lines(&mut lines),
    );
    let first = lines.first().expect("a rollback line");
    assert!(
        first.contains(
            "rolling back to epoch 1 with learning rate 50 (the base rate 100 after 1 epoch of --lr-decay 0.5) (rollback 1 of"
        ),
        "{first}"
    );
    let saved = TrainConfig::from_file(&dir.path().join(CONFIG_FILE)).unwrap();
    assert!(saved.lr < 1000.0, "{}", saved.lr);
}

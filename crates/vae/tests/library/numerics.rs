//! Numerical safety: divergence handling and gradient clipping.

use burn::module::Module;
use burn::nn::LinearConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use vae::config::{OnNan, TrainConfig};
use vae::train::gradients::{clip_to_norm, squared_norm};
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
    clip_to_norm(&layer, &mut params, before as f64, 0.5);
    let after = read(squared_norm(&layer, &params).unwrap()).sqrt();
    assert!((after - 0.5).abs() < 1e-4, "{after}");
    clip_to_norm(&layer, &mut params, after as f64, 10.0);
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
        lr: Some(10.0),
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
        saved.lr,
        Some(summary.lr),
        "the lowered rate is what a resume continues with"
    );
}

#[test]
fn without_rollback_divergence_stops_at_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        lr: Some(10.0),
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

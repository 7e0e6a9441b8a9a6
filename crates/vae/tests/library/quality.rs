//! Numbers that can be compared with papers: what a figure is called follows from the model,
//! binarizations are fixed where they must be, the IWAE estimate meets an exact likelihood,
//! the warm-up schedule, active units and sweep columns have known answers, and early stopping
//! keeps the best epoch.

use burn::prelude::*;
use vae::config::TrainConfig;
use vae::data::{Binarize, Dataset, DatasetKind, binarize_images};
use vae::device::{parse_device, to_device, to_host};
use vae::eval::{EvalReport, evaluate, iwae};
use vae::latent::Latents;
use vae::model::loss::{Reconstruction, reconstruction_loss};
use vae::model::{Arch, ModelConfig, Prior, Vae};
use vae::train::{EpochMetrics, TrainOptions, train};

fn tiny_model(height: usize, width: usize, latent_dim: usize, seed: u64) -> (Vae, Device) {
    let device = parse_device("cpu").unwrap();
    let config = ModelConfig {
        arch: Arch::Mlp,
        latent_dim,
        hidden: vec![16],
        channels: vec![],
        autoencoder: false,
        height,
        width,
        image_channels: 1,
        conditioning: None,
        prior: Prior::Standard,
        pseudo_inputs: 0,
    };
    (Vae::init(&config, &device, seed), device)
}

fn grey_images(n: usize, pixels: usize) -> Vec<f32> {
    (0..n * pixels)
        .map(|i| ((i * 37) % 101) as f32 / 100.0)
        .collect()
}

#[test]
fn only_normalised_models_report_likelihoods() {
    let grey = TrainConfig::for_arch(Arch::Mlp);
    assert!(
        !grey.is_density(),
        "Bernoulli on grey levels bounds no density"
    );
    let shapes = TrainConfig {
        dataset: DatasetKind::Shapes,
        ..TrainConfig::for_arch(Arch::Mlp)
    };
    assert!(shapes.is_density(), "shapes are binary already");
    for (loss, binarize, density) in [
        (Reconstruction::Bce, Binarize::Dynamic, true),
        (Reconstruction::Bce, Binarize::Fixed, true),
        (Reconstruction::Cb, Binarize::None, true),
        (Reconstruction::Mse, Binarize::Dynamic, false),
    ] {
        let c = TrainConfig {
            loss,
            binarize,
            ..TrainConfig::for_arch(Arch::Mlp)
        };
        assert_eq!(c.is_density(), density, "{loss:?} {binarize:?}");
    }

    let (model, device) = tiny_model(4, 4, 2, 1);
    let data = Dataset::stored(grey_images(20, 16), vec![0; 20], 4, 4, vec!["a".into()]);
    let as_grey = evaluate(&model, &data, Reconstruction::Bce, false, 10, &device, 3).unwrap();
    assert_eq!((as_grey.elbo, as_grey.nll_iw), (None, None));
    let (formula, iw) = (as_grey.neg_bce_kl.unwrap(), as_grey.iw_bce.unwrap());
    assert!(as_grey.is_grey_bce() && as_grey.elbo_name() == "-(BCE+KL)");
    let text = as_grey.to_string();
    assert!(
        text.contains("-(BCE+KL)")
            && text.contains("not bounds on log p(x)")
            && !text.contains("ELBO "),
        "{text}"
    );

    let as_density = evaluate(&model, &data, Reconstruction::Bce, true, 10, &device, 3).unwrap();
    assert_eq!(
        as_density.elbo,
        Some(formula),
        "the same number, named for what it is"
    );
    assert_eq!(as_density.nll_iw, Some(iw));
    assert_eq!((as_density.neg_bce_kl, as_density.iw_bce), (None, None));
    assert!(as_density.to_string().contains("nats/image"));

    let mse = evaluate(&model, &data, Reconstruction::Mse, false, 10, &device, 3).unwrap();
    assert!(mse.elbo_or_formula().is_none() && mse.iw_samples == 0);
}

/// Streamed training sets (here a folder of pictures, decoded as batches ask for them) are
/// binarized as they are gathered, each image the same wherever it is read and the same as
/// if it were held.
#[test]
fn fixed_binarization_covers_streamed_training_sets() {
    let dir = tempfile::tempdir().unwrap();
    vae_testkit::image_folder(dir.path(), 10);
    let config = TrainConfig {
        dataset: DatasetKind::Folder,
        data: Some(dir.path().to_path_buf()),
        image_size: 16,
        binarize: Binarize::Fixed,
        ..TrainConfig::for_arch(Arch::Mlp)
    };
    let train = config.load_data().unwrap().train;
    assert!(
        train.is_generated(),
        "a folder's training split is streamed"
    );
    let a = train.gather(&[3, 7, 11]).unwrap();
    assert!(a.iter().all(|&p| p == 0.0 || p == 1.0));
    let b = train.gather(&[11, 3]).unwrap();
    let p = train.pixels();
    assert_eq!(b[..p], a[2 * p..], "image 11 the same in any batch");
    assert_eq!(b[p..], a[..p]);

    let grey = TrainConfig {
        binarize: Binarize::None,
        ..config.clone()
    }
    .load_data()
    .unwrap()
    .train;
    let mut held = grey.gather(&[3, 7, 11]).unwrap();
    assert!(held.iter().any(|&p| p > 0.0 && p < 1.0), "grey backgrounds");
    binarize_images(&mut held, &[3, 7, 11], vae::rng::stream::TRAIN_BINARIZE);
    assert_eq!(held, a, "streamed and held images binarize alike");
}

/// Runs with different seeds are scored on the same binary test images, and so are runs with
/// different `--limit`s and evaluations of a part of the test set.
#[test]
fn the_binary_test_set_does_not_depend_on_the_run() {
    let base = TrainConfig {
        binarize: Binarize::Dynamic,
        ..vae_testkit::small_config(100, 1)
    };
    let test_of = |seed, limit| {
        TrainConfig {
            seed,
            limit: Some(limit),
            ..base.clone()
        }
        .load_data()
        .unwrap()
        .test
    };
    let a = test_of(1, 100);
    let b = test_of(2, 300);
    assert!(a.images.iter().all(|&p| p == 0.0 || p == 1.0));
    assert_eq!(a.images, b.images);
    let mut part = vae::data::load_test(&base.data_spec()).unwrap();
    part.truncate(50);
    base.prepare_test_set(&mut part).unwrap();
    assert_eq!(part.images, a.images[..50 * 784]);
}

/// `ln(2 pi)`.
pub(crate) const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Three binary 3x3 images and the exact mean `-log p(x)` over them of `model` (one latent
/// dimension): `log p(x) = log of the integral of p(x|z) p(z)` on a grid of 48,001 points over
/// [-12, 12], with `log_prior` giving `log p(z)`.
pub(crate) fn exact_nll(
    model: &Vae,
    device: &Device,
    log_prior: &dyn Fn(f64) -> f64,
) -> (Dataset, f64) {
    let images: Vec<f32> = [
        [1., 0., 1., 0., 1., 0., 1., 0., 1.],
        [0., 0., 0., 1., 1., 1., 0., 0., 0.],
        [1., 1., 1., 1., 1., 1., 1., 1., 1.],
    ]
    .concat();
    let n = 3;
    let (lo, hi, steps) = (-12.0f64, 12.0f64, 48_001usize);
    let dz = (hi - lo) / (steps - 1) as f64;
    let grid: Vec<f32> = (0..steps).map(|i| (lo + i as f64 * dz) as f32).collect();
    let logits = model.decode(to_device(grid.clone(), steps, 1, device), None);
    let mut exact = 0.0;
    for i in 0..n {
        let x: Vec<f32> = images[i * 9..(i + 1) * 9].repeat(steps);
        let recon = to_host(reconstruction_loss(
            Reconstruction::Bce,
            logits.clone(),
            to_device(x, steps, 9, device),
        ))
        .unwrap();
        let log_joint: Vec<f64> = grid
            .iter()
            .zip(&recon)
            .map(|(&z, &r)| -(r as f64) + log_prior(z as f64))
            .collect();
        let max = log_joint.iter().cloned().fold(f64::MIN, f64::max);
        let log_p = max + (log_joint.iter().map(|v| (v - max).exp()).sum::<f64>() * dz).ln();
        exact -= log_p / n as f64;
    }
    let data = Dataset::stored(images, vec![0; n], 3, 3, vec!["a".into()]);
    (data, exact)
}

/// On a model with one latent dimension, log p(x) = log of the integral of p(x|z) N(z; 0, 1)
/// is computed by quadrature on a fine grid; the IWAE estimate with K = 5000 must meet it
/// and the ELBO must lie below it.
#[test]
fn the_iwae_estimate_meets_the_exact_likelihood() {
    let (model, device) = tiny_model(3, 3, 1, 5);
    let (data, exact) = exact_nll(&model, &device, &|z| -0.5 * z * z - 0.5 * LN_2PI);
    let nll = iwae::nll(&model, &data, Reconstruction::Bce, 5000, &device, 11).unwrap();
    assert!((nll - exact).abs() < 0.01, "IWAE {nll} vs exact {exact}");
    let report = evaluate(&model, &data, Reconstruction::Bce, true, 0, &device, 11).unwrap();
    let elbo = report.elbo.unwrap();
    assert!(
        -elbo > exact - 0.05,
        "-ELBO {} below -log p(x) {exact}",
        -elbo
    );
}

/// The bound as the evaluation computes it, in passes of 5,000 decoded rows split between the
/// shards, equals the bound written out image by image from the same draws: K = 1000 puts all
/// three images in one pass, K = 12,000 spreads each image over three passes (K = 5000, one
/// image a pass, is the case above). So it does with the loss taken on the device, as on a GPU.
/// 16x16 images make each shard decode its part of a pass in several cache-sized blocks.
#[test]
fn the_iwae_bound_is_the_same_whatever_the_passes() {
    for side in [3, 16] {
        the_iwae_bound_is_the_same_whatever_the_passes_for(side);
    }
}

fn the_iwae_bound_is_the_same_whatever_the_passes_for(side: usize) {
    use vae::rng::{normal_noise, rng, stream};
    let (model, device) = tiny_model(side, side, 2, 5);
    let (n, pixels) = (3, side * side);
    let images = grey_images(n, pixels);
    let data = Dataset::stored(images.clone(), vec![0; n], side, side, vec!["a".into()]);
    for k in [1_000, 12_000] {
        let passes = iwae::nll(&model, &data, Reconstruction::Bce, k, &device, 11).unwrap();
        let loss_side = iwae::LossSide::Device;
        let on_device = iwae::nll_with(
            &model,
            &data,
            Reconstruction::Bce,
            k,
            &device,
            11,
            loss_side,
        )
        .unwrap();
        let mut noise = rng(11, stream::IWAE_NOISE);
        let mut by_hand = 0.0;
        for i in 0..n {
            let x = &images[i * pixels..(i + 1) * pixels];
            let posterior = model.encode(to_device(x.to_vec(), 1, pixels, &device), None);
            let m = to_host(posterior.z_mean().clone()).unwrap();
            let lv = to_host(posterior.z_log_var().unwrap().clone()).unwrap();
            let mut z = Vec::with_capacity(2 * k);
            let mut log_w = Vec::with_capacity(k);
            for _ in 0..k {
                let eps = normal_noise(&mut noise, 2);
                let mut w = 0f64;
                for d in 0..2 {
                    let zd = m[d] + (0.5 * lv[d]).exp() * eps[d];
                    z.push(zd);
                    // log N(z; 0, 1) - log N(z; m, s^2), the constants cancelling.
                    w += 0.5 * (-(zd as f64).powi(2) + (eps[d] as f64).powi(2) + lv[d] as f64);
                }
                log_w.push(w);
            }
            let logits = model.decode(to_device(z, k, 2, &device), None);
            let recon = to_host(reconstruction_loss(
                Reconstruction::Bce,
                logits,
                to_device(x.repeat(k), k, pixels, &device),
            ))
            .unwrap();
            let log_w: Vec<f64> = log_w
                .iter()
                .zip(&recon)
                .map(|(w, r)| w - *r as f64)
                .collect();
            let max = log_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + log_w.iter().map(|w| (w - max).exp()).sum::<f64>().ln();
            by_hand -= (lse - (k as f64).ln()) / n as f64;
        }
        for (place, bound) in [("host", passes), ("device", on_device)] {
            assert!(
                (bound - by_hand).abs() < 1e-5 * by_hand.abs(),
                "{side}x{side}, K = {k}: {bound} in passes, loss on the {place}, vs {by_hand} image by image"
            );
        }
    }
}

#[test]
fn kl_warmup_rises_linearly_then_holds() {
    use vae::train::epoch::beta_at;
    let config = TrainConfig {
        beta: 4.0,
        kl_warmup_epochs: 2,
        ..TrainConfig::for_arch(Arch::Mlp)
    };
    let steps = 10;
    assert_eq!(beta_at(&config, 0, steps), 0.0);
    assert_eq!(beta_at(&config, 5, steps), 1.0);
    assert_eq!(beta_at(&config, 10, steps), 2.0);
    assert_eq!(beta_at(&config, 20, steps), 4.0);
    assert_eq!(beta_at(&config, 35, steps), 4.0);
    let none = TrainConfig {
        kl_warmup_epochs: 0,
        ..config
    };
    assert_eq!(beta_at(&none, 0, steps), 4.0);
}

/// The metrics of a warm-up run say which beta each total used.
#[test]
fn metrics_log_the_beta_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        beta: 2.0,
        kl_warmup_epochs: 2,
        batch_size: 100,
        ..vae_testkit::small_config(1_000, 3)
    };
    let summary = train(&config, dir.path(), TrainOptions::default()).unwrap();
    let betas: Vec<(Option<f64>, Option<f64>)> = summary
        .epochs
        .iter()
        .map(|m| (m.train_beta, m.test_beta))
        .collect();
    // 10 steps per epoch: the last step of epoch 1 is step 9 of 20.
    assert_eq!(
        betas,
        [
            (Some(0.9), Some(2.0)),
            (Some(1.9), Some(2.0)),
            (Some(2.0), Some(2.0))
        ]
    );
    let saved = vae::train::metrics::read(&dir.path().join(vae::run::METRICS_FILE)).unwrap();
    assert_eq!(saved, summary.epochs);
    assert!(summary.epochs[0].summary(3).contains("at beta 0.900"));
    assert!(!summary.epochs[2].summary(3).contains("at beta"));
}

#[test]
fn active_units_are_the_dimensions_that_vary() {
    // Dimension 0 varies with variance 1, 1 with 0.0001, 2 with 0.04, 3 not at all.
    let n = 1000;
    let mut z_mean = Vec::new();
    for i in 0..n {
        let s = if i % 2 == 0 { 1.0 } else { -1.0 };
        z_mean.extend([s, 0.01 * s, 0.2 * s, 3.0]);
    }
    let mut latents = Latents::empty(4);
    latents.z_mean = z_mean;
    assert_eq!(latents.active_dims(), [0, 2]);
    assert_eq!(latents.active_units(), 2);
}

#[test]
fn kl_per_active_unit_sums_the_active_dimensions_only() {
    let report: EvalReport = serde_json::from_value(serde_json::json!({
        "elbo": null, "recon": 100.0, "kl": 12.0, "nll_iw": null, "iw_samples": 0,
        "active_units": 2, "active_dims": [0, 2], "latent_dim": 4,
        "kl_per_dim": [5.0, 0.5, 6.0, 0.5], "images": 10, "loss": "bce"
    }))
    .unwrap();
    // (5 + 6) / 2, not the total 12 over 2.
    assert_eq!(report.kl_per_active_dim(), Some(5.5));
}

/// A sweep reuses a run's evaluation only when it was made with the same settings.
#[test]
fn a_sweep_reevaluates_when_the_evaluation_settings_change() {
    use vae::eval::EvalOptions;
    use vae::sweep::{SweepOptions, sweep};
    let dir = tempfile::tempdir().unwrap();
    let eval = |iw_samples| EvalOptions {
        split: vae::eval::Split::Test,
        iw_samples,
        limit: Some(100),
        metrics: Default::default(),
        quality_samples: None,
        fidelity_samples: None,
    };
    let options = |iw| SweepOptions {
        betas: vec![1.0],
        out: dir.path().to_path_buf(),
        base: vae_testkit::small_config(256, 1),
        eval: eval(iw),
    };
    let fresh_evaluations = |o: &SweepOptions| {
        let mut fresh = Vec::new();
        let report = sweep(o, &mut vae::train::Quiet, |_, f| {
            fresh.push(f);
            Ok(())
        })
        .unwrap();
        (fresh, report.entries[0].eval.iw_samples)
    };
    assert_eq!(fresh_evaluations(&options(5)), (vec![true], 5));
    assert_eq!(fresh_evaluations(&options(5)), (vec![false], 5));
    assert_eq!(fresh_evaluations(&options(7)), (vec![true], 7));
}

/// Early stopping: a tiny training set overfits, the validation ELBO turns, the run stops
/// `patience` epochs after its best epoch and its weights are that epoch's, bit for bit; a
/// resumed run stays stopped.
#[test]
fn early_stopping_keeps_the_best_epoch() {
    let config = TrainConfig {
        validation: 1000,
        patience: Some(2),
        lr: 1e-2,
        batch_size: 10,
        ..vae_testkit::small_config(50, 60)
    };
    let dir = tempfile::tempdir().unwrap();
    let summary = train(&config, dir.path(), TrainOptions::default()).unwrap();
    let best = summary.best_epoch.unwrap();
    let last = summary.epochs.last().unwrap().epoch;
    assert!(last < 60, "the validation ELBO never turned");
    assert_eq!(last, best + 2);
    assert_eq!(EpochMetrics::best_epoch(&summary.epochs), Some(best));
    let valid = |e: usize| summary.epochs[e - 1].valid.unwrap().total;
    assert!(valid(last) >= valid(best) && valid(last - 1) >= valid(best));

    let replay = tempfile::tempdir().unwrap();
    let until_best = TrainConfig {
        epochs: best,
        patience: None,
        ..config.clone()
    };
    train(&until_best, replay.path(), TrainOptions::default()).unwrap();
    assert!(
        crate::training::fingerprint(dir.path()) == crate::training::fingerprint(replay.path()),
        "the run's weights are not those of its best epoch"
    );

    let resumed = train(
        &TrainConfig {
            epochs: 80,
            ..config.clone()
        },
        dir.path(),
        TrainOptions { resume: true },
    )
    .unwrap();
    assert_eq!(resumed.epochs.len(), last, "no epoch after the stop");
}

/// A validation loss that is not a number is never the best: a last NaN epoch must not take
/// over the best epoch's weights.
#[test]
fn a_nan_validation_loss_is_never_the_best_epoch() {
    use vae::model::loss::Loss;
    let epoch = |epoch: usize, valid: f64| EpochMetrics {
        epoch,
        train: Loss::default(),
        train_beta: None,
        train_samples: None,
        test: Loss::default(),
        test_beta: None,
        valid: Some(Loss {
            recon: valid,
            kl: 0.0,
            total: valid,
        }),
        seconds: 1.0,
        eval_seconds: 1.0,
        images_per_second: 1.0,
        grad_norm: 1.0,
        lr: 1e-3,
    };
    assert_eq!(
        EpochMetrics::best_epoch(&[epoch(1, 1.0), epoch(2, f64::NAN)]),
        Some(1)
    );
    assert_eq!(
        EpochMetrics::best_epoch(&[epoch(1, f64::NAN), epoch(2, 2.0), epoch(3, f64::INFINITY)]),
        Some(2)
    );
    assert_eq!(EpochMetrics::best_epoch(&[epoch(1, f64::NAN)]), None);
}

#[test]
fn impossible_validation_settings_are_refused() {
    let refused = |config: TrainConfig, words: &str| {
        let dir = tempfile::tempdir().unwrap();
        let e = train(&config, &dir.path().join("run"), TrainOptions::default()).unwrap_err();
        assert!(e.to_string().contains(words), "{e}");
        assert!(!dir.path().join("run").exists(), "nothing written");
    };
    let base = vae_testkit::small_config(100, 1);
    refused(
        TrainConfig {
            patience: Some(3),
            ..base.clone()
        },
        "add --validation",
    );
    refused(
        TrainConfig {
            validation: 60_000,
            ..base.clone()
        },
        "leaves no training images",
    );
    refused(
        TrainConfig {
            validation: 10,
            patience: Some(0),
            ..base
        },
        "--patience must be at least 1",
    );
}

/// Gaussian feature rows with a per-dimension scale, from a seeded stream.
fn feature_rows(n: usize, seed: u64, shift: f32) -> Vec<f32> {
    use vae::eval::classifier::FEATURES;
    let mut noise = vae::rng::rng(seed, 1);
    vae::rng::normal_noise(&mut noise, n * FEATURES)
        .chunks(FEATURES)
        .flat_map(|row| {
            row.iter()
                .enumerate()
                .map(|(d, v)| v * (1.0 + d as f32 / 16.0) + shift)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Two-dimensional feature sets (the other 62 features zero) whose covariances do not commute,
/// so that a wrong matrix square root (`sqrt(S_r) sqrt(S_g)` for `(S_r S_g)^(1/2)`, say) shows:
/// for 2x2 matrices `tr sqrt(M) = sqrt(tr M + 2 sqrt(det M))`, with `M = S_r S_g`.
#[test]
fn frechet_distance_has_its_closed_form_for_covariances_that_do_not_commute() {
    use vae::eval::classifier::FEATURES;
    use vae::eval::sample_quality::frechet_distance;
    // Rows of N(mean, L L^T) in the first two features.
    let rows = |l: [[f64; 2]; 2], mean: [f64; 2], seed: u64| -> Vec<f32> {
        let mut noise = vae::rng::rng(seed, 2);
        let e = vae::rng::normal_noise(&mut noise, 2 * 4000);
        e.chunks(2)
            .flat_map(|e| {
                let (a, b) = (e[0] as f64, e[1] as f64);
                let mut row = vec![0f32; FEATURES];
                row[0] = (mean[0] + l[0][0] * a) as f32;
                row[1] = (mean[1] + l[1][0] * a + l[1][1] * b) as f32;
                row
            })
            .collect()
    };
    // The sample mean and covariance of the first two features, in f64.
    let moments = |x: &[f32]| {
        let n = (x.len() / FEATURES) as f64;
        let col = |d: usize| x.iter().skip(d).step_by(FEATURES).map(|&v| v as f64);
        let m = [col(0).sum::<f64>() / n, col(1).sum::<f64>() / n];
        let c = |i: usize, j: usize| {
            col(i)
                .zip(col(j))
                .map(|(a, b)| (a - m[i]) * (b - m[j]))
                .sum::<f64>()
                / (n - 1.0)
        };
        (m, [[c(0, 0), c(0, 1)], [c(1, 0), c(1, 1)]])
    };
    let cases = [
        (
            [[1.4, 0.0], [0.7, 0.6]],
            [0.0, 0.0],
            [[1.0, 0.0], [-0.5, 1.6]],
            [0.3, -0.2],
        ),
        (
            [[2.0, 0.0], [1.9, 0.3]],
            [1.0, 0.0],
            [[0.5, 0.0], [-0.4, 0.2]],
            [0.0, 1.0],
        ),
        (
            [[1.0, 0.0], [0.0, 3.0]],
            [0.0, 0.0],
            [[2.0, 0.0], [1.5, 0.5]],
            [0.0, 0.0],
        ),
    ];
    for (case, (lr, mr, lg, mg)) in cases.into_iter().enumerate() {
        let (real, fake) = (
            rows(lr, mr, 2 * case as u64),
            rows(lg, mg, 2 * case as u64 + 1),
        );
        let ((mu_r, s_r), (mu_g, s_g)) = (moments(&real), moments(&fake));
        let product = [
            [
                s_r[0][0] * s_g[0][0] + s_r[0][1] * s_g[1][0],
                s_r[0][0] * s_g[0][1] + s_r[0][1] * s_g[1][1],
            ],
            [
                s_r[1][0] * s_g[0][0] + s_r[1][1] * s_g[1][0],
                s_r[1][0] * s_g[0][1] + s_r[1][1] * s_g[1][1],
            ],
        ];
        let commutator = product[0][1] - (s_g[0][0] * s_r[0][1] + s_g[0][1] * s_r[1][1]);
        assert!(
            commutator.abs() > 0.1,
            "case {case}: the covariances commute"
        );
        let trace = product[0][0] + product[1][1];
        let det = product[0][0] * product[1][1] - product[0][1] * product[1][0];
        let expected = (mu_r[0] - mu_g[0]).powi(2)
            + (mu_r[1] - mu_g[1]).powi(2)
            + s_r[0][0]
            + s_r[1][1]
            + s_g[0][0]
            + s_g[1][1]
            - 2.0 * (trace + 2.0 * det.sqrt()).sqrt();
        let fd = frechet_distance(&real, &fake);
        assert!(
            (fd - expected).abs() < 1e-6 * expected.abs().max(1.0),
            "case {case}: {fd} vs {expected}"
        );
    }
}

#[test]
fn frechet_distance_has_its_closed_form() {
    use vae::eval::classifier::FEATURES;
    use vae::eval::sample_quality::frechet_distance;
    let real = feature_rows(2000, 1, 0.0);
    assert!(frechet_distance(&real, &real).abs() < 1e-6);
    // Shifting every feature by 0.5 moves the mean by 0.5 * sqrt(64) and nothing else.
    let shifted: Vec<f32> = real.iter().map(|v| v + 0.5).collect();
    let fd = frechet_distance(&real, &shifted);
    assert!((fd - 0.25 * FEATURES as f64).abs() < 1e-6, "{fd}");
    // Scaling by 2 keeps the mean: tr(S + 4S - 2 * 2S) = tr(S).
    let scaled: Vec<f32> = real.iter().map(|v| 2.0 * v).collect();
    let trace: f64 = (0..FEATURES)
        .map(|d| {
            let col: Vec<f64> = real
                .iter()
                .skip(d)
                .step_by(FEATURES)
                .map(|&v| v as f64)
                .collect();
            let m = col.iter().sum::<f64>() / col.len() as f64;
            col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (col.len() - 1) as f64
        })
        .sum();
    let mean_sq: f64 = (0..FEATURES)
        .map(|d| {
            let m = real
                .iter()
                .skip(d)
                .step_by(FEATURES)
                .map(|&v| v as f64)
                .sum::<f64>()
                / 2000.0;
            m * m
        })
        .sum();
    let fd = frechet_distance(&real, &scaled);
    assert!(
        ((fd - trace - mean_sq) / trace).abs() < 1e-6,
        "{fd} vs {}",
        trace + mean_sq
    );
}

#[test]
fn precision_and_recall_tell_realism_from_coverage() {
    use vae::eval::classifier::FEATURES;
    use vae::eval::sample_quality::precision_recall;
    let real = feature_rows(1000, 2, 0.0);
    assert_eq!(precision_recall(&real, &real), (1.0, 1.0));
    // Far away: neither realistic nor covering.
    let far: Vec<f32> = real.iter().map(|v| v + 100.0).collect();
    assert_eq!(precision_recall(&real, &far), (0.0, 0.0));
    // Samples that are all one real image, repeated: perfectly realistic, no coverage.
    let mode = real[..FEATURES].repeat(1000);
    let (precision, recall) = precision_recall(&real, &mode);
    assert_eq!(precision, 1.0);
    assert!(recall < 0.01, "{recall}");
    // Another draw of the same distribution: alike on both, and well above the cases above
    // (1,000 points in 64 dimensions leave gaps between the balls: about 0.68 here).
    let (precision, recall) = precision_recall(&real, &feature_rows(1000, 3, 0.0));
    assert!(precision > 0.6 && recall > 0.6, "{precision} {recall}");
    assert!((precision - recall).abs() < 0.05, "{precision} {recall}");
}

/// The feature classifier learns the labels, and the same data gives the same features (so
/// every run of a data set is measured alike).
#[test]
fn the_feature_classifier_is_accurate_and_repeatable() {
    use vae::eval::classifier::FeatureClassifier;
    let config = vae_testkit::small_config(3000, 1);
    let splits = config.load_data().unwrap();
    let device = parse_device("cpu").unwrap();
    let a = FeatureClassifier::train(&splits.train, &device).unwrap();
    let b = FeatureClassifier::train(&splits.train, &device).unwrap();
    let mut test = splits.test.clone();
    test.truncate(2000);
    let accuracy = a.accuracy(&test).unwrap();
    // Ten classes: chance is 0.1; a small MLP on 3,000 images reaches about 0.8.
    assert!(accuracy > 0.7, "{accuracy}");
    let images = test.gather(&[0, 1, 2, 3]).unwrap();
    assert_eq!(a.features(&images).unwrap(), b.features(&images).unwrap());
}

/// On a trained run: samples score worse than real training images, which score near the
/// ideal; too few samples are refused.
#[test]
fn sample_quality_of_a_run_lies_above_the_real_floor() {
    use vae::eval::Split;
    use vae::eval::classifier::FeatureClassifier;
    use vae::eval::held_out::HeldOut;
    use vae::eval::sample_quality::sample_quality;
    let dir = tempfile::tempdir().unwrap();
    train(
        &vae_testkit::small_config(2000, 1),
        dir.path(),
        TrainOptions::default(),
    )
    .unwrap();
    let run = vae::run::Run::load(dir.path(), None).unwrap();
    let held_out = HeldOut::of(&run, Split::Test).unwrap();
    let classifier = FeatureClassifier::of(&held_out, &run.device).unwrap();
    let q = sample_quality(&run, &held_out, &classifier, 1000, 1).unwrap();
    assert!(q.floor.fd < q.scores.fd, "{q:?}");
    assert!(q.floor.precision > 0.7 && q.floor.recall > 0.7, "{q:?}");
    assert!(q.scores.fd.is_finite() && (0.0..=1.0).contains(&q.scores.recall));
    assert!(q.classifier_accuracy > 0.8, "{q:?}");
    let e = sample_quality(&run, &held_out, &classifier, 3, 1).unwrap_err();
    assert!(e.to_string().contains("--quality-samples"), "{e}");
}

/// A test set smaller than the samples asked for (a folder of one's own pictures): the samples,
/// the test images and the floor's training images are as many, the test set's size, and the
/// report says so; unequal sets would move the recall radii and the Fréchet distance's bias.
#[test]
fn sample_quality_compares_sets_of_equal_size() {
    use vae::data::{Color, DatasetKind};
    use vae::eval::Split;
    use vae::eval::classifier::FeatureClassifier;
    use vae::eval::held_out::HeldOut;
    use vae::eval::sample_quality::sample_quality;
    let tmp = tempfile::tempdir().unwrap();
    let pictures = tmp.path().join("pictures");
    vae_testkit::image_folder(&pictures, 60);
    let config = TrainConfig {
        dataset: DatasetKind::Folder,
        data: Some(pictures),
        image_size: 16,
        color: Color::Grey,
        epochs: 1,
        hidden: vec![32],
        latent_dim: 4,
        ..TrainConfig::for_arch(Arch::Mlp)
    };
    let dir = tmp.path().join("run");
    train(&config, &dir, TrainOptions::default()).unwrap();
    let run = vae::run::Run::load(&dir, None).unwrap();
    let test = run.test_data().unwrap().len();
    assert!((10..1000).contains(&test), "{test} test images");
    let held_out = HeldOut::of(&run, Split::Test).unwrap();
    let classifier = FeatureClassifier::of(&held_out, &run.device).unwrap();
    let q = sample_quality(&run, &held_out, &classifier, 1000, 1).unwrap();
    assert_eq!(q.samples, test, "samples scored against {test} test images");
    assert_eq!(q.asked, 1000);
    let text = q.to_string();
    assert!(
        text.contains(&format!("{test} samples from N(0, I) vs as many test images: the test set's size, 1000 were asked for")),
        "{text}"
    );
}

/// The second stage learns the codes (more epochs, lower -ELBO), is saved and loaded back to
/// the same sampler, and is refused for a plain autoencoder.
#[test]
fn the_second_stage_fits_the_codes_and_round_trips() {
    use vae::two_stage::{SecondStageConfig, fit, load, sample_images};
    let dir = tempfile::tempdir().unwrap();
    train(
        &vae_testkit::small_config(1000, 1),
        dir.path(),
        TrainOptions::default(),
    )
    .unwrap();
    let run = vae::run::Run::load(dir.path(), None).unwrap();
    assert!(load(&run).unwrap().is_none());
    let config = |epochs| SecondStageConfig {
        epochs,
        hidden: vec![64],
        ..SecondStageConfig::default()
    };
    let (_, short) = fit(&run, &config(1)).unwrap();
    let (fitted, long) = fit(&run, &config(8)).unwrap();
    let (short, long) = (short.final_loss.unwrap(), long.final_loss.unwrap());
    assert!(long < short - 1.0, "8 epochs {long} vs 1 epoch {short}");
    let loaded = load(&run).unwrap().expect("saved in the run folder");
    let draw = |stage| sample_images(&run, stage, 5, &mut vae::rng::rng(3, 4), None).unwrap();
    assert_eq!(draw(&fitted), draw(&loaded));
    assert_eq!(draw(&fitted).len(), 5 * 784);

    let ae_dir = tempfile::tempdir().unwrap();
    train(
        &TrainConfig {
            autoencoder: true,
            ..vae_testkit::small_config(300, 1)
        },
        ae_dir.path(),
        TrainOptions::default(),
    )
    .unwrap();
    let ae = vae::run::Run::load(ae_dir.path(), None).unwrap();
    let e = fit(&ae, &config(1)).unwrap_err();
    assert!(e.to_string().contains("plain autoencoder"), "{e}");
}

/// A second stage is tied to the weights it was fitted on: once the run trains on, it is
/// refused, and sample quality leaves it out, until it is fitted again.
#[test]
fn a_second_stage_fitted_on_earlier_weights_is_refused() {
    use vae::eval::Split;
    use vae::eval::classifier::FeatureClassifier;
    use vae::eval::held_out::HeldOut;
    use vae::eval::sample_quality::sample_quality;
    use vae::two_stage::{SecondStageConfig, fit, is_stale, load};
    let dir = tempfile::tempdir().unwrap();
    let config = vae_testkit::small_config(500, 1);
    train(&config, dir.path(), TrainOptions::default()).unwrap();
    let run = vae::run::Run::load(dir.path(), None).unwrap();
    let stage = SecondStageConfig {
        epochs: 1,
        hidden: vec![16],
        ..SecondStageConfig::default()
    };
    fit(&run, &stage).unwrap();
    assert!(!is_stale(&run).unwrap());
    assert!(load(&run).unwrap().is_some());

    let more = TrainConfig {
        epochs: 2,
        ..config
    };
    train(&more, dir.path(), TrainOptions { resume: true }).unwrap();
    let run = vae::run::Run::load(dir.path(), None).unwrap();
    assert!(is_stale(&run).unwrap());
    let e = load(&run).unwrap_err().to_string();
    assert!(
        e.contains("was fitted on other weights than the run's model.bpk holds now")
            && e.contains("fit it again with `vae two-stage"),
        "{e}"
    );
    let held_out = HeldOut::of(&run, Split::Test).unwrap();
    let classifier = FeatureClassifier::of(&held_out, &run.device).unwrap();
    let q = sample_quality(&run, &held_out, &classifier, 100, 1).unwrap();
    assert!(q.two_stage.is_none() && q.scores.fd.is_finite(), "{q:?}");
    // The result says why, for every caller (the CLI's warning, Python's dict, the report).
    let warning = q.two_stage_note.as_deref().unwrap_or_default();
    assert!(
        warning.contains("left out") && warning.contains("fit it again"),
        "{q:?}"
    );
    assert!(q.to_string().contains(warning), "{q}");

    fit(&run, &stage).unwrap();
    assert!(load(&run).unwrap().is_some());
}

/// Every weight of a module as one host vector, in the module's order.
pub(crate) fn flat_weights(model: &Vae) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl burn::module::ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            self.0.extend(to_host(param.val()).unwrap());
        }
    }
    let mut all = Collect(Vec::new());
    model.visit(&mut all);
    all.0
}

/// Asserts that `grads`, the gradient of `model`'s loss, matches central differences of `loss`
/// along a random direction of all the weights.
pub(crate) fn assert_gradient_matches(
    model: &Vae,
    grads: &burn::optim::GradientsParams,
    loss: impl Fn(&Vae) -> f64,
) {
    use vae::rng::{normal_noise, rng};
    let direction = normal_noise(&mut rng(5, 1), flat_weights(model).len());
    let gradient = gradient_along(model, grads, &direction);
    let step = 1e-3;
    let at = |s: f32| loss(&shifted(model, &direction, s));
    let differences = (at(step) - at(-step)) / (2.0 * step as f64);
    assert!(
        (gradient - differences).abs() < 2e-2 * gradient.abs().max(1.0),
        "gradient along the direction {gradient} vs central differences {differences}"
    );
}

/// The gradient `grads` of `model`'s weights along `direction` (in [`flat_weights`]' order):
/// their dot product.
fn gradient_along(model: &Vae, grads: &burn::optim::GradientsParams, direction: &[f32]) -> f64 {
    struct Along<'a> {
        grads: &'a burn::optim::GradientsParams,
        direction: &'a [f32],
        at: usize,
        dot: f64,
    }
    impl burn::module::ModuleVisitor for Along<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let n = param.shape().num_elements();
            let g = to_host(
                self.grads
                    .get::<D>(param.id)
                    .expect("every weight has a gradient"),
            )
            .unwrap();
            self.dot += g
                .iter()
                .zip(&self.direction[self.at..self.at + n])
                .map(|(&g, &d)| g as f64 * d as f64)
                .sum::<f64>();
            self.at += n;
        }
    }
    let mut along = Along {
        grads,
        direction,
        at: 0,
        dot: 0.0,
    };
    model.visit(&mut along);
    along.dot
}

/// The module with `step * direction` added to its weights (in [`flat_weights`]' order).
pub(crate) fn shifted(model: &Vae, direction: &[f32], step: f32) -> Vae {
    struct Shift<'a> {
        direction: &'a [f32],
        step: f32,
        at: usize,
    }
    impl burn::module::ModuleMapper for Shift<'_> {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            param.map(|t| {
                let shape = t.shape();
                let n = shape.num_elements();
                let d: Vec<f32> = self.direction[self.at..self.at + n]
                    .iter()
                    .map(|v| v * self.step)
                    .collect();
                self.at += n;
                let inner = t.inner();
                let shift = Tensor::<D>::from_data(TensorData::new(d, shape), &inner.device());
                Tensor::from_inner(inner + shift).require_grad()
            })
        }
    }
    model.clone().map(&mut Shift {
        direction,
        step,
        at: 0,
    })
}

/// The IWAE objective (`--objective iwae`) is the bound it names, written out by hand from the
/// same noise: `-(1/n) sum_i log (1/K) sum_k p(x_i|z_ik) p(z_ik) / q(z_ik|x_i)`; and its gradient is
/// the bound's: along a random direction of all the weights, the autodiff gradient matches central
/// differences of the bound.
#[test]
fn the_iwae_objective_is_the_bound_and_descends_its_gradient() {
    use vae::model::loss::iwae_loss;
    use vae::rng::{normal_noise, rng};
    let (pixels, latent, samples, n) = (6, 2, 4, 3);
    let device = parse_device("cpu").unwrap().autodiff();
    let model = Vae::init(
        &ModelConfig {
            arch: Arch::Mlp,
            latent_dim: latent,
            hidden: vec![5],
            channels: vec![],
            autoencoder: false,
            height: 2,
            width: 3,
            image_channels: 1,
            conditioning: None,
            prior: Prior::Standard,
            pseudo_inputs: 0,
        },
        &device,
        7,
    );
    let images = grey_images(n, pixels);
    let noise = normal_noise(&mut rng(3, 0), n * samples * latent);
    let loss = |model: &Vae| {
        iwae_loss(
            model,
            None,
            to_device(images.clone(), n, pixels, &device),
            None,
            to_device(noise.clone(), n, samples * latent, &device),
            Reconstruction::Bce,
            n,
        )
    };

    // By hand, in f64, from the encoder's and decoder's outputs.
    let plain = model.valid();
    let host = Device::flex();
    let q = plain.encode(to_device(images.clone(), n, pixels, &host), None);
    let (m, lv) = (
        to_host(q.z_mean().clone()).unwrap(),
        to_host(q.z_log_var().unwrap().clone()).unwrap(),
    );
    let mut expected = 0f64;
    for i in 0..n {
        let mut log_w = Vec::new();
        for k in 0..samples {
            let eps = &noise[(i * samples + k) * latent..(i * samples + k + 1) * latent];
            let z: Vec<f32> = (0..latent)
                .map(|d| m[i * latent + d] + (0.5 * lv[i * latent + d]).exp() * eps[d])
                .collect();
            let logits =
                to_host(plain.decode(to_device(z.clone(), 1, latent, &host), None)).unwrap();
            let log_px: f64 = logits
                .iter()
                .zip(&images[i * pixels..(i + 1) * pixels])
                .map(|(&l, &x)| {
                    let (l, x) = (l as f64, x as f64);
                    x * l - (1.0 + l.exp()).ln()
                })
                .sum();
            let log_normal = |v: f64, mean: f64, log_var: f64| {
                -0.5 * ((v - mean).powi(2) / log_var.exp()
                    + log_var
                    + (2.0 * std::f64::consts::PI).ln())
            };
            let (log_pz, log_qz): (f64, f64) = (0..latent)
                .map(|d| {
                    let (zd, md, lvd) = (
                        z[d] as f64,
                        m[i * latent + d] as f64,
                        lv[i * latent + d] as f64,
                    );
                    (log_normal(zd, 0.0, 0.0), log_normal(zd, md, lvd))
                })
                .fold((0.0, 0.0), |(a, b), (c, d)| (a + c, b + d));
            log_w.push(log_px + log_pz - log_qz);
        }
        let max = log_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + log_w.iter().map(|w| (w - max).exp()).sum::<f64>().ln();
        expected -= (lse - (samples as f64).ln()) / n as f64;
    }
    let ours = loss(&model);
    let total = to_host(ours.total.clone().inner()).unwrap()[0] as f64;
    assert!(
        (total - expected).abs() < 1e-5 * expected.abs(),
        "{total} vs {expected} by hand"
    );
    let (recon, kl) = (
        to_host(ours.recon.clone().inner()).unwrap()[0] as f64,
        to_host(ours.kl.clone().inner()).unwrap()[0] as f64,
    );
    assert!(
        recon + kl >= total,
        "the K-sample ELBO {recon} + {kl} is below the bound {total}"
    );

    // The gradient along a direction against central differences of the bound.
    let grads = burn::optim::GradientsParams::from_grads(ours.total.backward(), &model);
    assert_gradient_matches(&model, &grads, |model| {
        to_host(loss(model).total.inner()).unwrap()[0] as f64
    });
}

/// `vae eval --split validation` measures the images the run held out, prepared as in training
/// (the ELBO equals the last epoch's validation loss, drawn from the same seed), and keeps its
/// report apart from the test one; a run without a validation set says how to get one.
#[test]
fn evaluation_on_the_validation_split_reads_the_held_out_images() {
    use vae::eval::{EvalOptions, Split, evaluate_run};
    use vae::run::{EVAL_FILE, EVAL_VALIDATION_FILE, Run};
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        validation: 300,
        binarize: Binarize::Dynamic,
        ..vae_testkit::small_config(1_000, 1)
    };
    let summary = train(&config, dir.path(), TrainOptions::default()).unwrap();
    let run = Run::load(dir.path(), None).unwrap();
    let options = EvalOptions {
        split: Split::Validation,
        iw_samples: 0,
        limit: None,
        metrics: Default::default(),
        quality_samples: None,
        fidelity_samples: None,
    };
    let report = evaluate_run(&run, options).unwrap();
    assert_eq!(report.images, 300);
    // The printed report names the images it measured.
    let text = report.to_string();
    assert!(text.starts_with("validation images 300\n"), "{text}");
    let valid = summary.epochs[0].valid.expect("a validation loss");
    let elbo = report.elbo.expect("binarized: a density");
    assert!(
        (-elbo - valid.total).abs() < 1e-3 * valid.total,
        "{elbo} vs {valid:?}"
    );
    assert!(dir.path().join(EVAL_VALIDATION_FILE).is_file());
    assert!(!dir.path().join(EVAL_FILE).exists());

    let other = tempfile::tempdir().unwrap();
    train(
        &vae_testkit::small_config(300, 1),
        other.path(),
        TrainOptions::default(),
    )
    .unwrap();
    let run = Run::load(other.path(), None).unwrap();
    let message = evaluate_run(&run, options).unwrap_err().to_string();
    assert!(message.contains("no validation set"), "{message}");
}

/// `vae eval --split validation --sample-quality --class-fidelity` reads no test image: with
/// the test files swapped for others, the numbers stay the same to the last digit, and the
/// report names the validation split. Settings chosen on them have not seen the test set.
#[test]
fn sample_quality_and_class_fidelity_of_the_validation_split_read_no_test_image() {
    use vae::eval::{EvalOptions, Split, evaluate_run};
    use vae::run::Run;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let real = vae_testkit::fashion_mnist_dir();
    let link = |from: &str, to: &str| {
        let to = data.join(to);
        let _ = std::fs::remove_file(&to);
        std::os::unix::fs::symlink(real.join(from), to).unwrap();
    };
    for split in ["train", "t10k"] {
        link(
            &format!("{split}-images-idx3-ubyte.gz"),
            &format!("{split}-images-idx3-ubyte.gz"),
        );
        link(
            &format!("{split}-labels-idx1-ubyte.gz"),
            &format!("{split}-labels-idx1-ubyte.gz"),
        );
    }
    let config = TrainConfig {
        data: Some(data.clone()),
        validation: 500,
        conditional: true,
        ..vae_testkit::small_config(1_000, 1)
    };
    let dir = tmp.path().join("run");
    train(&config, &dir, TrainOptions::default()).unwrap();
    let run = Run::load(&dir, None).unwrap();
    let options = EvalOptions {
        split: Split::Validation,
        iw_samples: 0,
        limit: None,
        metrics: Default::default(),
        quality_samples: Some(400),
        fidelity_samples: Some(20),
    };
    let before = evaluate_run(&run, options).unwrap();
    // Other test images: the 60,000 of the training split.
    link("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz");
    link("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
    let after = evaluate_run(&run, options).unwrap();
    for key in ["sample_quality", "class_fidelity"] {
        assert_eq!(before.metrics[key], after.metrics[key], "{key}");
    }
    let text = before.to_string();
    assert!(
        text.contains("400 samples from N(0, I) vs as many validation images")
            && text.contains("training vs validation images")
            && text.contains("right on the validation set")
            && text.contains("(real validation images: "),
        "{text}"
    );
    assert!(
        !text.contains("test images") && !text.contains("test set"),
        "{text}"
    );
}

/// An IWAE run's early stopping watches the bound it minimises: each epoch's validation loss is
/// the IWAE bound of its K samples, what `vae eval --split validation --iw-samples K` reports,
/// and the epoch line names it.
#[test]
fn an_iwae_run_watches_its_own_bound_on_the_validation_split() {
    use vae::eval::{EvalOptions, Split, evaluate_run};
    use vae::model::loss::Objective;
    use vae::run::Run;
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        validation: 300,
        binarize: Binarize::Dynamic,
        objective: Objective::Iwae,
        k: Some(3),
        ..vae_testkit::small_config(1_000, 1)
    };
    let summary = train(&config, dir.path(), TrainOptions::default()).unwrap();
    let epoch = &summary.epochs[0];
    assert_eq!(epoch.train_samples, Some(3));
    assert!(
        epoch.summary(1).contains("valid -IWAE(3) "),
        "{}",
        epoch.summary(1)
    );
    let run = Run::load(dir.path(), None).unwrap();
    let report = evaluate_run(
        &run,
        EvalOptions {
            split: Split::Validation,
            iw_samples: 3,
            limit: None,
            metrics: Default::default(),
            quality_samples: None,
            fidelity_samples: None,
        },
    )
    .unwrap();
    let valid = epoch.valid.unwrap().total;
    let bound = report.nll_iw.expect("binarized: a density");
    assert!((bound - valid).abs() < 1e-9 * valid, "{bound} vs {valid}");
}

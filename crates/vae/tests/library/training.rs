//! Training on real Fashion-MNIST (release mode, a few hundred steps): the loss falls,
//! checkpoints resume exactly, runs are never overwritten, divergence stops cleanly.

use burn::prelude::*;
use vae::model::Arch;
use vae::run::Run;
use vae::train::{TrainOptions, train};

/// What the trained model computes on fixed inputs: equal weights give bit-equal outputs.
pub fn fingerprint(run_dir: &std::path::Path) -> Vec<f32> {
    let run = Run::load(run_dir, None).unwrap();
    let x = Tensor::<2>::from_data(
        TensorData::new((0..784).map(|i| (i % 17) as f32 / 17.0).collect(), [1, 784]),
        &run.device,
    );
    let q = run.model.encode(x, None);
    let (z_mean, z_log_var) = (q.z_mean().clone(), q.z_log_var().unwrap().clone());
    let logits = run.model.decode(z_mean.clone(), None);
    [z_mean, z_log_var, logits]
        .into_iter()
        .flat_map(|t| t.into_data().try_to_vec::<f32>().unwrap())
        .collect()
}

#[test]
fn mlp_vae_loss_falls_on_real_fashion_mnist() {
    let dir = tempfile::tempdir().unwrap();
    let config = vae_testkit::small_config(12_800, 2);
    let summary = train(&config, dir.path(), TrainOptions::default()).unwrap();
    let (first, last) = (&summary.epochs[0], &summary.epochs[1]);
    // An untrained decoder costs about 784 * ln 2 = 543 nats; 200 Adam steps must do far better.
    assert!(first.test.total < 400.0, "{first:?}");
    assert!(
        last.test.total < first.test.total - 10.0,
        "{first:?} -> {last:?}"
    );
    assert!(last.test.kl > 1.0, "the KL term must be in use: {last:?}");
    assert!((last.test.total - (last.test.recon + last.test.kl)).abs() < 1e-6);
}

#[test]
fn conv_vae_loss_falls_on_real_fashion_mnist() {
    let dir = tempfile::tempdir().unwrap();
    let config = vae_testkit::small_config_of(Arch::Conv, 2_000, 2);
    let summary = train(&config, dir.path(), TrainOptions::default()).unwrap();
    let (first, last) = (&summary.epochs[0], &summary.epochs[1]);
    assert!(last.test.total < first.test.total, "{first:?} -> {last:?}");
    assert!(last.test.total < 450.0, "{last:?}");
}

#[test]
fn resume_continues_exactly_where_the_run_stopped() {
    let straight = tempfile::tempdir().unwrap();
    let resumed = tempfile::tempdir().unwrap();
    let config = vae_testkit::small_config(1_000, 3);
    let full = train(&config, straight.path(), TrainOptions::default()).unwrap();

    let first_part = vae::TrainConfig {
        epochs: 1,
        ..config.clone()
    };
    train(&first_part, resumed.path(), TrainOptions::default()).unwrap();
    let resume = TrainOptions { resume: true };
    let rest = train(&config, resumed.path(), resume).unwrap();

    assert_eq!(
        rest.epochs.len(),
        3,
        "metrics keep the epochs before the resume"
    );
    for (a, b) in full.epochs.iter().zip(&rest.epochs) {
        assert_eq!(a.epoch, b.epoch);
        assert_eq!(
            (a.train.total, a.test.total),
            (b.train.total, b.test.total),
            "epoch {}",
            a.epoch
        );
    }
    assert_eq!(fingerprint(straight.path()), fingerprint(resumed.path()));
}

#[test]
fn an_existing_run_is_never_overwritten_without_resume() {
    let dir = tempfile::tempdir().unwrap();
    let config = vae_testkit::small_config(300, 1);
    train(&config, dir.path(), TrainOptions::default()).unwrap();
    let before = std::fs::read(dir.path().join("checkpoint.bin")).unwrap();
    let message = train(&config, dir.path(), TrainOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("already holds a run; pass --resume"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("checkpoint.bin")).unwrap(),
        before
    );

    let other = vae::TrainConfig {
        beta: 4.0,
        ..config
    };
    let resume = TrainOptions { resume: true };
    let message = train(&other, dir.path(), resume).unwrap_err().to_string();
    assert!(
        message.contains("--resume needs the run's own settings"),
        "{message}"
    );
}

#[test]
fn divergence_stops_with_a_clear_message_and_keeps_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let good = vae_testkit::small_config(256, 1);
    train(&good, dir.path(), TrainOptions::default()).unwrap();
    let checkpoint = std::fs::read(dir.path().join("checkpoint.bin")).unwrap();
    let metrics = std::fs::read(dir.path().join("metrics.jsonl")).unwrap();

    // Continue the run with an absurd learning rate: epoch 2 diverges.
    let bad = vae::TrainConfig {
        lr: 1e30,
        epochs: 2,
        ..good
    };
    let resume = TrainOptions { resume: true };
    let message = train(&bad, dir.path(), resume).unwrap_err().to_string();
    // The first step applies the absurd update, a following one sees its result.
    assert!(message.starts_with("training diverged: "), "{message}");
    assert!(message.contains(" at epoch 2, step "), "{message}");
    assert!(
        message.contains("the checkpoint of epoch 1 in"),
        "{message}"
    );
    assert!(message.contains("lower --lr"), "{message}");
    assert_eq!(
        std::fs::read(dir.path().join("checkpoint.bin")).unwrap(),
        checkpoint
    );
    assert_eq!(
        std::fs::read(dir.path().join("metrics.jsonl")).unwrap(),
        metrics
    );
}

#[test]
fn a_corrupt_checkpoint_is_reported_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let config = vae_testkit::small_config(256, 1);
    train(&config, dir.path(), TrainOptions::default()).unwrap();
    let path = dir.path().join("checkpoint.bin");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let more = vae::TrainConfig {
        epochs: 2,
        ..config
    };
    let resume = TrainOptions { resume: true };
    let message = train(&more, dir.path(), resume).unwrap_err().to_string();
    assert!(
        message.contains("corrupt checkpoint (length mismatch"),
        "{message}"
    );
}

#[test]
fn the_autoencoder_trains_without_kl() {
    let dir = tempfile::tempdir().unwrap();
    let config = vae::TrainConfig {
        autoencoder: true,
        ..vae_testkit::small_config(1_000, 1)
    };
    let summary = train(&config, dir.path(), TrainOptions::default()).unwrap();
    assert_eq!(
        (summary.epochs[0].train.kl, summary.epochs[0].test.kl),
        (0.0, 0.0)
    );
    let run = Run::load(dir.path(), None).unwrap();
    let q = run.model.encode(Tensor::zeros([1, 784], &run.device), None);
    assert!(q.z_log_var().is_none());
}

/// A rank binarizes only its own rows of a batch, from the step's stream at its rows' offset,
/// and gets the draws a single process makes for those rows; the shares of N ranks cover the
/// batch once.
#[test]
fn each_rank_draws_the_binarization_of_its_own_rows() {
    use vae::data::binarize_in_place;
    use vae::distributed::World;
    use vae::rng::{step_rng, stream};
    use vae::train::epoch::rank_rows;
    let (pixels, n, step) = (13, 10, 4);
    let grey: Vec<f32> = (0..n * pixels).map(|i| (i % 7) as f32 / 7.0).collect();
    let mut whole = grey.clone();
    binarize_in_place(
        &mut whole,
        &mut step_rng(9, stream::BINARIZE_BASE + 2, step, 0),
    );
    for size in [1, 2, 3, 4] {
        let mut covered = 0;
        for rank in 0..size {
            let world = World {
                rank,
                size,
                local_rank: rank,
                local_size: size,
            };
            let rows = rank_rows(&world, n);
            covered += rows.len();
            let mut mine = grey[rows.start * pixels..rows.end * pixels].to_vec();
            let offset = (rows.start * pixels) as u128;
            binarize_in_place(
                &mut mine,
                &mut step_rng(9, stream::BINARIZE_BASE + 2, step, offset),
            );
            assert_eq!(
                mine,
                whole[rows.start * pixels..rows.end * pixels],
                "{rank} of {size}"
            );
        }
        assert_eq!(covered, n);
    }
    // Another step draws otherwise.
    let mut other = grey;
    binarize_in_place(
        &mut other,
        &mut step_rng(9, stream::BINARIZE_BASE + 2, step + 1, 0),
    );
    assert_ne!(other, whole);
}

/// One epoch of `config` run straight through [`train_epoch`] with `window` steps' batches
/// uploaded together: the epoch's sums, what the model computes after it, and the reads back
/// from the device it made.
fn one_epoch(
    config: &vae::TrainConfig,
    window: usize,
) -> (vae::train::epoch::EpochSums, Vec<f32>, usize) {
    use vae::train::epoch::{Setup, train_epoch};
    let splits = config.load_data().unwrap();
    let train_set = &splits.train;
    let model_config = vae::model::ModelConfig {
        conditioning: config.conditioning(&train_set.class_names),
        ..config.model_config(train_set.height, train_set.width, train_set.channels)
    };
    let device = Device::flex();
    let ad_device = device.clone().autodiff();
    let setup = Setup {
        config,
        train_set,
        device: device.clone(),
        ad_device: ad_device.clone(),
        latent: model_config.latent_dim,
        shards: vae::parallel::Shards::shared(&device),
        world: vae::distributed::World::single(),
        window,
    };
    let (model, mut optimizer) = vae::train::fresh(config, &model_config, &ad_device);
    let reads = vae::device::host_reads();
    let (model, sums) = train_epoch(
        &setup,
        1,
        model,
        &mut optimizer,
        config.lr,
        &mut vae::train::Quiet,
    )
    .unwrap()
    .unwrap_or_else(|d| panic!("diverged: {} at step {}", d.what, d.step));
    let reads = vae::device::host_reads() - reads;
    let x = Tensor::<2>::from_data(
        TensorData::new((0..784).map(|i| (i % 17) as f32 / 17.0).collect(), [1, 784]),
        &device,
    );
    let condition = model_config
        .conditioning
        .as_ref()
        .map(|_| Tensor::<2>::ones([1, 10], &device));
    let model = model.valid();
    let q = model.encode(x, condition.clone());
    let logits = model.decode(q.z_mean().clone(), condition);
    let fingerprint = [q.z_mean().clone(), logits]
        .into_iter()
        .flat_map(|t| t.into_data().try_to_vec::<f32>().unwrap())
        .collect();
    (sums, fingerprint, reads)
}

/// A training step reads nothing back from the device (on a GPU a read waits for all queued
/// work): the loss parts and gradient norms of many steps come back in one read. Reading at
/// every step, as before, made 250 reads here.
#[test]
fn a_training_epoch_reads_back_once_per_stretch_of_steps() {
    let config = vae::TrainConfig {
        batch_size: 8,
        ..vae_testkit::small_config(2_000, 1)
    };
    let started = std::time::Instant::now();
    let (sums, _, reads) = one_epoch(&config, 1);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(sums.steps, 250);
    // At most a read every 64 steps or every half second, and one at the end.
    let most = 250 / 64 + 1 + (seconds / 0.5) as usize;
    assert!(
        (1..=most).contains(&reads),
        "{reads} reads in 250 steps ({seconds:.1} s; at most {most})"
    );
}

/// A GPU run uploads several steps' batches at once; the steps get the same images,
/// binarization, noise and conditions as one batch at a time, so training is bit-identical.
#[test]
fn batches_uploaded_together_train_as_batches_uploaded_one_at_a_time() {
    let config = vae::TrainConfig {
        binarize: vae::data::Binarize::Dynamic,
        conditional: true,
        ..vae_testkit::small_config(1_000, 1)
    };
    let (one_sums, one, _) = one_epoch(&config, 1);
    for window in [3, 64] {
        let (sums, together, _) = one_epoch(&config, window);
        assert_eq!(sums.loss, one_sums.loss, "window {window}");
        assert_eq!(sums.grad_norm, one_sums.grad_norm, "window {window}");
        assert_eq!(sums.steps, one_sums.steps, "window {window}");
        assert_eq!(together, one, "window {window}");
    }
}

/// `--lr-decay`: each epoch trains at the rate decayed after every epoch before it, as the
/// metrics record; a resumed run goes on with the rate the whole run would have had.
#[test]
fn the_learning_rate_decays_after_every_epoch_and_resumes_decayed() {
    let config = vae::TrainConfig {
        lr_decay: 0.5,
        ..vae_testkit::small_config(500, 2)
    };
    let dir = tempfile::tempdir().unwrap();
    train(&config, dir.path(), TrainOptions::default()).unwrap();
    let longer = vae::TrainConfig {
        epochs: 3,
        ..config.clone()
    };
    let summary = train(&longer, dir.path(), TrainOptions { resume: true }).unwrap();
    let rates: Vec<f64> = summary.epochs.iter().map(|m| m.lr).collect();
    assert_eq!(rates, [1e-3, 5e-4, 2.5e-4]);
}

/// `--lr-decay`: a run stopped after its first epoch and resumed ends with the numbers and
/// weights of the run never stopped, number for number.
#[test]
fn a_decaying_run_resumed_midway_equals_the_run_never_stopped() {
    let config = vae::TrainConfig {
        lr_decay: 0.5,
        ..vae_testkit::small_config(1_000, 3)
    };
    let straight = tempfile::tempdir().unwrap();
    let full = train(&config, straight.path(), TrainOptions::default()).unwrap();
    let resumed = tempfile::tempdir().unwrap();
    let first = vae::TrainConfig {
        epochs: 1,
        ..config.clone()
    };
    train(&first, resumed.path(), TrainOptions::default()).unwrap();
    let rest = train(&config, resumed.path(), TrainOptions { resume: true }).unwrap();
    assert_eq!((full.epochs.len(), rest.epochs.len()), (3, 3));
    for (a, b) in full.epochs.iter().zip(&rest.epochs) {
        assert_eq!(
            (a.epoch, a.lr, a.train.total, a.test.total, a.grad_norm),
            (b.epoch, b.lr, b.train.total, b.test.total, b.grad_norm),
        );
    }
    assert_eq!(fingerprint(straight.path()), fingerprint(resumed.path()));
}

/// A GPU run uploads several steps at once within 32 MiB, counting all a step uploads per
/// image: under the IWAE objective its K draws of noise outweigh its pixels (K = 64 and 32
/// latents: 2,048 floats of noise to 784 of pixels), and 64 steps of them would be 93 MB.
#[test]
fn the_gpu_upload_window_counts_the_iwae_noise() {
    use vae::model::loss::Objective;
    use vae::train::epoch::steps_per_upload;
    let config = vae::TrainConfig {
        objective: Objective::Iwae,
        k: Some(64),
        latent_dim: 32,
        batch_size: 128,
        ..vae::TrainConfig::for_arch(vae::model::Arch::Mlp)
    };
    let model = config.model_config(28, 28, 1);
    let steps = steps_per_upload(&config, &model);
    let floats = 784 + 64 * 32;
    assert!(
        steps * 128 * floats * 4 <= 32 << 20,
        "{steps} steps of {floats} floats per image"
    );
    assert_eq!(steps, (32 << 20) / (128 * floats * 4));
    // The ELBO draws one z per image: 80 steps would fit, and at most 64 are uploaded.
    let elbo = vae::TrainConfig {
        objective: Objective::Elbo,
        k: None,
        ..config
    };
    assert_eq!(steps_per_upload(&elbo, &model), 64);
}

/// A loaded run computes with the weights it loaded: `vae train --resume` replacing
/// `model.bpk` afterwards (the explorer serving a run that trains on) changes nothing in it.
#[test]
fn a_loaded_run_keeps_its_weights_when_the_file_is_replaced() {
    use vae::run::{MODEL_FILE, Run};
    let config = vae_testkit::small_config(300, 1);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    train(&config, a.path(), TrainOptions::default()).unwrap();
    let other = vae::TrainConfig {
        seed: 7,
        ..config.clone()
    };
    train(&other, b.path(), TrainOptions::default()).unwrap();
    let z = vec![0.5f32; 3 * config.latent_dim];
    let decode = |run: &Run| run.decode(z.clone(), None).unwrap();
    let expected = decode(&Run::load(a.path(), None).unwrap());
    let loaded = Run::load(a.path(), None).unwrap();
    // As training replaces it: a new file renamed over the old one.
    let staged = a.path().join("model.bpk.new");
    std::fs::copy(b.path().join(MODEL_FILE), &staged).unwrap();
    std::fs::rename(&staged, a.path().join(MODEL_FILE)).unwrap();
    assert!(
        decode(&loaded) == expected,
        "the loaded run decodes with the new file's weights"
    );
    assert!(decode(&Run::load(a.path(), None).unwrap()) != expected);

    // Read whole, a weights file far larger than the model's weights is refused unread.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(a.path().join(MODEL_FILE))
        .unwrap();
    file.set_len(1 << 40).unwrap();
    let message = Run::load(a.path(), None).err().unwrap().to_string();
    assert!(
        message.contains("more than weights of this model can take"),
        "{message}"
    );
}

//! The CPU's shards (`parallel::Shards`) and the parts of a batch (`train::shards`): a part
//! without rows adds nothing, a panic in one shard ends the call with an error instead of
//! leaving the others waiting, and two batch-norm trainings share the process's shards without
//! waiting on each other forever.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use std::sync::mpsc;
use std::time::Duration;
use vae::model::loss::{Loss, Objective, Reconstruction};
use vae::model::{Arch, ModelConfig, Vae};
use vae::parallel::{Shards, sum_over_batch};
use vae::train::shards::{self, Batch};

/// The ELBO of Bernoulli pixels, beta 1.
const ELBO: (Reconstruction, Objective, f64) = (Reconstruction::Bce, Objective::Elbo, 1.0);

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Every gradient of `model`'s weights in `grads`, in visiting order (zeros where absent).
struct Flat<'a> {
    grads: &'a GradientsParams,
    out: Vec<f32>,
}

impl ModuleVisitor for Flat<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match self.grads.get::<D>(param.id) {
            Some(g) => self.out.extend(values(g)),
            None => self
                .out
                .extend(vec![0.0; param.val().shape().num_elements()]),
        }
    }
}

fn flat(model: &Vae, grads: &GradientsParams) -> Vec<f32> {
    let mut f = Flat {
        grads,
        out: Vec::new(),
    };
    model.visit(&mut f);
    f.out
}

fn config(arch: Arch) -> ModelConfig {
    ModelConfig {
        latent_dim: 3,
        channels: vec![4, 6],
        hidden: vec![16],
        height: 12,
        width: 12,
        ..ModelConfig::default_for(arch)
    }
}

/// `rows` images in [0, 1] and their noise.
fn batch(rows: usize, device: &Device) -> Batch {
    let pixels = 144;
    let x: Vec<f32> = (0..rows * pixels).map(|i| (i % 7) as f32 / 6.0).collect();
    let eps: Vec<f32> = (0..rows * 3).map(|i| (i as f32 * 0.37).sin()).collect();
    Batch {
        x: vae::device::to_device(x, rows, pixels, device),
        condition: None,
        eps: Some(vae::device::to_device(eps, rows, 3, device)),
    }
}

/// A part of a batch without rows (an MPI rank or a shard that got none) is refused with an
/// error, never computed into NaN; the rows that parts do have add up to the whole batch's
/// loss, whatever their sizes.
#[test]
fn a_part_without_rows_is_refused_and_parts_add_up() {
    let device = Device::flex().autodiff();
    for &arch in Arch::ALL {
        let model = Vae::init(&config(arch), &device, 1);
        let empty = shards::gradients(None, &model, batch(0, &device), ELBO, 4);
        let Err(message) = empty.map(|_| ()) else {
            panic!("{arch:?}: an empty part is refused");
        };
        let message = message.to_string();
        assert!(message.contains("has no rows"), "{arch:?}: {message}");

        let whole = shards::gradients(None, &model, batch(5, &device), ELBO, 5).unwrap();
        let parts = shards::gradients(
            Some(&Shards::new(3).unwrap()),
            &model,
            batch(5, &device),
            ELBO,
            5,
        )
        .unwrap();
        let (a, b) = (
            Loss::from_values(&values(whole.1)),
            Loss::from_values(&values(parts.1)),
        );
        assert!(
            (a.total - b.total).abs() < 1e-4 * a.total.abs(),
            "{arch:?}: {a:?} vs {b:?}"
        );
        let (ga, gb) = (flat(&model, &whole.0), flat(&model, &parts.0));
        let scale = ga.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in ga.iter().zip(&gb).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * scale,
                "{arch:?} gradient {i}: {x} vs {y}"
            );
        }
    }
}

/// A shard that panics ends the call with an error naming the panic; the shards it would have
/// met at a batch norm do not wait for it forever.
#[test]
fn a_panic_in_one_shard_ends_the_call_with_an_error() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let shards = Shards::new(2).unwrap();
        let result = shards.run_together(2, |rows| {
            if rows.start == 0 {
                panic!("shard 0 broke");
            }
            sum_over_batch(vec![1.0])
        });
        let _ = tx.send(result.map_err(|e| e.to_string()));
        // The shards still work afterwards, and their threads are not left in the group.
        let again = shards.run_together(2, |_| sum_over_batch(vec![1.0]));
        let _ = tx.send(again.map_err(|e| e.to_string()));
        let alone = shards.run(2, |_| vae::parallel::batch_is_split());
        let _ = tx.send(Ok(vec![
            alone.unwrap().iter().map(|&s| s as u8 as f32).collect(),
        ]));
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the other shard still waits for the one that panicked");
    let message = first.unwrap_err();
    assert!(message.contains("shard 0 broke"), "{message}");
    let again = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(again.unwrap(), vec![vec![2.0], vec![2.0]]);
    let alone = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(
        alone.unwrap(),
        vec![vec![0.0, 0.0]],
        "a plain pass is not in a group"
    );
}

/// Two batch-norm passes at once on the same shards (two trainings in one process: a library
/// user, two tests) must both finish: neither may hold one shard while it waits for another
/// that the other pass holds.
#[test]
fn two_passes_that_meet_inside_share_the_shards_without_deadlock() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let shards = Shards::new(2).unwrap();
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..2_000 {
                        let sums = shards
                            .run_together(2, |_| sum_over_batch(vec![1.0]))
                            .unwrap();
                        assert_eq!(sums, vec![vec![2.0], vec![2.0]]);
                    }
                });
            }
        });
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("two passes wait for each other's shards");
}

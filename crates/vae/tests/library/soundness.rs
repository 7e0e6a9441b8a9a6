//! The data-parallel shards never wait forever: not for a part that skipped a batch-norm
//! meeting, not when parts bring sums of different lengths, not when a pass is started from a
//! rayon worker or from inside one of its own shards. (The kernels' own refusals of wrong
//! shapes are tested in `vae-kernels`.)

use std::sync::mpsc;
use std::time::Duration;
use vae::parallel::{Shards, sum_over_batch};

/// `f` on a thread of its own, which must end within a minute.
fn within_a_minute<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what}: still waiting after a minute"))
}

/// A part of a batch that returns without reaching a batch-norm meeting the others reach
/// left them waiting forever: the pass ends with an error instead.
#[test]
fn a_shard_that_skips_a_batch_norm_meeting_ends_the_pass_with_an_error() {
    let result = within_a_minute("a shard skipped a meeting", || {
        let shards = Shards::new(2).unwrap();
        shards
            .run_together(2, |rows| {
                if rows.start > 0 {
                    sum_over_batch(vec![1.0]);
                }
            })
            .map_err(|e| e.to_string())
    });
    let message = result.expect_err("the skipped meeting went by");
    assert!(
        message.contains("met a different number of times"),
        "{message}"
    );
}

/// Parts that bring sums of different lengths: an error naming them, not a zipped sum.
#[test]
fn shards_that_bring_sums_of_different_lengths_end_the_pass_with_an_error() {
    let result = within_a_minute("sums of two lengths", || {
        let shards = Shards::new(2).unwrap();
        shards
            .run_together(2, |rows| sum_over_batch(vec![1.0; 2 + rows.start]))
            .map_err(|e| e.to_string())
    });
    let message = result.expect_err("sums of two lengths went by");
    assert!(message.contains("different lengths"), "{message}");
}

/// `run_together` called from a rayon worker: while it waited for its shards, the worker ran
/// other jobs of its pool, and one that called `run_together` waited for the first forever.
/// Called from inside one of its own shards, it waited for that shard forever. Both finish.
#[test]
fn run_together_from_a_rayon_worker_or_its_own_shard_does_not_deadlock() {
    let sums = within_a_minute("run_together from a rayon worker", || {
        let shards = Shards::new(2).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let pass = || {
            shards
                .run_together(2, |_| sum_over_batch(vec![1.0]))
                .unwrap()
        };
        pool.install(|| rayon::join(pass, pass))
    });
    assert_eq!(sums.0, vec![vec![2.0], vec![2.0]]);
    assert_eq!(sums.1, sums.0);
    let nested = within_a_minute("run_together inside its own shard", || {
        let shards = Shards::new(2).unwrap();
        let inner = shards
            .run(2, |_| {
                shards
                    .run_together(2, |_| sum_over_batch(vec![1.0]))
                    .map_err(|e| e.to_string())
            })
            .unwrap();
        inner.into_iter().next().unwrap()
    });
    let message = nested.expect_err("a nested pass cannot run on its own shards");
    assert!(
        message.contains("inside one of its own shards"),
        "{message}"
    );
}

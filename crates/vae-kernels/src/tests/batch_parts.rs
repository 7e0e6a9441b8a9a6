//! The meetings of the parts of a batch: sums in part order, and never a wait for a part that
//! cannot come.

use super::panics_with;
use crate::batch_parts::{Parts, batch_is_split, is_first_part, sum_over_batch};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `parts(i)` as part `i` of a batch of `n` on `n` threads; each result within a minute.
fn meet<T: Send + 'static>(
    n: usize,
    part: impl Fn(usize) -> T + Send + Sync + Clone + 'static,
) -> Vec<std::thread::Result<T>> {
    let parts = Parts::new(n);
    let (tx, rx) = mpsc::channel();
    for i in 0..n {
        let (parts, tx, part) = (parts.clone(), tx.clone(), part.clone());
        std::thread::spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                parts.run_as(i, || part(i))
            }));
            let _ = tx.send((i, out));
        });
    }
    let mut out: Vec<_> = (0..n)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(60))
                .expect("a part still waits after a minute")
        })
        .collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Three parts sum what they bring, the same bits in each; outside a batch nothing is split.
#[test]
fn parts_get_the_sum_of_what_every_part_brought() {
    assert!(!batch_is_split() && is_first_part());
    assert_eq!(sum_over_batch(vec![1.5, 2.0]), vec![1.5, 2.0]);
    let sums = meet(3, |i| {
        assert!(batch_is_split());
        assert_eq!(is_first_part(), i == 0);
        let a = sum_over_batch(vec![i as f32, 1.0]);
        let b = sum_over_batch(vec![0.25]);
        (a, b)
    });
    for sum in sums {
        assert_eq!(sum.unwrap(), (vec![3.0, 3.0], vec![0.75]));
    }
}

fn message(r: &std::thread::Result<impl Sized>) -> String {
    match r {
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
        Ok(_) => String::new(),
    }
}

/// A part that returns without coming to a meeting the others come to, before or after they
/// arrive: the others stop with a panic that says so, instead of waiting forever.
#[test]
fn a_part_that_skips_a_meeting_ends_it_for_the_others() {
    for late in [false, true] {
        let results = meet(3, move |i| {
            if i == 2 {
                if late {
                    std::thread::sleep(Duration::from_millis(200));
                }
                return;
            }
            sum_over_batch(vec![1.0]);
        });
        assert!(results[2].is_ok());
        for r in &results[..2] {
            assert!(
                message(r).contains("met a different number of times"),
                "{}",
                message(r)
            );
        }
    }
}

/// Sums of different lengths would have been zipped to the shorter: every part stops, named.
#[test]
fn parts_that_bring_sums_of_different_lengths_stop() {
    let results = meet(2, |i| sum_over_batch(vec![1.0; 2 + i]));
    for r in &results {
        assert!(message(r).contains("(2 and 3 values)"), "{}", message(r));
    }
}

/// A part that panics stops the parts waiting for it; only its own panic says why.
#[test]
fn a_part_that_panics_stops_the_others() {
    let results = meet(2, |i| {
        if i == 0 {
            panic!("part 0 broke");
        }
        sum_over_batch(vec![1.0])
    });
    assert!(message(&results[0]).contains("part 0 broke"));
    let other = results[1].as_ref().expect_err("part 1 waited for part 0");
    assert!(crate::batch_parts::stopped_for_another_part(other.as_ref()));
    panics_with("part 2 of a batch of 2 parts", || {
        Parts::new(2).run_as(2, || ());
    });
}

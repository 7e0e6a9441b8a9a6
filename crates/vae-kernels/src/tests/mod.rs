//! The kernels' tests: each against its definition or Burn's plain computation, on every
//! instruction-set level this CPU runs (capped by `VAE_MAX_ISA`), and each safe function held
//! to refusing the inputs that would have taken it outside its buffers.

mod batch_parts;
mod isa;
mod layers;
mod product;
mod simd;
mod transpose;
mod window_passes;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// `rows` x `cols` standard normal values.
fn random(rows: usize, cols: usize, seed: u64, device: &Device) -> Tensor<2> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..rows * cols)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// Runs `f`, which must panic with a message that contains `text`.
fn panics_with(text: &str, f: impl FnOnce()) {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("no panic: the mismatch went by");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains(text), "the panic says {message:?}");
}

//! Data parallelism on the CPU: a batch is split into one shard per core, each shard's forward
//! and backward pass runs on its own single-thread pool, and the gradients are summed.
//!
//! Burn-flex parallelises inside each op instead. At our sizes (batches of 100-128, layers of a
//! few hundred units) that costs about as much in coordination as it gains: the MLP trained as
//! fast on 1 thread as on 2, the conv VAE 1.1x faster (docs/benchmarks.md). Shards keep every
//! core busy with whole passes instead.

use crate::error::{Error, Result};
use crate::model::Vae;
use crate::model::loss::{Reconstruction, vae_loss};
use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// One single-thread pool per shard.
pub struct Shards {
    pools: Vec<rayon::ThreadPool>,
}

impl Shards {
    /// `threads` shards (at least 2; with one core Burn's own ops are already serial).
    pub fn new(threads: usize) -> Result<Self> {
        let pools = (0..threads)
            .map(|i| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(move |_| format!("vae-shard-{i}"))
                    .build()
                    .map_err(|e| Error::Config(format!("cannot start a training thread: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(Shards { pools })
    }

    pub fn len(&self) -> usize {
        self.pools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }
}

/// Gradients of the batch-mean loss and the batch means of its parts (as `Loss::values`),
/// computed shard by shard in parallel. Each shard weighs its mean by its share of the batch, so the sums are exactly
/// the batch's mean loss and its gradient.
pub fn gradients(
    shards: &Shards,
    model: &Vae,
    x: Tensor<2>,
    eps: Option<Tensor<2>>,
    kind: Reconstruction,
    beta: f64,
) -> (GradientsParams, Tensor<1>) {
    let [batch, _] = x.dims();
    let n = shards.len().min(batch);
    let bounds: Vec<(usize, usize)> = (0..n)
        .map(|i| (i * batch / n, (i + 1) * batch / n))
        .collect();
    let results: Vec<(GradientsParams, Tensor<1>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .iter()
            .zip(&shards.pools)
            .map(|(&(start, end), pool)| {
                let x = x.clone().narrow(0, start, end - start);
                let eps = eps.clone().map(|e| e.narrow(0, start, end - start));
                let weight = (end - start) as f64 / batch as f64;
                scope.spawn(move || {
                    pool.install(|| shard_gradients(model, x, eps, kind, beta, weight))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut results = results.into_iter();
    let (mut grads, mut losses) = results.next().expect("at least one shard");
    for (g, l) in results {
        super::gradients::add_into(model, &mut grads, g);
        losses = losses + l;
    }
    (grads, losses)
}

fn shard_gradients(
    model: &Vae,
    x: Tensor<2>,
    eps: Option<Tensor<2>>,
    kind: Reconstruction,
    beta: f64,
    weight: f64,
) -> (GradientsParams, Tensor<1>) {
    // A copy whose weights are new leaves of the autodiff graph (same parameter ids), so the
    // shards' graphs stay apart and each backward pass sees only its own shard.
    let copy = model.clone().map(&mut NewLeaves);
    let forward = copy.forward(x.clone(), eps);
    let loss = vae_loss(&forward, x, kind, beta);
    let grads =
        GradientsParams::from_grads(loss.total.clone().mul_scalar(weight).backward(), &copy);
    (grads, loss.map(|v| v.inner()).values().mul_scalar(weight))
}

struct NewLeaves;

impl ModuleMapper for NewLeaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| t.detach().require_grad())
    }
}

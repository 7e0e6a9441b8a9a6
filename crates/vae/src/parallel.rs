//! Data parallelism on the CPU: a batch is split into one contiguous part per core, and each
//! part's whole pass (forward, or forward and backward) runs on its own single-thread pool.
//!
//! Burn-flex parallelises inside each op instead. At our sizes (batches of 100-500, layers of a
//! few hundred units) that costs about as much in coordination as it gains: the MLP trained as
//! fast on 1 thread as on 2, the conv VAE 1.1x faster (docs/benchmarks.md). Shards keep every
//! core busy with whole passes instead. Training sums the shards' gradients (`train::shards`);
//! evaluation and encoding concatenate their outputs.

use crate::error::{Error, Result};
use burn::tensor::Device;
use std::ops::Range;
use std::sync::OnceLock;

/// One single-thread pool per shard.
pub struct Shards {
    pools: Vec<rayon::ThreadPool>,
}

impl Shards {
    /// `threads` shards.
    pub fn new(threads: usize) -> Result<Self> {
        let pools = (0..threads)
            .map(|i| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(move |_| format!("vae-shard-{i}"))
                    .build()
                    .map_err(|e| Error::Config(format!("cannot start a worker thread: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(Shards { pools })
    }

    /// One shard per thread of the CPU pool on the CPU with more than one thread; `None` on a
    /// GPU (which parallelises each op itself) or with one thread (Burn's ops are serial then).
    pub fn for_device(device: &Device) -> Result<Option<Self>> {
        let threads = rayon::current_num_threads();
        if crate::device::is_cpu_device(device) && threads > 1 {
            Ok(Some(Shards::new(threads)?))
        } else {
            Ok(None)
        }
    }

    /// The process's shards for inference on `device` (made once, then shared), as
    /// [`Shards::for_device`].
    pub fn shared(device: &Device) -> Option<&'static Shards> {
        static SHARED: OnceLock<Option<Shards>> = OnceLock::new();
        if !crate::device::is_cpu_device(device) {
            return None;
        }
        SHARED
            .get_or_init(|| Shards::for_device(device).ok().flatten())
            .as_ref()
    }

    pub fn len(&self) -> usize {
        self.pools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pools.is_empty()
    }

    /// Splits rows `0..rows` into one contiguous range per shard (fewer when there are fewer
    /// rows) and runs `work` on each range in its shard's pool, all at once; the results come
    /// back in row order.
    pub fn run<T: Send>(&self, rows: usize, work: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
        let n = self.len().min(rows).max(1);
        let work = &work;
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .zip(&self.pools)
                .map(|(i, pool)| {
                    let range = i * rows / n..(i + 1) * rows / n;
                    scope.spawn(move || pool.install(|| work(range)))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }
}

/// Runs `work` over rows `0..rows` on the shared shards of `device` ([`Shards::shared`]) when
/// there are any and at least two rows per shard, else on the whole range at once, on the
/// calling thread (a decode of one image is not worth starting threads for): the one way
/// inference passes use the cores.
pub fn over_rows<T: Send>(
    device: &Device,
    rows: usize,
    work: impl Fn(Range<usize>) -> T + Sync,
) -> Vec<T> {
    match Shards::shared(device) {
        Some(shards) if rows >= 2 * shards.len() => shards.run(rows, work),
        _ => vec![work(0..rows)],
    }
}

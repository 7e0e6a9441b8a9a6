//! Data parallelism on the CPU: a batch is split into one contiguous part per core, and each
//! part's whole pass (forward, or forward and backward) runs on its own single-thread pool.
//!
//! Burn-flex parallelises inside each op instead. At our sizes (batches of 100-500, layers of a
//! few hundred units) that costs about as much in coordination as it gains: the MLP trained as
//! fast on 1 thread as on 2, the conv VAE 1.1x faster (docs/benchmarks.md). Shards keep every
//! core busy with whole passes instead. Training sums the shards' gradients (`train::shards`);
//! evaluation and encoding concatenate their outputs.
//!
//! Batch norm needs the statistics of the whole batch, not of one shard: the shards of a
//! training pass ([`Shards::run_together`]) and the ranks of an MPI run sum them with
//! [`sum_over_batch`], as SyncBatchNorm does (`vae_kernels::batch_parts`).

use crate::error::{Error, Result};
use burn::tensor::Device;
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, OnceLock};
use vae_kernels::batch_parts::{Parts, stopped_for_another_part};

pub use vae_kernels::batch_parts::{batch_is_split, sum_over_batch};

/// One single-thread pool per shard.
pub struct Shards {
    pools: Vec<rayon::ThreadPool>,
    /// Held by a [`Shards::run_together`] pass from its first part to its last: a part holds
    /// its shard while it waits for the others, so two passes that each got some of the shards
    /// would wait for each other forever (two trainings in one process).
    together: Mutex<()>,
}

impl Shards {
    /// `threads` shards.
    pub fn new(threads: usize) -> Result<Self> {
        vae_kernels::tune_products();
        let pools = (0..threads)
            .map(|i| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(move |_| format!("vae-shard-{i}"))
                    .build()
                    .map_err(|e| Error::Config(format!("cannot start a worker thread: {e}")))
            })
            .collect::<Result<_>>()?;
        Ok(Shards {
            pools,
            together: Mutex::new(()),
        })
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
    /// back in row order. A part that panics makes it an error ([`Error::Bug`]).
    pub fn run<T: Send>(
        &self,
        rows: usize,
        work: impl Fn(Range<usize>) -> T + Sync,
    ) -> Result<Vec<T>> {
        self.run_parts(rows, |_, range| work(range))
    }

    /// How many parts `rows` rows are split into.
    fn parts(&self, rows: usize) -> usize {
        self.len().min(rows).max(1)
    }

    /// [`Shards::run`], telling `work` the number of its part too.
    fn run_parts<T: Send>(
        &self,
        rows: usize,
        work: impl Fn(usize, Range<usize>) -> T + Sync,
    ) -> Result<Vec<T>> {
        let n = self.parts(rows);
        let work = &work;
        // One slot per part, filled by its job; `catch_unwind` takes the part's panic, so an
        // empty slot would mean a job that never ran.
        let slots: Vec<Mutex<Option<std::thread::Result<T>>>> =
            (0..n).map(|_| Mutex::new(None)).collect();
        let slots = &slots;
        in_each_pool(&self.pools[..n], 0, &|i, scope| {
            scope.spawn(move |_| {
                let range = i * rows / n..(i + 1) * rows / n;
                let out = catch_unwind(AssertUnwindSafe(|| work(i, range)));
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(out);
            })
        });
        let results = slots.iter().map(|slot| {
            slot.lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .ok_or_else(|| Error::Bug("a shard of the batch never ran".into()))
        });
        let mut out = Vec::with_capacity(n);
        let mut panics = Vec::new();
        for result in results {
            match result? {
                Ok(value) => out.push(value),
                Err(payload) => panics.push(payload),
            }
        }
        // The first part that panicked for itself says why; the others stopped because of it.
        match panics
            .iter()
            .find(|p| !stopped_for_another_part(p.as_ref()))
        {
            Some(payload) => Err(Error::Bug(format!(
                "a shard of the batch panicked: {}",
                panic_message(payload.as_ref())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ))),
            None if panics.is_empty() => Ok(out),
            None => Err(Error::Bug("a shard of the batch stopped".into())),
        }
    }

    /// [`Shards::run`] for the parts of one batch that must see each other: inside `work`,
    /// [`sum_over_batch`] sums over every part (and every MPI rank). A part that panics, or
    /// returns without reaching a meeting the others reach, ends the meetings, and the call
    /// returns an error. One such pass at a time uses the shards.
    pub fn run_together<T: Send>(
        &self,
        rows: usize,
        work: impl Fn(Range<usize>) -> T + Sync,
    ) -> Result<Vec<T>> {
        if self
            .pools
            .iter()
            .any(|pool| pool.current_thread_index().is_some())
        {
            return Err(Error::Bug(
                "a pass over the shards was started inside one of its own shards, which it \
                 would wait for forever"
                    .into(),
            ));
        }
        if rayon::current_thread_index().is_some() {
            // A rayon worker that waits for the shards runs other jobs of its pool meanwhile,
            // and one of them that started a pass would wait for this one's lock forever: the
            // pass runs on a thread of its own, which only waits.
            return std::thread::scope(|scope| {
                scope
                    .spawn(|| self.run_together_here(rows, &work))
                    .join()
                    .unwrap_or_else(|_| Err(Error::Bug("a pass over the shards panicked".into())))
            });
        }
        self.run_together_here(rows, work)
    }

    /// [`Shards::run_together`] from a thread that is no rayon worker.
    fn run_together_here<T: Send>(
        &self,
        rows: usize,
        work: impl Fn(Range<usize>) -> T + Sync,
    ) -> Result<Vec<T>> {
        let _alone = self.together.lock().unwrap_or_else(|e| e.into_inner());
        let parts = Parts::new(self.parts(rows));
        self.run_parts(rows, |index, range| parts.run_as(index, || work(range)))
    }
}

/// Hands part `first + i` to pool `i` as a job of that pool, all at once, and returns when
/// every part is done: scope `i` spawns its part, then nests the scopes of the parts after it.
/// No thread is started per pass: starting one per part and step (`std::thread::scope`) cost
/// the MLP 5-8% of its epoch in wake-ups on a 2-core VM (docs/benchmarks.md, round five).
fn in_each_pool<'scope>(
    pools: &'scope [rayon::ThreadPool],
    first: usize,
    spawn: &(dyn Fn(usize, &rayon::Scope<'scope>) + Sync),
) {
    if let Some((pool, rest)) = pools.split_first() {
        pool.in_place_scope(|scope| {
            spawn(first, scope);
            in_each_pool(rest, first + 1, spawn);
        });
    }
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Runs `work` over rows `0..rows` on the shared shards of `device` ([`Shards::shared`]) when
/// there are any and at least two rows per shard, else on the whole range at once, on the
/// calling thread (a decode of one image is not worth starting threads for): the one way
/// inference passes use the cores.
pub fn over_rows<T: Send>(
    device: &Device,
    rows: usize,
    work: impl Fn(Range<usize>) -> T + Sync,
) -> Result<Vec<T>> {
    match Shards::shared(device) {
        Some(shards) if rows >= 2 * shards.len() => shards.run(rows, work),
        _ => Ok(vec![work(0..rows)]),
    }
}

//! Many processes, one training run: the MPI world this process belongs to (data parallelism
//! across processes and machines, `mpirun -n N vae train ...` or `srun`).
//!
//! Burn 0.22 has no multi-machine engine, so gradients travel over MPI (the `mpi` feature, on
//! rsmpi and the system's Open MPI); each rank computes on its own device through Burn. Without
//! the feature, or when the process was not started by an MPI launcher, the world is this one
//! process and every collective is the identity.

use crate::error::{Error, Result};
use std::sync::OnceLock;

/// This process's place among the ranks of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct World {
    /// 0 to `size - 1`; rank 0 alone writes files and prints.
    pub rank: usize,
    pub size: usize,
    /// The rank among the processes on this machine: which GPU `--device cuda` takes.
    pub local_rank: usize,
    /// The run's processes on this machine, which share its memory.
    pub local_size: usize,
}

/// The environment variables that MPI launchers set (Open MPI's mpirun, PMIx as under
/// `srun --mpi=pmix`, and PMI as under MPICH and `srun --mpi=pmi2`).
const LAUNCHER_SIZE: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"];

/// The number of processes an MPI launcher started, 1 without one.
pub fn launched_ranks() -> usize {
    LAUNCHER_SIZE
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
        .unwrap_or(1)
}

static WORLD: OnceLock<std::result::Result<World, String>> = OnceLock::new();

impl World {
    /// The world of this process, set up on first use (MPI is initialised then, once).
    pub fn get() -> Result<World> {
        WORLD
            .get_or_init(|| {
                let size = launched_ranks();
                if size <= 1 {
                    return Ok(World::single());
                }
                let world = mpi_world::init();
                if world.is_ok() {
                    // From now on batch norm sums its statistics over the ranks too.
                    vae_kernels::batch_parts::sum_over_processes_with(mpi_world::sum_f32);
                }
                world
            })
            .clone()
            .map_err(Error::Config)
    }

    /// One process alone.
    pub fn single() -> World {
        World {
            rank: 0,
            size: 1,
            local_rank: 0,
            local_size: 1,
        }
    }

    /// The rank that writes files and prints.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// Replaces `values` on every rank by their sum over all ranks. Every rank gets the same
    /// bits (one reduction, then the result everywhere), so ranks that step with it stay equal.
    pub fn sum_f32(&self, values: &mut [f32]) {
        if self.size > 1 {
            mpi_world::sum_f32(values);
        }
    }

    /// [`World::sum_f32`] for `f64`.
    pub fn sum_f64(&self, values: &mut [f64]) {
        if self.size > 1 {
            mpi_world::sum_f64(values);
        }
    }

    /// Rank 0's `bytes` on every rank (the others pass `None`).
    pub fn broadcast(&self, bytes: Option<Vec<u8>>) -> Vec<u8> {
        if self.size > 1 {
            mpi_world::broadcast(bytes)
        } else {
            bytes.unwrap_or_default()
        }
    }

    /// Every rank's `result` decides together: if any rank failed, all stop. The lowest failed
    /// rank returns its own error, which is the one printed; every other rank returns
    /// [`Error::Stopped`], which prints nothing. Without it a rank that stops alone leaves the
    /// others waiting in the next collective.
    pub fn agree<T>(&self, result: Result<T>) -> Result<T> {
        if self.size == 1 {
            return result;
        }
        let mut first_failed = [if result.is_err() {
            self.rank as f64
        } else {
            f64::INFINITY
        }];
        mpi_world::min_f64(&mut first_failed);
        match result {
            _ if first_failed[0].is_infinite() => result,
            Err(e) if first_failed[0] as usize == self.rank => Err(e),
            _ => Err(Error::Stopped),
        }
    }
}

/// Shuts MPI down at the end of a run that all ranks finish together (Open MPI reports a process
/// that exits without it as failed). Does nothing outside MPI.
pub fn finalize() {
    if WORLD
        .get()
        .is_some_and(|w| w.as_ref().is_ok_and(|w| w.size > 1))
    {
        mpi_world::finalize();
    }
}

/// After an error this rank printed: ends every rank of an MPI run at once, since the others
/// may be waiting in a collective this rank will never join. Does nothing outside MPI.
pub fn abort_others() {
    if WORLD
        .get()
        .is_some_and(|w| w.as_ref().is_ok_and(|w| w.size > 1))
    {
        mpi_world::abort(1)
    }
}

#[cfg(feature = "mpi")]
mod mpi_world {
    use super::World;
    use mpi::collective::SystemOperation;
    use mpi::environment::Universe;
    use mpi::traits::*;
    use std::sync::Mutex;

    /// Open MPI's handles are raw pointers, so the communicator is made from the universe at
    /// each call; the lock serialises the calls, as `Threading::Serialized` asks.
    static UNIVERSE: Mutex<Option<Universe>> = Mutex::new(None);

    pub fn init() -> Result<World, String> {
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Serialized)
            .ok_or("MPI was already initialised by another library")?;
        let world = universe.world();
        let local = world.split_shared(world.rank());
        let this = World {
            rank: world.rank() as usize,
            size: world.size() as usize,
            local_rank: local.rank() as usize,
            local_size: local.size() as usize,
        };
        *UNIVERSE.lock().expect("MPI lock") = Some(universe);
        Ok(this)
    }

    fn with_world<T>(f: impl FnOnce(&mpi::topology::SimpleCommunicator) -> T) -> T {
        let guard = UNIVERSE.lock().unwrap_or_else(|e| e.into_inner());
        let universe = guard
            .as_ref()
            .expect("MPI is initialised before any collective");
        f(&universe.world())
    }

    pub fn sum_f32(values: &mut [f32]) {
        let send = values.to_vec();
        with_world(|w| w.all_reduce_into(&send[..], values, SystemOperation::sum()));
    }

    pub fn sum_f64(values: &mut [f64]) {
        let send = values.to_vec();
        with_world(|w| w.all_reduce_into(&send[..], values, SystemOperation::sum()));
    }

    pub fn min_f64(values: &mut [f64]) {
        let send = values.to_vec();
        with_world(|w| w.all_reduce_into(&send[..], values, SystemOperation::min()));
    }

    pub fn broadcast(bytes: Option<Vec<u8>>) -> Vec<u8> {
        with_world(|w| {
            let root = w.process_at_rank(0);
            let mut len = bytes.as_ref().map_or(0, |b| b.len() as u64);
            root.broadcast_into(&mut len);
            let mut buffer = bytes.unwrap_or_else(|| vec![0; len as usize]);
            // An empty Vec's pointer is 1, which Open MPI reads as MPI_IN_PLACE and refuses.
            if len > 0 {
                root.broadcast_into(&mut buffer[..]);
            }
            buffer
        })
    }

    pub fn abort(code: i32) -> ! {
        with_world(|w| w.abort(code))
    }

    pub fn finalize() {
        drop(UNIVERSE.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}

/// Without the `mpi` feature the world is one process; a launcher that started several gets an
/// error instead of N runs writing one folder.
#[cfg(not(feature = "mpi"))]
mod mpi_world {
    use super::World;

    pub fn init() -> Result<World, String> {
        Err(format!(
            "started by an MPI launcher with {} processes, but this vae was built without MPI; rebuild with `cargo build --release --features mpi` (docs/distributed.md)",
            super::launched_ranks()
        ))
    }

    fn unreachable() -> ! {
        unreachable!("a world of more than one process needs the mpi feature")
    }

    pub fn sum_f32(_: &mut [f32]) {
        unreachable()
    }

    pub fn sum_f64(_: &mut [f64]) {
        unreachable()
    }

    pub fn min_f64(_: &mut [f64]) {
        unreachable()
    }

    pub fn broadcast(_: Option<Vec<u8>>) -> Vec<u8> {
        unreachable()
    }

    pub fn abort(_: i32) -> ! {
        unreachable()
    }

    pub fn finalize() {}
}

//! The `vae` binary's tests, one binary: every command from the outside, crash and disk-full
//! safety, benchmarks, your own pictures, downloads, bounded memory, and (`--features mpi`)
//! training over MPI ranks.

mod bench;
mod cli;
mod crash;
mod disk;
mod fetch;
mod memory;
#[cfg(feature = "mpi")]
mod mpi;
mod own_images;

//! The `vae` binary's tests, one binary: every command from the outside, crash and disk-full
//! safety, benchmarks, your own pictures, downloads, bounded memory.

mod bench;
mod cli;
mod crash;
mod disk;
mod fetch;
mod memory;
mod own_images;

//! The `vae` command line: a thin layer over the `vae`, `vae-viz` and `vae-serve` libraries,
//! one module per command in `commands/`.

#![deny(unsafe_code)]

mod commands;
mod flags;
mod output;
mod progress;

use clap::{Parser, Subcommand};
use commands::*;
use std::process::ExitCode;

/// Burn allocates a fresh buffer for every tensor op; glibc hands large ones back to the kernel
/// each time (mmap, page faults, zeroing), mimalloc keeps them for reuse (see `main`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (v2); the Rust bindings leave this option out.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[derive(Parser)]
#[command(
    name = "vae",
    version,
    about = "Train, evaluate and visualise VAEs, beta-VAEs and plain autoencoders"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model into a run folder (config, weights, checkpoint, metrics, pictures, report).
    Train(Box<train::Args>),
    /// Test ELBO, importance-weighted NLL, active units and KL per dimension.
    Eval(eval::Args),
    /// Decode z drawn from the run's prior (N(0, I), or its VampPrior) into a grid of new images.
    Sample(sample::Args),
    /// Fit the two-stage VAE's second stage (Dai & Wipf 2019) to a run's codes: a better
    /// sampler, used by `vae sample --two-stage`, `vae eval --sample-quality` and the report.
    TwoStage(two_stage::Args),
    /// Test images above, their reconstructions (from z_mean) below.
    Reconstruct(reconstruct::Args),
    /// Linear and spherical interpolation strips between pairs of test images.
    Interpolate(interpolate::Args),
    /// Write z_mean, z_log_var and label of each test image to CSV.
    Encode(encode::Args),
    /// Decode a CSV of z vectors (one per line) into an image grid.
    Decode(decode::Args),
    /// Train one run per beta (one after another, resumable), evaluate and draw each, and write
    /// a sweep report: rate-distortion curve, metrics table, samples and traversals per beta.
    Sweep(Box<sweep::Args>),
    /// (Re)draw every picture of a run and its report.html.
    Report(report::Args),
    /// Add or remove an attribute: test images decoded at z_mean + s * (attribute vector).
    ///
    /// The vector is the mean z_mean of the test images with the attribute minus the mean of
    /// those without; attributes are class names, or the columns of --attributes for a folder
    /// data set. One row per image: the image, then one column per strength.
    Arithmetic(arithmetic::Args),
    /// Morph one image into another: decode the line between their z_mean.
    Morph(morph::Args),
    /// Write a run's weights as safetensors (PyTorch names and layouts, shape in metadata).
    Export(export::Args),
    /// Make a run folder from a safetensors file of `vae export`, or (--pytorch) from the state
    /// dict of the pytorch/examples VAE.
    Import(Box<import::Args>),
    /// Inspect, benchmark or download data sets.
    #[command(subcommand)]
    Data(data::Command),
    /// Training images/s, peak memory, test loss and decode latency of the benchmark models
    /// (the same measurements as bench/reference/vae_bench.py makes of PyTorch).
    Bench(bench::Args),
    /// The latent-space explorer: a web page over one or more runs (latent map, sliders,
    /// interpolation, samples side by side, PNG upload) and its JSON API.
    Serve(serve::Args),
    /// Serve a run on a free loopback port and decode from many clients at once: errors,
    /// requests/s and latency percentiles.
    Loadtest(loadtest::Args),
}

fn run(cli: Cli) -> vae::Result<()> {
    let ranks = vae::distributed::launched_ranks();
    if ranks > 1 && !matches!(cli.command, Command::Train(_)) {
        return Err(vae::Error::Config(format!(
            "only `vae train` runs on several MPI ranks, and this was started on {ranks}; run other commands without mpirun"
        )));
    }
    match cli.command {
        Command::Train(args) => train::run(*args),
        Command::Eval(args) => eval::run(args),
        Command::Sample(args) => sample::run(args),
        Command::TwoStage(args) => two_stage::run(args),
        Command::Reconstruct(args) => reconstruct::run(args),
        Command::Interpolate(args) => interpolate::run(args),
        Command::Encode(args) => encode::run(args),
        Command::Decode(args) => decode::run(args),
        Command::Sweep(args) => sweep::run(*args),
        Command::Report(args) => report::run(args),
        Command::Arithmetic(args) => arithmetic::run(args),
        Command::Morph(args) => morph::run(args),
        Command::Export(args) => export::run(args),
        Command::Import(args) => import::run(*args),
        Command::Data(command) => data::run(command),
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Loadtest(args) => loadtest::run(args),
    }
}

/// Never return freed pages to the OS: every training step allocates the same sizes again, and
/// faulting them back in was 5% of a conv step. The workspace's one `unsafe` outside
/// `vae-kernels`: mimalloc's options have no safe setter, and its environment variable is read
/// before `main` runs.
#[allow(unsafe_code)]
fn keep_freed_pages() {
    // SAFETY: sets a process-wide allocator option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

fn main() -> ExitCode {
    keep_freed_pages();
    match run(Cli::parse()) {
        Ok(()) => {
            vae::distributed::finalize();
            ExitCode::SUCCESS
        }
        // Under MPI: another rank failed and prints why.
        Err(vae::Error::Stopped) => {
            vae::distributed::finalize();
            ExitCode::FAILURE
        }
        Err(e) => {
            output::note(format_args!("error: {e}"));
            vae::distributed::abort_others();
            ExitCode::FAILURE
        }
    }
}

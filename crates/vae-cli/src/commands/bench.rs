//! `vae bench`: training throughput, memory and decode latency of each architecture with its
//! defaults, or the speed of its IWAE evaluation (the `vae-bench` crate).

use crate::flags::{arch, choice};
use std::path::PathBuf;
use vae::model::Arch;
use vae_bench::{BenchOptions, BenchTask, bench};

#[derive(clap::Args)]
pub struct Args {
    /// The architecture, with its default settings: mlp is M, conv is C; an architecture for
    /// photographs (conv-bn) trains on generated 64x64 RGB pictures.
    #[arg(long, value_parser = arch(), default_value = "mlp")]
    model: Arch,
    /// train (default) or iwae: the importance-weighted bound of `vae eval` on the model the
    /// warm-up steps trained.
    #[arg(long, value_parser = choice::<BenchTask>, default_value = "train")]
    task: BenchTask,
    /// Timed epochs (the median is reported).
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Untimed optimiser steps first.
    #[arg(long, default_value_t = 20)]
    warmup_steps: usize,
    /// Train on the first N training images only (conv-bn: generate N pictures, default 5000).
    #[arg(long)]
    limit: Option<usize>,
    /// Samples per image (K) of --task iwae.
    #[arg(long, default_value_t = 1000)]
    iw_samples: usize,
    /// Test images --task iwae evaluates (the first N).
    #[arg(long, default_value_t = 200)]
    iw_images: usize,
    /// CPU threads (default: all cores; also RAYON_NUM_THREADS).
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long)]
    data: Option<PathBuf>,
    #[arg(long, default_value = "cpu")]
    device: String,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> vae::Result<()> {
    if let Some(n) = args.threads {
        vae::device::set_cpu_threads(n)?;
    }
    let report = bench(&BenchOptions {
        model: args.model,
        task: args.task,
        iw_samples: args.iw_samples,
        iw_images: args.iw_images,
        epochs: args.epochs,
        warmup_steps: args.warmup_steps,
        limit: args.limit,
        data: args.data,
        device: args.device,
        seed: args.seed,
    })?;
    super::print_report(&report, args.json)?;
    Ok(())
}

//! `vae sample`: new images from z ~ N(0, I).

use super::say;
use crate::flags::check_count;
use std::path::PathBuf;
use vae::Run;

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    #[arg(long, default_value_t = 64)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: Args) -> vae::Result<()> {
    check_count(args.n, "--n")?;
    say(&vae_viz::samples(
        &Run::load(&args.run, None)?,
        args.n,
        args.seed,
    )?);
    Ok(())
}

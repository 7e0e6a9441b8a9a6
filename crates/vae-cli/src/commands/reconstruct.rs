//! `vae reconstruct`: test images and their reconstructions from z_mean.

use super::say;
use crate::flags::check_count;
use std::path::PathBuf;
use vae::Run;

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    #[arg(long, default_value_t = 20)]
    n: usize,
}

pub fn run(args: Args) -> vae::Result<()> {
    check_count(args.n, "--n")?;
    let run = Run::load(&args.run, None)?;
    say(&vae_viz::reconstructions(&run, &run.test_data()?, args.n)?)?;
    Ok(())
}

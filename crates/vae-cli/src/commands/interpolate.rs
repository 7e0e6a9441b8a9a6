//! `vae interpolate`: linear and spherical strips between pairs of test images.

use super::say;
use crate::flags::check_count;
use std::path::PathBuf;
use vae::{Error, Run};

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    #[arg(long, default_value_t = 5)]
    pairs: usize,
    #[arg(long, default_value_t = 10)]
    steps: usize,
}

pub fn run(args: Args) -> vae::Result<()> {
    check_count(args.pairs, "--pairs")?;
    if args.steps < 2 {
        return Err(Error::Config("--steps must be at least 2".into()));
    }
    let run = Run::load(&args.run, None)?;
    for path in vae_viz::interpolations(&run, &run.test_data()?, args.pairs, args.steps)? {
        say(&path)?;
    }
    Ok(())
}

//! `vae report`: redraw every picture of a run and its report page.

use super::say;
use std::path::PathBuf;
use vae::Run;

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
}

pub fn run(args: Args) -> vae::Result<()> {
    for path in vae_viz::write_all(&Run::load(&args.run, None)?)? {
        say(&path)?;
    }
    Ok(())
}

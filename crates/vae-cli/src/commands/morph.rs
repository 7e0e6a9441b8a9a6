//! `vae morph`: decode the line between two images.

use super::say;
use std::path::PathBuf;
use vae::Run;
use vae::arithmetic::MorphEnd;

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    /// A test image number or an image file.
    #[arg(long)]
    from: MorphEnd,
    /// A test image number or an image file.
    #[arg(long)]
    to: MorphEnd,
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Output PNG (default: RUN/morph.png).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> vae::Result<()> {
    let run = Run::load(&args.run, None)?;
    say(&vae_viz::morph(
        &run,
        &args.from,
        &args.to,
        args.steps,
        args.out.as_deref(),
    )?);
    Ok(())
}

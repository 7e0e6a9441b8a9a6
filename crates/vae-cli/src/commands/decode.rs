//! `vae decode`: draw latents read from CSV.

use super::say;
use crate::flags::ClassFlag;
use std::path::PathBuf;
use vae::Run;
use vae::latent::csv::read_z_csv;

#[derive(clap::Args)]
pub struct Args {
    run: PathBuf,
    /// CSV with latent_dim numbers per line (or the output of `vae encode`).
    input: PathBuf,
    /// Output PNG (default: RUN/decoded.png).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    class: ClassFlag,
}

pub fn run(args: Args) -> vae::Result<()> {
    let run = Run::load(&args.run, None)?;
    let z = read_z_csv(&args.input, run.model_config.latent_dim)?;
    let out = args.out.unwrap_or_else(|| run.path("decoded.png"));
    vae_viz::decoded(&run, z, args.class.class.as_deref(), &out)?;
    say(&out)?;
    Ok(())
}
